//! How the authority answers a refused request body: problem+json under `/v1`, plain text
//! elsewhere (EST clients and `curl` read the text).

use axum::response::{IntoResponse, Response};
use inkan_http::body_limit::{BodyLimit, BodyRefusal};

use crate::problem::Problem;

/// The body limit of the authority's routers.
pub(crate) fn body_limit(max_bytes: usize) -> BodyLimit {
    BodyLimit { max_bytes, refuse }
}

fn refuse(path: &str, refusal: BodyRefusal) -> Response {
    if !crate::v1_errors::is_v1(path) {
        return refusal.plain_response();
    }
    match refusal {
        BodyRefusal::TooLarge(detail) => Problem::payload_too_large(detail).into_response(),
        other => Problem::bad_request(other.detail()).into_response(),
    }
}
