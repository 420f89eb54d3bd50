use axum::http::StatusCode;

use crate::error::{AuthRefusal, GatewayError, Unmet};
use crate::headers::HostError;

#[test]
fn every_refusal_has_its_status() {
    let table = [
        (GatewayError::Host(HostError::Duplicate), 400),
        (GatewayError::MalformedTarget, 400),
        (AuthRefusal::NoCertificate.into(), 401),
        (AuthRefusal::Untrusted("expired".into()).into(), 401),
        (Unmet::NoIdentity.into(), 401),
        (AuthRefusal::Revoked.into(), 403),
        (Unmet::Level { level: 1, min: 3 }.into(), 403),
        (Unmet::Subject.into(), 403),
        (Unmet::Serial.into(), 403),
        (Unmet::Product.into(), 403),
        (Unmet::Device.into(), 403),
        (GatewayError::NoRoute, 404),
        (GatewayError::BodyTimeout("slow".into()), 408),
        (GatewayError::BodyTooLarge, 413),
        (GatewayError::RoutingUnavailable, 500),
        (GatewayError::Poisoned, 500),
        (GatewayError::Config("x".into()), 500),
        (GatewayError::UpstreamFailed, 502),
        (GatewayError::NoUpstream, 502),
        (AuthRefusal::RevocationUnknown.into(), 503),
        (GatewayError::UpstreamTimeout, 504),
    ];
    for (error, status) in table {
        assert_eq!(
            error.status(),
            StatusCode::from_u16(status).unwrap(),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn a_refusal_is_one_line_of_text() {
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;
    let response = GatewayError::from(Unmet::Level { level: 2, min: 3 }).into_response();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        b"assurance level 2 is below this route's minimum of 3\n"
    );
}
