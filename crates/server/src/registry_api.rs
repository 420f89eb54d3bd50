//! `/v1/products` and `/v1/devices`: the manufacturer's side (admin token) and the device's first
//! boot (its product's ProductCert over mTLS).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use inkan_authority::{Authority, PageCursor, ProductParams, Registrant};
use inkan_pki::der_to_pem;
use inkan_store::DeviceStatus;
use serde::Deserialize;
use serde_json::json;

use crate::admin_auth::{admin_actor, AdminCheck};
use crate::client_cert::VerifyPeer;
use crate::problem::{Problem, ProblemDetails};
use crate::query::{self, PageLimit, MAX_PAGE};
use crate::PeerCertificates;

pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/v1/products", post(create_product).get(list_products))
        .route("/v1/products/{id}", get(show_product))
        .route("/v1/products/{id}/psk", post(enable_psk))
        .route("/v1/devices", post(register_device).get(list_devices))
        .route("/v1/devices/{id}", get(show_device))
        .route("/v1/devices/{id}/disable", post(disable_device))
        .route("/v1/devices/{id}/enable", post(enable_device))
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

/// [`json_body`] for a route with a smaller body limit than the server's: `what` names the
/// requests in the 413's detail ("TPM requests are at most 65536 bytes").
pub(crate) fn bounded_json<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &[u8],
    limit: usize,
    what: &str,
) -> Result<T, Problem> {
    if body.len() > limit {
        return Err(Problem::payload_too_large(format!(
            "{what} are at most {limit} bytes"
        )));
    }
    json_body(headers, body)
}

/// A binary field sent as standard base64 (with padding).
pub(crate) fn base64_field(field: &str, value: &str) -> Result<Vec<u8>, Problem> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| Problem::bad_request(format!("{field} is not standard base64 (with padding)")))
}

pub(crate) async fn require_admin(
    authority: &Authority,
    headers: &HeaderMap,
    peer: &PeerCertificates,
) -> Result<String, Problem> {
    match admin_actor(authority, headers, peer).await? {
        AdminCheck::Admin(actor) => Ok(actor),
        AdminCheck::BadToken => Err(Problem::unauthorized("the bearer token is not a valid admin token")),
        AdminCheck::NoToken => Err(Problem::unauthorized(
            "this needs an admin token: Authorization: Bearer <token from `inkan admin token create`>",
        )),
    }
}

/// A new product line.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProductBody {
    /// Unique name, 1 to 48 characters.
    name: String,
    /// At most this many devices may register.
    #[serde(default)]
    max_devices: Option<i64>,
    /// Validity of each DeviceCert (`365d`, `12h`, ...); default 365d.
    #[serde(default)]
    device_validity: Option<String>,
    /// Device attributes (keys of `device_info`) the product allows.
    #[serde(default)]
    attributes: Vec<String>,
    /// Also return the ProductCert and key as PKCS#12 under this passphrase: 8 to 1024
    /// characters, each up to U+FFFF (PKCS#12 stores passphrases as BMPString), no NUL.
    #[serde(default)]
    pkcs12_passphrase: Option<String>,
    /// Turn PSK registration on and return the group key.
    #[serde(default)]
    psk: bool,
}

/// Creates a product and its ProductCert; the key is returned once and never stored.
#[utoipa::path(post, path = "/v1/products", tag = "registry", request_body = NewProductBody,
    security(("admin" = []), ("admin_cert" = [])),
    responses(
        (status = 201, description = "`{product, product_cert, product_key, product_p12?, psk_group_key?}`", body = serde_json::Value),
        (status = 400, description = "Malformed body, validity, max_devices or PKCS#12 passphrase; nothing is created", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Refused (name taken or invalid); nothing is created", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the server's limit", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "The upstream certificate authority failed", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn create_product(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let actor = require_admin(&authority, &headers, &peer).await?;
    let request: NewProductBody = json_body(&headers, &body)?;
    let validity =
        inkan_pki::duration_text::parse(request.device_validity.as_deref().unwrap_or("365d"))
            .map_err(Problem::bad_request)?;
    let created = authority
        .create_product(
            ProductParams {
                name: request.name,
                max_devices: request.max_devices,
                device_validity: validity,
                attributes: request.attributes,
                pkcs12_passphrase: request.pkcs12_passphrase,
                psk: request.psk,
            },
            &actor,
        )
        .await?;
    let mut body = json!({
        "product": created.product,
        "product_cert": created.chain_pem,
        "product_key": created.key_pem,
    });
    if let Some(p12) = &created.pkcs12 {
        body["product_p12"] = json!(base64::engine::general_purpose::STANDARD.encode(p12));
    }
    if let Some(key) = &created.psk_group_key {
        body["psk_group_key"] = json!(key);
    }
    Ok((StatusCode::CREATED, Json(body)))
}

/// Turns PSK registration on with a fresh group key (replacing any earlier one).
#[utoipa::path(post, path = "/v1/products/{id}/psk", tag = "registry",
    params(("id" = String, Path, description = "Product id or name")), security(("admin" = []), ("admin_cert" = [])),
    responses((status = 200, description = "`{product, psk_group_key}`", body = serde_json::Value),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn enable_psk(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    let actor = require_admin(&authority, &headers, &peer).await?;
    let product = find_product(&authority, &query::path(id)?).await?;
    let key = authority.registry().enable_psk(&product, &actor).await?;
    Ok(Json(json!({ "product": product.id, "psk_group_key": key })))
}

async fn find_product(
    authority: &Authority,
    id: &str,
) -> Result<inkan_store::ProductRecord, Problem> {
    authority
        .registry()
        .product(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no product {id:?}")))
}

/// All products.
#[utoipa::path(get, path = "/v1/products", tag = "registry", security(("admin" = []), ("admin_cert" = [])),
    responses((status = 200, description = "`{products: [...]}`", body = serde_json::Value),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn list_products(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&authority, &headers, &peer).await?;
    Ok(Json(
        json!({ "products": authority.registry().products().await? }),
    ))
}

/// One product and its device count.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "registry",
    params(("id" = String, Path, description = "Product id or name")), security(("admin" = []), ("admin_cert" = [])),
    responses((status = 200, description = "`{product, devices}`", body = serde_json::Value),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn show_product(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&authority, &headers, &peer).await?;
    let product = find_product(&authority, &query::path(id)?).await?;
    let devices = authority.registry().count_devices(&product.id).await?;
    Ok(Json(json!({ "product": product, "devices": devices })))
}

/// A unit's registration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    /// Identity attributes kept in the registry (never in the certificate); keys must be in the
    /// product's `attributes`.
    #[serde(default)]
    #[schema(value_type = Object)]
    device_info: serde_json::Map<String, serde_json::Value>,
    /// Base64 DER PKCS#10.
    #[schema(format = Byte)]
    csr: String,
}

/// A unit's first boot: authenticated by its product's ProductCert over mTLS, or by a PSK
/// token (`Authorization: InkanPSK …`) signed with the key derived for its registration id.
/// Idempotent per (product, key).
#[utoipa::path(post, path = "/v1/devices", tag = "registry", request_body = RegisterBody,
    security(("product_cert" = []), ("psk" = [])),
    responses(
        (status = 201, description = "`{device, serial, device_cert_chain}` (PEM chain)", body = serde_json::Value),
        (status = 400, description = "Malformed body or CSR", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No ProductCert; bad, stale or replayed PSK token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Refused by the product's policy (cap, disabled, attributes, key reuse) or by the authorization policy (e.g. a CSR claiming `urn:inkan:` names); `detail` says which rule", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the server's limit", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "The upstream certificate authority failed", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn register_device(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let psk_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with(inkan_attest::PSK_SCHEME));
    let (product, registrant) = match psk_header {
        Some(value) => {
            authority
                .verify_psk(value, "POST", "/v1/devices", &body)
                .await?
        }
        None => {
            let client = peer.verify(&authority).await.map_err(|_| {
                Problem::unauthorized(
                    "register over mTLS with your product's ProductCert as client certificate, or with an InkanPSK token",
                )
            })?;
            let product = authority
                .registry()
                .product_by_cert(&client.info.serial)
                .await?
                .ok_or_else(|| Problem::forbidden("the client certificate is not a ProductCert"))?;
            (
                product,
                Registrant::ProductCert {
                    serial: client.info.serial.clone(),
                },
            )
        }
    };
    let request: RegisterBody = json_body(&headers, &body)?;
    let csr = base64::engine::general_purpose::STANDARD
        .decode(request.csr.trim())
        .map_err(|_| Problem::bad_request("csr must be a base64 DER PKCS#10 request"))?;
    let (device, issued) = authority
        .bootstrap_device(
            &product,
            registrant,
            &csr,
            serde_json::Value::Object(request.device_info),
        )
        .await?;
    let chain: String = issued
        .chain
        .iter()
        .map(|der| der_to_pem("CERTIFICATE", der))
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "device": device, "serial": issued.serial, "device_cert_chain": chain })),
    ))
}

/// Which devices to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceQuery {
    /// Only this product (id or name).
    product: Option<String>,
    /// At most this many (1 to 1000, default 1000).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<PageLimit>,
    /// Continue after this cursor: the `next` value of the previous page, passed unchanged
    /// (opaque; anything else is a 400).
    #[param(value_type = Option<String>, min_length = 1, max_length = 200, pattern = "^[A-Za-z0-9_-]+$")]
    #[serde(default, deserialize_with = "query::cursor")]
    after: Option<PageCursor>,
}

/// Devices, newest first (admin), optionally of one product, a page at a time: while the
/// answer has `next`, ask again with `after=<next>` for the following page.
#[utoipa::path(get, path = "/v1/devices", tag = "registry", params(DeviceQuery), security(("admin" = []), ("admin_cert" = [])),
    responses((status = 200, description = "`{devices: [...], next?}` — `next` (opaque cursor) is present when more devices follow: pass it as `after` to get them; absent on the last page", body = serde_json::Value),
        (status = 400, description = "Malformed query, `limit` out of bounds, or an `after` that is not a cursor this server gave out", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn list_devices(
    State(authority): State<Arc<Authority>>,
    device_query: Result<Query<DeviceQuery>, QueryRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&authority, &headers, &peer).await?;
    let device_query = query::query(device_query)?;
    let product = match &device_query.product {
        Some(p) => Some(find_product(&authority, p).await?.id),
        None => None,
    };
    let limit = usize::try_from(device_query.limit.map_or(MAX_PAGE, PageLimit::get)).unwrap_or(1);
    let page = authority
        .registry()
        .device_page(product.as_deref(), device_query.after.as_ref(), limit)
        .await?;
    let mut body = json!({ "devices": page.devices });
    if let Some(next) = &page.next {
        body["next"] = json!(next.to_string());
    }
    Ok(Json(body))
}

/// Disables a device: it can neither renew nor register again.
#[utoipa::path(post, path = "/v1/devices/{id}/disable", tag = "registry",
    params(("id" = String, Path, description = "Device id")), security(("admin" = []), ("admin_cert" = [])),
    responses((status = 200, description = "`{device, changed}`", body = serde_json::Value),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such device", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn disable_device(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    set_device_status(&authority, id, &headers, &peer, DeviceStatus::Disabled).await
}

/// Enables a disabled device again.
#[utoipa::path(post, path = "/v1/devices/{id}/enable", tag = "registry",
    params(("id" = String, Path, description = "Device id")), security(("admin" = []), ("admin_cert" = [])),
    responses((status = 200, description = "`{device, changed}`", body = serde_json::Value),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such device", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn enable_device(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    set_device_status(&authority, id, &headers, &peer, DeviceStatus::Active).await
}

/// A disabled device can neither renew nor register again; its current certificate stays
/// valid until revoked.
async fn set_device_status(
    authority: &Authority,
    id: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    peer: &PeerCertificates,
    status: DeviceStatus,
) -> Result<Json<serde_json::Value>, Problem> {
    let actor = require_admin(authority, headers, peer).await?;
    let id = query::path(id)?;
    let id = id.as_str();
    let (device, changed) = authority
        .registry()
        .set_device_status(id, status, &actor)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no device {id:?}")))?;
    Ok(Json(json!({ "device": device, "changed": changed })))
}

/// A device record and its certificates: for an admin, or for the device itself (its
/// DeviceCert over mTLS).
#[utoipa::path(get, path = "/v1/devices/{id}", tag = "registry",
    params(("id" = String, Path, description = "Device id")), security(("admin" = []), ("admin_cert" = []), ("mtls" = [])),
    responses((status = 200, description = "`{device, certificates}`", body = serde_json::Value),
        (status = 401, description = "Neither admin token nor client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "A device may read only its own record", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such device", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn show_device(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    let is_admin = matches!(
        admin_actor(&authority, &headers, &peer).await?,
        AdminCheck::Admin(_)
    );
    let client = if is_admin {
        None
    } else {
        Some(peer.verify(&authority).await.map_err(|_| {
            Problem::unauthorized(
                "this needs an admin token, or the device's own certificate over mTLS",
            )
        })?)
    };
    let id = query::path(id)?;
    if let Some(client) = client {
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
        .registry()
        .device(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no device {id:?}")))?;
    let certificates = authority.registry().device_certificates(&id).await?;
    Ok(Json(
        json!({ "device": device, "certificates": certificates }),
    ))
}
