//! CRL and OCSP over HTTP: what relying parties (openssl, nginx, Apache, the gateway) fetch.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use inkan_authority::{Authority, AuthorityError};

/// `/crl/<issuer-id>.crl`, `/crl/root.crl`, `/ocsp` (POST) and `/ocsp/<base64>` (GET).
pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/crl/{name}", get(crl))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
}

/// The issuing CA's current CRL, or the root's (`root.crl`): DER, or PEM when the client asks
/// for it with `Accept`.
async fn crl(
    State(authority): State<Arc<Authority>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let id = name.strip_suffix(".crl").unwrap_or(&name);
    let found = if id.eq_ignore_ascii_case(authority.issuer_id()) {
        authority
            .crl()
            .current()
            .map(|c| (c.der.clone(), Some(c.next_update)))
    } else if id == "root" {
        authority
            .crl()
            .root_crl()
            .map(|c| (c.der.clone(), c.next_update))
    } else {
        None
    };
    let Some((der, next_update)) = found else {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "no CRL named {name:?}; this authority publishes /crl/{}.crl and /crl/root.crl\n",
                authority.issuer_id()
            ),
        )
            .into_response();
    };
    let wants_pem = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("pem"));
    let max_age = next_update.map_or(0, |n| (n - authority.now().unix_timestamp()).clamp(0, 3600));
    let cache = HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or(HeaderValue::from_static("no-cache"));
    let (body, content_type) = if wants_pem {
        (
            Bytes::from(inkan_pki::der_to_pem("X509 CRL", &der)),
            "application/x-pem-file",
        )
    } else {
        (Bytes::from(der), "application/pkix-crl")
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

async fn ocsp_post(
    State(authority): State<Arc<Authority>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.trim().eq_ignore_ascii_case("application/ocsp-request") {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send a DER OCSPRequest with Content-Type: application/ocsp-request\n",
        )
            .into_response();
    }
    ocsp_response(authority.ocsp().respond(&authority, &body).await, false)
}

/// RFC 6960 appendix A.1: GET with the base64 DER request, URL-encoded, as the path's rest
/// (axum has already percent-decoded it).
async fn ocsp_get(
    State(authority): State<Arc<Authority>>,
    Path(request): Path<String>,
) -> Response {
    let der = ocsp_get_der(&request);
    ocsp_response(authority.ocsp().respond(&authority, &der).await, true)
}

/// The DER request of a GET (the percent-decoded rest of the path). Undecodable input gives no
/// bytes, which is answered like any malformed request: with malformedRequest.
pub(crate) fn ocsp_get_der(request: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(request.trim())
        .unwrap_or_default()
}

/// The OCSP answer, or for a failure the unsigned response the error table gives it (never
/// cached).
fn ocsp_response(answer: Result<Bytes, AuthorityError>, cacheable: bool) -> Response {
    let (der, cacheable) = match answer {
        Ok(der) => (der, cacheable),
        Err(e) => (Bytes::from(crate::error_table::ocsp_response(&e)), false),
    };
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/ocsp-response"),
        )],
        der,
    )
        .into_response();
    if cacheable {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60"),
        );
    }
    response
}
