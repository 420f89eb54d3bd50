//! The console's overview: live counts, alerts and the latest certificates.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use inkan_authority::Authority;

use super::pages::{self, render, CertRow};
use super::{html, now, session_of, Refused};
use crate::PeerCertificates;

pub(super) async fn overview(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let session = session_of(&authority, &headers, &peer).await?;
    let key = authority.console_key()?;
    let latest = authority
        .certificates(&inkan_store::CertificateQuery {
            limit: Some(10),
            ..Default::default()
        })
        .await?;
    let stats = authority.certificate_stats().await?;
    let page = pages::Overview {
        alerts: alerts(&authority).await,
        actor: Some(session.actor.clone()),
        csrf: session.csrf(key),
        notice: None,
        stats,
        issuer_id: authority.issuer_id().to_string(),
        rows: latest.iter().map(CertRow::from).collect(),
    };
    Ok(html(StatusCode::OK, render(&page)))
}

/// What needs an operator's attention now: the issuing CA near its end, a CRL past its
/// nextUpdate (relying parties that fetch it fail closed or stop checking), cards or addresses
/// locked after failed card logins.
async fn alerts(authority: &Authority) -> Vec<String> {
    let now = now();
    let mut alerts = Vec::new();
    if let Ok(ca) = inkan_pki::CertificateInfo::parse(authority.ca().cert_der()) {
        let days = (ca.not_after - now) / 86_400;
        if days < 90 {
            alerts.push(format!(
                "The issuing CA expires in {days} days: make its successor (docs/deployment.md)."
            ));
        }
    }
    match authority.crl().current() {
        Some(crl) if crl.next_update < now => alerts.push(format!(
            "The CRL (number {}) passed its nextUpdate {} minutes ago: check the authority's log.",
            crl.number,
            (now - crl.next_update) / 60
        )),
        _ => {}
    }
    if let Ok(locked) = super::segments::locked(authority).await {
        if !locked.is_empty() {
            alerts.push(format!(
                "{} card(s) or address(es) locked after failed card logins: see Card segments.",
                locked.len()
            ));
        }
    }
    alerts
}
