//! `/v1/products` and `/v1/devices`: the manufacturer's side (admin token) and the device's first
//! boot (its product's ProductCert over mTLS).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use inkan_authority::Authority;
use inkan_pki::der_to_pem;
use serde::Deserialize;
use serde_json::json;

use crate::admin_auth::{admin_actor, AdminCheck};
use crate::problem::Problem;
use crate::PeerCertificates;

pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/v1/products", post(create_product).get(list_products))
        .route("/v1/products/{id}", get(show_product))
        .route("/v1/devices", post(register_device))
        .route("/v1/devices/{id}", get(show_device))
}

/// Parses a JSON body strictly (Content-Type and unknown fields checked).
pub(crate) fn json_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Problem> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "send JSON with Content-Type: application/json",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("invalid JSON body: {e}")))
}

async fn require_admin(authority: &Authority, headers: &HeaderMap) -> Result<String, Problem> {
    match admin_actor(authority, headers).await? {
        AdminCheck::Admin(actor) => Ok(actor),
        AdminCheck::BadToken => Err(Problem::unauthorized("the bearer token is not a valid admin token")),
        AdminCheck::NoToken => Err(Problem::unauthorized(
            "this needs an admin token: Authorization: Bearer <token from `inkan admin token create`>",
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProductBody {
    name: String,
    #[serde(default)]
    max_devices: Option<i64>,
    #[serde(default)]
    device_validity: Option<String>,
    #[serde(default)]
    attributes: Vec<String>,
}

async fn create_product(
    State(authority): State<Arc<Authority>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let actor = require_admin(&authority, &headers).await?;
    let request: NewProductBody = json_body(&headers, &body)?;
    let validity =
        inkan_pki::duration_text::parse(request.device_validity.as_deref().unwrap_or("365d"))
            .map_err(Problem::bad_request)?;
    if request.max_devices.is_some_and(|m| m <= 0) {
        return Err(Problem::bad_request("max_devices must be positive"));
    }
    let created = authority
        .create_product(
            &request.name,
            request.max_devices,
            validity,
            request.attributes,
            &actor,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "product": created.product,
            "product_cert": created.chain_pem,
            "product_key": created.key_pem,
        })),
    ))
}

async fn list_products(
    State(authority): State<Arc<Authority>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&authority, &headers).await?;
    Ok(Json(
        json!({ "products": authority.store().products().await? }),
    ))
}

async fn show_product(
    State(authority): State<Arc<Authority>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&authority, &headers).await?;
    let product = authority
        .store()
        .product(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no product {id:?}")))?;
    let devices = authority
        .store()
        .devices(Some(&product.id), i64::MAX)
        .await?
        .len();
    Ok(Json(json!({ "product": product, "devices": devices })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    #[serde(default)]
    device_info: serde_json::Map<String, serde_json::Value>,
    /// Base64 DER PKCS#10.
    csr: String,
}

/// A unit's first boot: authenticated by its product's ProductCert over mTLS.
async fn register_device(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let client = peer.verify(&authority).await.map_err(|_| {
        Problem::unauthorized(
            "register over mTLS with your product's ProductCert as client certificate",
        )
    })?;
    let product = authority
        .store()
        .product_by_cert(&client.info.serial)
        .await?
        .ok_or_else(|| Problem::forbidden("the client certificate is not a ProductCert"))?;
    let request: RegisterBody = json_body(&headers, &body)?;
    let csr = base64::engine::general_purpose::STANDARD
        .decode(request.csr.trim())
        .map_err(|_| Problem::bad_request("csr must be a base64 DER PKCS#10 request"))?;
    let (device, issued) = authority
        .bootstrap_device(
            &product,
            &client.info.serial,
            &csr,
            serde_json::Value::Object(request.device_info),
        )
        .await
        .map_err(|e| match e {
            inkan_authority::AuthorityError::Csr(c) => Problem::bad_request(c.to_string()),
            other => Problem::from(other),
        })?;
    let chain = format!(
        "{}{}",
        der_to_pem("CERTIFICATE", &issued.der),
        der_to_pem("CERTIFICATE", authority.ca().cert_der())
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({ "device": device, "serial": issued.serial, "device_cert_chain": chain })),
    ))
}

/// A device record: for an admin, or for the device itself (its DeviceCert over mTLS).
async fn show_device(
    State(authority): State<Arc<Authority>>,
    Path(id): Path<String>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    let is_admin = matches!(
        admin_actor(&authority, &headers).await?,
        AdminCheck::Admin(_)
    );
    if !is_admin {
        let client = peer.verify(&authority).await.map_err(|_| {
            Problem::unauthorized(
                "this needs an admin token, or the device's own certificate over mTLS",
            )
        })?;
        let own = format!("urn:inkan:device:{id}");
        if !client
            .info
            .sans
            .iter()
            .any(|s| matches!(s, inkan_pki::San::Uri(u) if *u == own))
        {
            return Err(Problem::forbidden("a device may read only its own record"));
        }
    }
    let device = authority
        .store()
        .device(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no device {id:?}")))?;
    Ok(Json(json!({ "device": device })))
}
