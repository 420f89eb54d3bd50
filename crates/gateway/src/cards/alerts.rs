//! Lockout alerts: a warning in the log at once, and a JSON POST to `[cards] alert_webhook`
//! given 5 s; the lock itself is in the segment's audit log already.

use std::time::Duration;

use axum::body::Body;
use http::{header, Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use inkan_authority::LockAlert;

/// How long a webhook delivery may take.
const DELIVERY: Duration = Duration::from_secs(5);

/// Logs the alert and delivers it to `webhook` in the background.
pub(crate) fn raise(
    client: &Client<HttpsConnector<HttpConnector>, Body>,
    webhook: Option<&str>,
    alert: LockAlert,
) {
    tracing::warn!(
        target: "inkan::cards",
        event = alert.event,
        segment = alert.segment,
        idm = alert.idm,
        address = alert.address,
        failures = alert.failures,
        "locked after too many failed card logins"
    );
    let Some(url) = webhook else { return };
    let body = serde_json::json!({
        "event": alert.event,
        "segment": alert.segment,
        "idm": alert.idm,
        "pmm": alert.pmm,
        "address": alert.address,
        "failures": alert.failures,
        "at": time::OffsetDateTime::now_utc().unix_timestamp(),
    })
    .to_string();
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body));
    let Ok(request) = request else {
        tracing::error!(target: "inkan::cards", url, "alert_webhook is not a valid URL");
        return;
    };
    let client = client.clone();
    let url = url.to_string();
    tokio::spawn(async move {
        match tokio::time::timeout(DELIVERY, client.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => {}
            Ok(Ok(response)) => tracing::error!(
                target: "inkan::cards",
                url,
                status = response.status().as_u16(),
                "the alert webhook refused the lockout alert"
            ),
            Ok(Err(e)) => {
                tracing::error!(target: "inkan::cards", url, error = %e, "lockout alert not delivered")
            }
            Err(_) => {
                tracing::error!(target: "inkan::cards", url, "lockout alert not delivered within 5 s")
            }
        }
    });
}
