//! What the client gets: an upstream's answer without hop-by-hop headers, or the gateway's own
//! short `text/plain` answer for a [`GatewayError`] (the one mapping of errors to statuses).

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::{AuthRefusal, GatewayError, Unmet};
use crate::headers::HOP_BY_HOP;

impl GatewayError {
    /// The HTTP status the client is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Host(_) | Self::MalformedTarget => StatusCode::BAD_REQUEST,
            Self::Auth(AuthRefusal::NoCertificate | AuthRefusal::Untrusted(_))
            | Self::Unmet(Unmet::NoIdentity) => StatusCode::UNAUTHORIZED,
            Self::Auth(AuthRefusal::Revoked) | Self::Unmet(_) => StatusCode::FORBIDDEN,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpstreamFailed | Self::NoUpstream => StatusCode::BAD_GATEWAY,
            Self::Auth(AuthRefusal::RevocationUnknown) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::File { .. }
            | Self::Config(_)
            | Self::Tls(_)
            | Self::Poisoned
            | Self::RoutingUnavailable => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        (
            self.status(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response()
    }
}

/// An upstream's response as the client gets it: without hop-by-hop headers.
pub(crate) fn from_upstream(response: http::Response<hyper::body::Incoming>) -> Response {
    let (mut parts, body) = response.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    Response::from_parts(parts, Body::new(body))
}

#[cfg(test)]
mod tests;
