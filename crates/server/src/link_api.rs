//! `/v1/accounts`, `/v1/links`, `/v1/logins`, `/v1/approvals`: accounts bound to a trust anchor,
//! linking the owner's other devices, and the anchor's approval of their logins (docs/linking.md).
//! Anchors authenticate with their level-3 certificate over mTLS; new and linked devices with
//! the link code, or with signatures by their own key.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use inkan_authority::{Authority, DelegationRequest, LoginStatus, PresentedKey};
use inkan_pki::der_to_pem;
use inkan_store::{Account, Delegation, LinkedDevice, Login};
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::client_cert::VerifyPeer;
use crate::problem::{Problem, ProblemDetails};
use crate::query;
use crate::registry_api::{base64_field, bounded_json};
use crate::PeerCertificates;

/// Linking requests are small: a name, a key, a CSR, signatures.
const MAX_LINK_BODY: usize = 16 * 1024;

pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/v1/accounts", post(create_account))
        .route("/v1/accounts/{id}", get(get_account))
        .route("/v1/accounts/{id}/devices", post(link_device))
        .route(
            "/v1/accounts/{id}/devices/{registration}",
            delete(unlink_device),
        )
        .route(
            "/v1/accounts/{id}/delegations",
            post(delegate).delete(end_delegation),
        )
        .route("/v1/links", post(start_link))
        .route("/v1/links/preview", post(preview_link))
        .route("/v1/login-key", get(login_key))
        .route("/v1/logins", post(request_login))
        .route("/v1/logins/{id}/status", post(login_status))
        .route("/v1/logins/{id}/approval", post(carried_approval))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}", post(approve))
}

fn rfc3339_ms(ms: i64) -> Result<String, Problem> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(Problem::internal)?
        .format(&Rfc3339)
        .map_err(Problem::internal)
}

/// The anchor: the connection's client certificate, verified (ours, valid, not revoked).
async fn anchor(authority: &Authority, peer: &PeerCertificates) -> Result<PresentedKey, Problem> {
    let client = peer.verify(authority).await.map_err(|_| {
        Problem::unauthorized(
            "present the trust anchor's certificate (level 3, issued by this authority) as TLS client certificate",
        )
    })?;
    let leaf = peer
        .0
        .first()
        .ok_or_else(|| Problem::unauthorized("no client certificate"))?;
    Ok(PresentedKey {
        serial: client.info.serial.clone(),
        spki_der: inkan_pki::spki_der(leaf).map_err(Problem::internal)?,
        level: client.info.level.unwrap_or(0),
    })
}

fn account_json(a: &Account) -> Result<Value, Problem> {
    Ok(json!({
        "id": a.id,
        "name": a.name,
        "max_devices": a.max_devices,
        "created_at": rfc3339_ms(a.created_at_ms)?,
    }))
}

fn device_json(d: &LinkedDevice) -> Result<Value, Problem> {
    Ok(json!({
        "registration": d.registration,
        "name": d.name,
        "key_sha256": d.spki_sha256,
        "anchor_serial": d.anchor_serial,
        "linked_at": rfc3339_ms(d.linked_at_ms)?,
        "unlinked_at": d.unlinked_at_ms.map(rfc3339_ms).transpose()?,
    }))
}

fn delegation_json(d: &Delegation) -> Result<Value, Problem> {
    Ok(json!({
        "id": d.id,
        "deputy": d.deputy,
        "anchor_serial": d.anchor_serial,
        "not_before": rfc3339_ms(d.not_before_ms)?,
        "not_after": rfc3339_ms(d.not_after_ms)?,
        "max_approvals": d.max_approvals,
        "used": d.used,
        "created_at": rfc3339_ms(d.created_at_ms)?,
        "ended_at": d.ended_at_ms.map(rfc3339_ms).transpose()?,
        "end_reason": d.end_reason,
    }))
}

fn login_json(l: &Login) -> Result<Value, Problem> {
    Ok(json!({
        "id": l.id,
        "registration": l.registration,
        "request_sha256": l.request_sha256,
        "nonce": B64.encode(&l.nonce),
        "created_at": rfc3339_ms(l.created_at_ms)?,
        "expires_at": rfc3339_ms(l.expires_at_ms)?,
    }))
}

fn token_field(value: &str) -> Result<Vec<u8>, Problem> {
    B64URL
        .decode(value.trim())
        .ok()
        .filter(|t| t.len() == 16)
        .ok_or_else(|| {
            Problem::bad_request("link_token: the 22-character code the new device shows")
        })
}

/// A new account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccountBody {
    /// A display name (1 to 64 printable characters).
    name: String,
}

/// Creates an account whose trust anchor is the presented level-3 certificate's key.
#[utoipa::path(post, path = "/v1/accounts", tag = "linking", request_body = NewAccountBody,
    security(("mtls" = [])),
    responses(
        (status = 201, description = "`{id, name, max_devices, created_at}`", body = serde_json::Value),
        (status = 400, description = "Malformed body or name", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The certificate is not level 3, or is an administrator's", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The key anchors an account already", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn create_account(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let anchor = anchor(&authority, &peer).await?;
    let request: NewAccountBody = bounded_json(&headers, &body, MAX_LINK_BODY, "linking requests")?;
    let account = authority.create_account(&anchor, &request.name).await?;
    Ok((StatusCode::CREATED, Json(account_json(&account)?)))
}

/// An account, its anchors and its devices, for its anchor.
#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "linking",
    params(("id" = String, Path, description = "Account id")),
    security(("mtls" = [])),
    responses(
        (status = 200, description = "`{account, anchors, devices, delegations}`", body = serde_json::Value),
        (status = 400, description = "Malformed path", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not this account's anchor", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn get_account(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
) -> Result<impl IntoResponse, Problem> {
    let anchor = anchor(&authority, &peer).await?;
    let id = query::path(id)?;
    let (account, anchors, devices) = authority.account_view(&anchor, &id).await?;
    let anchors = anchors
        .iter()
        .map(|a| {
            Ok(json!({
                "key_sha256": a.spki_sha256,
                "serial": a.serial,
                "added_at": rfc3339_ms(a.added_at_ms)?,
                "removed_at": a.removed_at_ms.map(rfc3339_ms).transpose()?,
            }))
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    let devices = devices
        .iter()
        .map(device_json)
        .collect::<Result<Vec<_>, _>>()?;
    let delegations = authority
        .delegations(&anchor, &id)
        .await?
        .iter()
        .map(delegation_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({
        "account": account_json(&account)?,
        "anchors": anchors,
        "devices": devices,
        "delegations": delegations,
    })))
}

/// An anchor's delegation of login approvals to a deputy device, signed by the anchor.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DelegationBody {
    /// The deputy: a linked device of the account (registration number).
    deputy: String,
    /// From when its approvals count (Unix seconds).
    not_before: i64,
    /// Until when (Unix seconds, exclusive; at most 7 days after `not_before`).
    not_after: i64,
    /// How many logins it may approve (1 to 100).
    max_approvals: i64,
    /// When the anchor signed (Unix seconds; within 2 minutes of the authority's clock).
    signed_at: i64,
    /// The anchor's ECDSA signature (DER, base64) over the terms (docs/linking.md).
    #[schema(format = Byte)]
    signature: String,
}

/// Delegates login approvals to a deputy device while the anchor is away: a time window and a
/// count the authority enforces; ends the open delegation, and ends itself when the anchor
/// approves a login again.
#[utoipa::path(post, path = "/v1/accounts/{id}/delegations", tag = "linking", request_body = DelegationBody,
    params(("id" = String, Path, description = "Account id")),
    security(("mtls" = [])),
    responses(
        (status = 201, description = "`{id, deputy, anchor_serial, not_before, not_after, max_approvals, used, created_at, ended_at, end_reason}`", body = serde_json::Value),
        (status = 400, description = "Malformed body or path, or terms out of bounds", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not this account's anchor, or the signature or its time is refused", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "The deputy is not a linked device of the account", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn delegate(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let anchor = anchor(&authority, &peer).await?;
    let id = query::path(id)?;
    let request: DelegationBody = bounded_json(&headers, &body, MAX_LINK_BODY, "linking requests")?;
    let signature = base64_field("signature", &request.signature)?;
    let delegation = authority
        .delegate(
            &anchor,
            &id,
            &DelegationRequest {
                deputy: request.deputy,
                not_before: request.not_before,
                not_after: request.not_after,
                max_approvals: request.max_approvals,
                signed_at: request.signed_at,
                signature,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(delegation_json(&delegation)?)))
}

/// Ends the account's open delegation (the anchor is back early, or the deputy is lost).
#[utoipa::path(delete, path = "/v1/accounts/{id}/delegations", tag = "linking",
    params(("id" = String, Path, description = "Account id")),
    security(("mtls" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 400, description = "Malformed path", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not this account's anchor", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No open delegation", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn end_delegation(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
) -> Result<impl IntoResponse, Problem> {
    let anchor = anchor(&authority, &peer).await?;
    let id = query::path(id)?;
    if authority.end_delegation(&anchor, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("the account has no open delegation"))
    }
}

/// A new device asking to be linked.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewLinkBody {
    /// The device's display name (1 to 64 printable characters).
    name: String,
    /// Its public key: SubjectPublicKeyInfo DER (ECDSA P-256 or P-384), base64.
    #[schema(format = Byte)]
    public_key: String,
}

/// Starts linking a new device: a single-use link code (10 minutes) and the confirmation code
/// both screens show.
#[utoipa::path(post, path = "/v1/links", tag = "linking", request_body = NewLinkBody,
    responses(
        (status = 201, description = "`{link_token, registration, code, expires_at}` (link_token: base64url, 16 bytes)", body = serde_json::Value),
        (status = 400, description = "Malformed body, name or key", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many devices are waiting to be linked (1,000 in all, 8 from one address)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn start_link(
    State(authority): State<Arc<Authority>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let request: NewLinkBody = bounded_json(&headers, &body, MAX_LINK_BODY, "linking requests")?;
    let key = base64_field("public_key", &request.public_key)?;
    let started = authority
        .start_link(&request.name, &key, &client.ip().to_string())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "link_token": B64URL.encode(&started.token),
            "registration": started.registration,
            "code": started.code,
            "expires_at": started.expires_at.format(&Rfc3339).map_err(Problem::internal)?,
        })),
    ))
}

/// A link code, as the anchor read it from the new device.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkTokenBody {
    /// The link token (base64url, as the new device shows it).
    link_token: String,
}

/// What the anchor confirms: the new device, the confirmation code to compare, and the device
/// list to sign.
#[utoipa::path(post, path = "/v1/links/preview", tag = "linking", request_body = LinkTokenBody,
    security(("mtls" = [])),
    responses(
        (status = 200, description = "`{account, registration, name, key_sha256, code, devices: [{registration, key_sha256}]}`", body = serde_json::Value),
        (status = 400, description = "Malformed body or link token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a trust anchor", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "The link code is unknown, used or expired", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn preview_link(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let anchor = anchor(&authority, &peer).await?;
    let request: LinkTokenBody = bounded_json(&headers, &body, MAX_LINK_BODY, "linking requests")?;
    let token = token_field(&request.link_token)?;
    let preview = authority.preview_link(&anchor, &token).await?;
    let devices: Vec<Value> = preview
        .devices
        .iter()
        .map(|(registration, key)| json!({"registration": registration, "key_sha256": key}))
        .collect();
    Ok(Json(json!({
        "account": preview.account_id,
        "registration": preview.request.registration,
        "name": preview.request.name,
        "key_sha256": preview.request.spki_sha256,
        "code": preview.code,
        "devices": devices,
    })))
}

/// The anchor's confirmation of a link.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkDeviceBody {
    /// The link token (base64url).
    link_token: String,
    /// When the anchor signed (Unix seconds; within 2 minutes of the authority's clock).
    signed_at: i64,
    /// The anchor's ECDSA signature (DER, base64) over the device list with the new device
    /// (see docs/linking.md).
    #[schema(format = Byte)]
    signature: String,
}

/// Links the device of a link code to the anchor's account.
#[utoipa::path(post, path = "/v1/accounts/{id}/devices", tag = "linking", request_body = LinkDeviceBody,
    params(("id" = String, Path, description = "Account id")),
    security(("mtls" = [])),
    responses(
        (status = 201, description = "The linked device", body = serde_json::Value),
        (status = 400, description = "Malformed body or path", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not this account's anchor, or the signature or its time is refused", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "The link code is unknown, used or expired", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The account has its maximum of devices, or the key is linked already", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn link_device(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let anchor = anchor(&authority, &peer).await?;
    let id = query::path(id)?;
    let request: LinkDeviceBody = bounded_json(&headers, &body, MAX_LINK_BODY, "linking requests")?;
    let token = token_field(&request.link_token)?;
    let signature = base64_field("signature", &request.signature)?;
    let device = authority
        .confirm_link(&anchor, &id, &token, request.signed_at, &signature)
        .await?;
    Ok((StatusCode::CREATED, Json(device_json(&device)?)))
}

/// Unlinks a device: its logins are refused and its certificates revoked.
#[utoipa::path(delete, path = "/v1/accounts/{id}/devices/{registration}", tag = "linking",
    params(("id" = String, Path, description = "Account id"), ("registration" = String, Path, description = "The device's registration number")),
    security(("mtls" = [])),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 400, description = "Malformed path", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not this account's anchor", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such linked device in this account", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn unlink_device(
    State(authority): State<Arc<Authority>>,
    path: Result<Path<(String, String)>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
) -> Result<impl IntoResponse, Problem> {
    let anchor = anchor(&authority, &peer).await?;
    let (id, registration) = query::path(path)?;
    authority.unlink(&anchor, &id, &registration).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The authority's HPKE key for login session keys.
#[utoipa::path(get, path = "/v1/login-key", tag = "linking",
    responses(
        (status = 200, description = "`{suite, public_key}` (public_key: the 32-byte X25519 key, base64)", body = serde_json::Value),
        (status = 500, description = "The authority has no sealing key (ca/sealing.key)", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn login_key(
    State(authority): State<Arc<Authority>>,
) -> Result<impl IntoResponse, Problem> {
    let key = authority.login_key()?;
    Ok(Json(json!({
        "suite": inkan_attest::LOGIN_SESSION_SUITE,
        "public_key": B64.encode(key.public_key()),
    })))
}

/// A linked device's login request, signed with its key.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    /// The device's registration number.
    registration: String,
    /// 16 to 64 random bytes, base64.
    #[schema(format = Byte)]
    nonce: String,
    /// PKCS#10 DER for the device's linked key, base64.
    #[schema(format = Byte)]
    csr: String,
    /// A fresh 32-byte session key sealed with HPKE to the authority's login key
    /// (`/v1/login-key`) for this registration and nonce: encapsulated key ‖ ciphertext, base64.
    #[schema(format = Byte)]
    session: String,
    /// The device's ECDSA signature (DER, base64) over the login request hash.
    #[schema(format = Byte)]
    signature: String,
}

/// A linked device asks to log in; its anchor approves at `/v1/approvals`.
#[utoipa::path(post, path = "/v1/logins", tag = "linking", request_body = LoginBody,
    responses(
        (status = 202, description = "`{id, poll_secret, request_sha256, expires_at}`: poll `/v1/logins/{id}/status` with the secret", body = serde_json::Value),
        (status = 400, description = "Malformed body, nonce or CSR, a CSR for another key, or a session key that does not open", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The device's signature does not verify", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such linked device", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "The device has 4 logins waiting already", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn request_login(
    State(authority): State<Arc<Authority>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let request: LoginBody = bounded_json(&headers, &body, MAX_LINK_BODY, "linking requests")?;
    let nonce = base64_field("nonce", &request.nonce)?;
    let csr = base64_field("csr", &request.csr)?;
    let session = base64_field("session", &request.session)?;
    let signature = base64_field("signature", &request.signature)?;
    let started = authority
        .request_login(&request.registration, &nonce, &csr, &session, &signature)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": started.login.id,
            "poll_secret": B64.encode(&started.poll_secret),
            "request_sha256": started.login.request_sha256,
            "expires_at": rfc3339_ms(started.login.expires_at_ms)?,
        })),
    ))
}

/// A linked device's poll.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PollBody {
    /// The poll secret `/v1/logins` answered, base64.
    #[schema(format = Byte)]
    poll_secret: String,
}

/// Where a login stands: pending, or approved with the certificate.
#[utoipa::path(post, path = "/v1/logins/{id}/status", tag = "linking", request_body = PollBody,
    params(("id" = String, Path, description = "Login id")),
    responses(
        (status = 200, description = "`{status: pending}` or `{status: approved, serial, certificate, chain, session_proof}` (PEM; the proof: HMAC-SHA256 keyed by the session key)", body = serde_json::Value),
        (status = 400, description = "Malformed body or path", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such login, or a wrong poll secret", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The login expired unapproved", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn login_status(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let id = query::path(id)?;
    let request: PollBody = bounded_json(&headers, &body, MAX_LINK_BODY, "linking requests")?;
    let secret = base64_field("poll_secret", &request.poll_secret)?;
    match authority.login_status(&id, &secret).await? {
        LoginStatus::Pending(_) => Ok(Json(json!({"status": "pending"}))),
        LoginStatus::Approved(_, record, proof) => {
            let certificate = der_to_pem("CERTIFICATE", &record.der);
            let chain = format!(
                "{certificate}{}",
                der_to_pem("CERTIFICATE", authority.ca().cert_der())
            );
            Ok(Json(json!({
                "status": "approved",
                "serial": record.serial,
                "certificate": certificate,
                "chain": chain,
                "session_proof": B64.encode(proof),
            })))
        }
    }
}

/// An anchor's approval made offline, carried by the linked device.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CarriedApprovalBody {
    /// The poll secret `/v1/logins` answered, base64.
    #[schema(format = Byte)]
    poll_secret: String,
    /// The approving anchor's certificate serial (hex); or
    anchor_serial: Option<String>,
    /// the registration number of the deputy that approved under the anchor's delegation
    /// (exactly one of the two).
    deputy: Option<String>,
    /// When the anchor (or deputy) signed (Unix seconds; within 2 minutes of the authority's
    /// clock).
    signed_at: i64,
    /// The ECDSA signature (DER, base64): the anchor's over (request hash, nonce, signed_at),
    /// or the deputy's over (deputy, request hash, nonce, signed_at).
    #[schema(format = Byte)]
    signature: String,
}

/// A linked device delivers the approval its anchor signed with no network (read from the
/// anchor's screen): the same checks as `/v1/approvals/{id}`, the anchor named by its serial;
/// or the approval of the deputy the anchor delegated to, checked against the delegation.
#[utoipa::path(post, path = "/v1/logins/{id}/approval", tag = "linking", request_body = CarriedApprovalBody,
    params(("id" = String, Path, description = "Login id")),
    responses(
        (status = 201, description = "`{serial, level, certificate, chain, session_proof}` (PEM; the proof: HMAC-SHA256 keyed by the session key)", body = serde_json::Value),
        (status = 400, description = "Malformed body or path", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The serial is not a current anchor of the account, the deputy has no delegation of this account, a deputy's own login, the signature or its time is refused, or the policy refused", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such login, or a wrong poll secret", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Approved already, expired, or the device was unlinked; or the delegation is used up, ended or outside its window", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "The upstream certificate authority failed", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn carried_approval(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let id = query::path(id)?;
    let request: CarriedApprovalBody =
        bounded_json(&headers, &body, MAX_LINK_BODY, "linking requests")?;
    let secret = base64_field("poll_secret", &request.poll_secret)?;
    let signature = base64_field("signature", &request.signature)?;
    let issued = match (request.anchor_serial, request.deputy) {
        (Some(serial), None) => {
            let serial = serial.replace(':', "").to_ascii_lowercase();
            authority
                .approve_login_carried(&id, &secret, &serial, request.signed_at, &signature)
                .await?
        }
        (None, Some(deputy)) => {
            authority
                .approve_login_as_deputy(&id, &secret, &deputy, request.signed_at, &signature)
                .await?
        }
        _ => {
            return Err(Problem::bad_request(
                "name the approver: anchor_serial (the anchor signed) or deputy (its deputy did), not both",
            ))
        }
    };
    let proof = authority.login_proof(&id, &issued.der).await?;
    let certificate = der_to_pem("CERTIFICATE", &issued.der);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "serial": issued.serial,
            "level": issued.info.level,
            "certificate": certificate,
            "chain": format!("{certificate}{}", der_to_pem("CERTIFICATE", authority.ca().cert_der())),
            "session_proof": B64.encode(proof),
        })),
    ))
}

/// The logins waiting for the presented anchor's approval.
#[utoipa::path(get, path = "/v1/approvals", tag = "linking",
    security(("mtls" = [])),
    responses(
        (status = 200, description = "`[{id, registration, request_sha256, nonce, created_at, expires_at}]`", body = serde_json::Value),
        (status = 401, description = "No valid client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a trust anchor", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn list_approvals(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
) -> Result<impl IntoResponse, Problem> {
    let anchor = anchor(&authority, &peer).await?;
    let pending = authority.pending_logins(&anchor).await?;
    let listed = pending
        .iter()
        .map(login_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Value::Array(listed)))
}

/// The anchor's approval of a login.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalBody {
    /// When the anchor signed (Unix seconds; within 2 minutes of the authority's clock).
    signed_at: i64,
    /// The anchor's ECDSA signature (DER, base64) over (request hash, nonce, signed_at).
    #[schema(format = Byte)]
    signature: String,
}

/// Approves a login: the linked device's certificate is issued at once (level: at most 2, never
/// above the anchor's) and the approval is used up.
#[utoipa::path(post, path = "/v1/approvals/{id}", tag = "linking", request_body = ApprovalBody,
    params(("id" = String, Path, description = "Login id")),
    security(("mtls" = [])),
    responses(
        (status = 201, description = "`{serial, level}`", body = serde_json::Value),
        (status = 400, description = "Malformed body or path", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a trust anchor, the signature or its time is refused, or the policy refused", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such login in this anchor's account", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Approved already, expired, or the device was unlinked", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "The upstream certificate authority failed", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn approve(
    State(authority): State<Arc<Authority>>,
    id: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let anchor = anchor(&authority, &peer).await?;
    let id = query::path(id)?;
    let request: ApprovalBody = bounded_json(&headers, &body, MAX_LINK_BODY, "linking requests")?;
    let signature = base64_field("signature", &request.signature)?;
    let issued = authority
        .approve_login(&anchor, &id, request.signed_at, &signature)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"serial": issued.serial, "level": issued.info.level})),
    ))
}
