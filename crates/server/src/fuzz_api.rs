//! Entry points for the fuzz targets in `fuzz/`: the parsers the handlers run on request input,
//! reachable without a running authority. Not a stable API; nothing else uses it.

use axum::extract::Query;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use serde::Deserialize;

use crate::api::{FeedQuery, RevokeBody};
use crate::registry_api::{json_body, DeviceQuery, NewProductBody, RegisterBody};
use crate::tpm_api::{ActivationBody, EnrollmentBody};

/// The JSON request bodies of `/v1`.
#[derive(Clone, Copy, Debug)]
pub enum V1Body {
    /// `POST /v1/certificates/{serial}/revoke`.
    Revoke,
    /// `POST /v1/products`.
    NewProduct,
    /// `POST /v1/devices`.
    Register,
    /// `POST /v1/tpm/activations`.
    Activation,
    /// `POST /v1/tpm/enrollments`.
    Enrollment,
}

/// The query strings of `/v1`.
#[derive(Clone, Copy, Debug)]
pub enum V1Query {
    /// `GET /v1/devices`.
    Devices,
    /// `GET /v1/revocations` and `/v1/revocations/stream`.
    Revocations,
}

fn headers_with(name: header::HeaderName, value: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(value) {
        headers.insert(name, v);
    }
    headers
}

fn parsed<T: for<'de> Deserialize<'de> + std::fmt::Debug>(
    content_type: &[u8],
    body: &[u8],
) -> Result<String, String> {
    json_body::<T>(&headers_with(header::CONTENT_TYPE, content_type), body)
        .map(|v| format!("{v:?}"))
        .map_err(|p| format!("{p:?}"))
}

/// Parses `body` sent with `content_type` as the handler of `kind` does; the parsed value's
/// debug form, or the refusal.
pub fn v1_body(kind: V1Body, content_type: &[u8], body: &[u8]) -> Result<String, String> {
    match kind {
        V1Body::Revoke => parsed::<RevokeBody>(content_type, body),
        V1Body::NewProduct => parsed::<NewProductBody>(content_type, body),
        V1Body::Register => parsed::<RegisterBody>(content_type, body),
        V1Body::Activation => parsed::<ActivationBody>(content_type, body),
        V1Body::Enrollment => parsed::<EnrollmentBody>(content_type, body),
    }
}

/// Parses a query string as axum's `Query` extractor does for `kind`.
pub fn v1_query(kind: V1Query, query: &str) -> Result<String, String> {
    let uri: Uri = format!("/v1?{query}").parse().map_err(|e| format!("{e}"))?;
    match kind {
        V1Query::Devices => Query::<DeviceQuery>::try_from_uri(&uri).map(|q| format!("{:?}", q.0)),
        V1Query::Revocations => {
            Query::<FeedQuery>::try_from_uri(&uri).map(|q| format!("{:?}", q.0))
        }
    }
    .map_err(|e| e.to_string())
}

/// An EST enrollment request as the handler reads it before authentication: the content type,
/// the HTTP Basic password (if any) and the base64 PKCS#10 body; the CSR's DER.
pub fn est_request(
    content_type: &[u8],
    authorization: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, String> {
    crate::est::check_content_type(&headers_with(header::CONTENT_TYPE, content_type))
        .map_err(|e| format!("{e:?}"))?;
    crate::est::basic_password(&headers_with(header::AUTHORIZATION, authorization))
        .map_err(|e| format!("{e:?}"))?;
    crate::est::decode_base64_body(body).map_err(|e| format!("{e:?}"))
}

/// The DER an OCSP GET carries in the (percent-decoded) rest of its path.
pub fn ocsp_get_der(request: &str) -> Vec<u8> {
    crate::revocation_routes::ocsp_get_der(request)
}

#[cfg(test)]
mod tests;
