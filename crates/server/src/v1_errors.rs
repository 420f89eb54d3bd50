//! Every `/v1` error is problem+json, including those no handler writes: the fallback answers
//! unknown `/v1` paths, and a layer rewrites the router's own answers (405, extractor
//! rejections) that would otherwise be empty or plain text. EST, OCSP and CRL
//! keep their own formats.

use axum::extract::Request;
use axum::http::{header, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};

use crate::problem::Problem;

/// The router's own error bodies are short; more than this is not a message worth relaying.
const MAX_DETAIL: usize = 4096;

/// Whether `path` belongs to the `/v1` API.
pub(crate) fn is_v1(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// The fallback for paths no route matches: problem+json under `/v1`, an empty 404 elsewhere.
pub(crate) async fn not_found(method: Method, uri: Uri) -> Response {
    if is_v1(uri.path()) {
        Problem::not_found(format!(
            "no /v1 route for {method} {}; the API is described at /v1/openapi.json",
            uri.path()
        ))
        .into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// Turns any `/v1` error response that is not problem+json yet into one, keeping its status
/// and any `Allow` header.
pub(crate) async fn problems(request: Request, next: Next) -> Response {
    if !is_v1(request.uri().path()) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match Limited::new(body, MAX_DETAIL).collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_string(),
        Err(_) => String::new(),
    };
    let detail = if !text.is_empty() {
        text
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        // The router adds `Allow` outside this layer, so it is named, not copied.
        format!("{method} is not allowed on {path}; the Allow header lists the methods that are")
    } else {
        status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_string()
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let mut rewritten = Problem::new(status, title, detail).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        rewritten.headers_mut().insert(header::ALLOW, allow.clone());
    }
    rewritten
}
