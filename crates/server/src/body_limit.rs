//! Request-size limit with a lingering close: a body declared larger than the limit is read and
//! discarded (up to a cap) before the 413 is sent, so clients that stream the whole body before
//! reading the response — curl over HTTP/1.1 and HTTP/2 alike — see the 413 instead of a reset.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};

use crate::problem::Problem;

/// At most this much of an oversized body is read and thrown away before answering.
const DRAIN_CAP: usize = 4 * 1024 * 1024;

/// Answers 413 (problem+json under `/v1`, plain text elsewhere) for bodies declared larger than
/// `limit`; axum's `DefaultBodyLimit` covers bodies without a declared length.
pub(crate) async fn enforce(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(declared) = declared.filter(|n| *n > limit as u64) else {
        return next.run(request).await;
    };
    let is_v1 = crate::v1_errors::is_v1(request.uri().path());
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !expects_continue && declared <= DRAIN_CAP as u64 {
        let body: Body = request.into_body();
        let _ = Limited::new(body, DRAIN_CAP).collect().await;
    }
    let detail =
        format!("the request body ({declared} bytes) is larger than the limit of {limit} bytes");
    if is_v1 {
        Problem::payload_too_large(detail).into_response()
    } else {
        (StatusCode::PAYLOAD_TOO_LARGE, format!("{detail}\n")).into_response()
    }
}
