//! Request-size limit with a lingering close: a body larger than the limit is read and discarded
//! (up to a cap) before the 413 is sent, so clients that stream the whole body before reading the
//! response — curl over HTTP/1.1 and HTTP/2 alike — see the 413 instead of a reset. That holds
//! for bodies of declared length (`Content-Length`) and for chunked ones, which are read here up
//! to the limit and handed on buffered. How a refusal is written (problem+json, plain text) is
//! the caller's choice: [`BodyLimit::refuse`].

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http_body_util::{BodyExt, Limited};

/// At most this much of an oversized body is read and thrown away before answering.
const DRAIN_CAP: usize = 4 * 1024 * 1024;

/// The limit on request bodies and how refusals are answered.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit {
    /// The largest body handed on, in bytes.
    pub max_bytes: usize,
    /// Writes the answer to a refused body, given the request path.
    pub refuse: fn(path: &str, refusal: BodyRefusal) -> Response,
}

/// Why a request body was not handed on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyRefusal {
    /// Larger than the limit (413); the detail says by how much if the length was declared.
    TooLarge(String),
    /// The client broke off or sent a malformed chunk (400).
    Unreadable,
}

impl BodyRefusal {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unreadable => StatusCode::BAD_REQUEST,
        }
    }

    /// What to tell the client.
    pub fn detail(&self) -> &str {
        match self {
            Self::TooLarge(detail) => detail,
            Self::Unreadable => "the request body could not be read",
        }
    }

    /// The refusal as a plain-text answer.
    pub fn plain_response(&self) -> Response {
        (self.status(), format!("{}\n", self.detail())).into_response()
    }
}

/// Answers 413 for bodies larger than the limit (and 400 for unreadable chunked ones), in the
/// form [`BodyLimit::refuse`] writes.
pub async fn enforce(State(limit): State<BodyLimit>, request: Request, next: Next) -> Response {
    let BodyLimit {
        max_bytes: limit,
        refuse,
    } = limit;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    match declared {
        Some(declared) if declared > limit as u64 => {
            let (parts, body) = request.into_parts();
            if !expects_continue && declared <= DRAIN_CAP as u64 {
                let _ = Limited::new(body, DRAIN_CAP).collect().await;
            }
            refuse(
                parts.uri.path(),
                BodyRefusal::TooLarge(format!(
                    "the request body ({declared} bytes) is larger than the limit of {limit} bytes"
                )),
            )
        }
        Some(_) => next.run(request).await,
        None if request.body().is_end_stream() => next.run(request).await,
        None => {
            let (parts, body) = request.into_parts();
            // Reading sends any `100 Continue`, so the client sends all: drain it as well.
            match read_undeclared(body, limit, DRAIN_CAP).await {
                Ok(bytes) => {
                    next.run(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
                Err(Undeclared::TooLarge) => refuse(
                    parts.uri.path(),
                    BodyRefusal::TooLarge(format!(
                        "the request body is larger than the limit of {limit} bytes"
                    )),
                ),
                Err(Undeclared::Unreadable) => refuse(parts.uri.path(), BodyRefusal::Unreadable),
            }
        }
    }
}

/// Why a body of undeclared length was not handed on.
enum Undeclared {
    /// More than the limit.
    TooLarge,
    /// The client broke off or sent a malformed chunk.
    Unreadable,
}

/// Reads a body of undeclared length, keeping up to `limit` bytes; past the limit it goes on
/// reading and discarding up to `drain` bytes in all, so the client gets to read the answer.
async fn read_undeclared(mut body: Body, limit: usize, drain: usize) -> Result<Bytes, Undeclared> {
    let mut kept = BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Undeclared::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total = total.saturating_add(data.len());
        if total <= limit {
            kept.extend_from_slice(&data);
        } else if total > drain {
            return Err(Undeclared::TooLarge);
        }
    }
    if total > limit {
        return Err(Undeclared::TooLarge);
    }
    Ok(kept.freeze())
}
