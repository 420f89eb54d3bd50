//! `/v1/tee/*`: TEE-style provisioning. Administrators manage TA profiles, device models and
//! device UIDs; devices talk to the TAM (`/v1/tee/tam`, TEEP's QueryRequest → QueryResponse →
//! Update → Success/Error) and enroll a CSR their trusted app MAC'd (`/v1/tee/enrollments`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use inkan_authority::{Authority, NewTaProfile, TeeEnrollRequest, TpmKeyOffer};
use inkan_pki::der_to_pem;
use inkan_store::TaProfile;
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::problem::{Problem, ProblemDetails};
use crate::query;
use crate::registry_api::{base64_field, bounded_json, json_body, require_admin};
use crate::PeerCertificates;

/// Device requests (TAM messages, enrollments) are at most 64 KiB.
const MAX_TEE_BODY: usize = 64 * 1024;

pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/v1/tee/profiles", post(create_profile).get(list_profiles))
        .route("/v1/tee/profiles/{name}/rotate", post(rotate_profile))
        .route("/v1/tee/profiles/{name}/revoke", post(revoke_profile))
        .route("/v1/tee/models", post(create_model))
        .route("/v1/tee/devices", post(register_device))
        .route("/v1/tee/tam", post(tam))
        .route("/v1/tee/enrollments", post(enroll))
}

fn rfc3339_ms(ms: i64) -> Result<String, Problem> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(Problem::internal)?
        .format(&Rfc3339)
        .map_err(Problem::internal)
}

/// A TA profile version as the API shows it (never its key).
pub(crate) fn profile_json(p: &TaProfile) -> Result<Value, Problem> {
    Ok(json!({
        "name": p.name,
        "version": p.version,
        "identity_fields": p.identity_fields,
        "key_algorithm": p.key_algorithm,
        "certificate_profile": p.certificate_profile,
        "created_at": rfc3339_ms(p.created_at_ms)?,
        "accepted_until": p.accepted_until_ms.map(rfc3339_ms).transpose()?,
        "revoked_at": p.revoked_at_ms.map(rfc3339_ms).transpose()?,
    }))
}

/// A new TA profile.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTaProfileBody {
    /// 1 to 63 of `a-z 0-9 -`.
    name: String,
    /// Identity fields the TA reads: any of `serial`, `mac`, `imei`.
    #[serde(default)]
    identity_fields: Vec<String>,
    /// `p256` (default) or `p384`.
    #[serde(default)]
    key_algorithm: Option<String>,
    /// The certificate profile to issue under; default `tee`.
    #[serde(default)]
    certificate_profile: Option<String>,
}

/// Creates version 1 of a TA profile with a fresh SK_CSR (sealed at rest, never returned).
#[utoipa::path(post, path = "/v1/tee/profiles", tag = "tee", request_body = NewTaProfileBody,
    security(("admin" = []), ("admin_cert" = [])),
    responses(
        (status = 201, description = "The profile's version 1", body = serde_json::Value),
        (status = 400, description = "Malformed body, name, field, algorithm, or a name that exists; nothing is created", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Unknown certificate profile", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the server's limit", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn create_profile(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let actor = require_admin(&authority, &headers, &peer).await?;
    let request: NewTaProfileBody = json_body(&headers, &body)?;
    let created = authority
        .tee()?
        .create_profile(
            &NewTaProfile {
                name: request.name,
                identity_fields: request.identity_fields,
                key_algorithm: request.key_algorithm.unwrap_or_else(|| "p256".into()),
                certificate_profile: request.certificate_profile.unwrap_or_else(|| "tee".into()),
            },
            &authority.config().profiles(),
            &actor,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(profile_json(&created)?)))
}

/// Every version of every TA profile.
#[utoipa::path(get, path = "/v1/tee/profiles", tag = "tee",
    security(("admin" = []), ("admin_cert" = [])),
    responses(
        (status = 200, description = "`{profiles: [...]}`, by name then version", body = serde_json::Value),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn list_profiles(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    require_admin(&authority, &headers, &peer).await?;
    let profiles = authority.tee()?.profiles().await?;
    let shown = profiles
        .iter()
        .map(profile_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "profiles": shown })))
}

/// A rotation's grace period.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateBody {
    /// How long older versions stay accepted (`7d`, `12h`, `0s`); default `7d`.
    #[serde(default)]
    grace: Option<String>,
}

/// Adds the next version with a fresh SK_CSR; older versions are accepted for the grace period.
#[utoipa::path(post, path = "/v1/tee/profiles/{name}/rotate", tag = "tee", request_body = RotateBody,
    params(("name" = String, Path, description = "TA profile name")),
    security(("admin" = []), ("admin_cert" = [])),
    responses(
        (status = 201, description = "The new version", body = serde_json::Value),
        (status = 400, description = "Malformed body or grace period", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The profile is revoked", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such profile", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn rotate_profile(
    State(authority): State<Arc<Authority>>,
    name: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let actor = require_admin(&authority, &headers, &peer).await?;
    let name = query::path(name)?;
    let request: RotateBody = json_body(&headers, &body)?;
    let grace = inkan_pki::duration_text::parse(request.grace.as_deref().unwrap_or("7d"))
        .map_err(Problem::bad_request)?;
    let next = authority
        .tee()?
        .rotate_profile(&name, grace, &actor)
        .await?;
    Ok((StatusCode::CREATED, Json(profile_json(&next)?)))
}

/// Revokes every version of a TA profile: its trusted apps enroll nothing more.
#[utoipa::path(post, path = "/v1/tee/profiles/{name}/revoke", tag = "tee",
    params(("name" = String, Path, description = "TA profile name")),
    security(("admin" = []), ("admin_cert" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Revoked already", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such profile", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn revoke_profile(
    State(authority): State<Arc<Authority>>,
    name: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    let actor = require_admin(&authority, &headers, &peer).await?;
    let name = query::path(name)?;
    authority.tee()?.revoke_profile(&name, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A device model.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewModelBody {
    /// 1 to 63 of `a-z 0-9 -`.
    name: String,
}

/// Creates a device model with a fresh master (sealed at rest, never returned).
#[utoipa::path(post, path = "/v1/tee/models", tag = "tee", request_body = NewModelBody,
    security(("admin" = []), ("admin_cert" = [])),
    responses(
        (status = 201, description = "`{name, created_at}`", body = serde_json::Value),
        (status = 400, description = "Malformed body or name, or a name that exists", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn create_model(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let actor = require_admin(&authority, &headers, &peer).await?;
    let request: NewModelBody = json_body(&headers, &body)?;
    let model = authority.tee()?.create_model(&request.name, &actor).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": model.name, "created_at": rfc3339_ms(model.created_at_ms)?})),
    ))
}

/// A device UID to register.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTeeDeviceBody {
    /// 1 to 128 of `A-Z a-z 0-9 . _ : -`.
    uid: String,
    /// Its model.
    model: String,
    /// For a unit with a TPM: its endorsement key's public area (TPMT_PUBLIC or TPM2B_PUBLIC,
    /// base64). Its TA is then sealed to that TPM and no SK_TEE is made.
    #[serde(default)]
    #[schema(format = Byte)]
    ek_public: Option<String>,
}

/// Registers a device UID; answers its SK_TEE once, for the manufacturer to provision (none for
/// a unit registered with its TPM's EK).
#[utoipa::path(post, path = "/v1/tee/devices", tag = "tee", request_body = NewTeeDeviceBody,
    security(("admin" = []), ("admin_cert" = [])),
    responses(
        (status = 201, description = "`{uid, model, device_key, tpm}` (device_key: SK_TEE, hex; null for a TPM unit)", body = serde_json::Value),
        (status = 400, description = "Malformed body or UID, unknown model, or a UID registered already", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid admin token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn register_device(
    State(authority): State<Arc<Authority>>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let actor = require_admin(&authority, &headers, &peer).await?;
    let request: NewTeeDeviceBody = json_body(&headers, &body)?;
    let ek_public = request
        .ek_public
        .as_deref()
        .map(|ek| base64_field("ek_public", ek))
        .transpose()?;
    let registered = authority
        .tee()?
        .register_device(&request.uid, &request.model, ek_public.as_deref(), &actor)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "uid": registered.device.uid,
            "model": registered.device.model,
            "device_key": registered.device_key.map(hex::encode),
            "tpm": registered.device.ek_public.is_some(),
        })),
    ))
}

/// One TEEP message from a device's agent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum TamMessage {
    /// Opens the exchange: the TAM answers with a QueryRequest.
    Hello {
        /// The device UID.
        uid: String,
    },
    /// The device's answer to a QueryRequest.
    QueryResponse {
        /// The device UID.
        uid: String,
        /// The TA profile the device wants (TEEP `requested-tc-list`).
        requested_tc: String,
        /// The version it has installed, if any (TEEP `tc-list`).
        #[serde(default)]
        installed_version: Option<i64>,
        /// A TPM unit: the challenge of the QueryRequest it answers (TEEP `challenge`), base64.
        #[serde(default)]
        #[schema(format = Byte)]
        challenge: Option<String>,
        /// A TPM unit: its device key's TPMT_PUBLIC (created in the TPM), base64; the Update is
        /// sealed to the TPM bound to this key.
        #[serde(default)]
        #[schema(format = Byte)]
        tpm_key: Option<String>,
    },
    /// The device installed the Update.
    Success {
        /// The device UID.
        uid: String,
    },
    /// The device could not install the Update.
    Error {
        /// The device UID.
        uid: String,
        /// What went wrong, at most 512 characters.
        err_msg: String,
    },
}

/// The TAM: `hello` → `query-request` (with the challenge an enrollment must MAC);
/// `query-response` → `update` (the TA bundle sealed to the device) or 204 when the device is
/// current; `success`/`error` → 204.
#[utoipa::path(post, path = "/v1/tee/tam", tag = "tee", request_body = TamMessage,
    responses(
        (status = 200, description = "`{type: query-request, challenge, expires_at, supported_freshness_mechanisms}` or `{type: update, bundle: {uid, profile, version, alg: A256GCM, nonce, ciphertext}, credential?: {credential_blob, encrypted_secret}}` (credential: for a TPM unit)", body = serde_json::Value),
        (status = 204, description = "Nothing to update, or the device's report was recorded"),
        (status = 400, description = "Malformed message or UID", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The TA profile is revoked, or a TPM unit's challenge is not open", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Unknown device or TA profile", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 64 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "The device holds 8 unused challenges already", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn tam(
    State(authority): State<Arc<Authority>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let message: TamMessage = bounded_json(&headers, &body, MAX_TEE_BODY, "TEE requests")?;
    match message {
        TamMessage::Hello { uid } => {
            let query = authority.tee_query(&uid).await?;
            let expires_at = query
                .expires_at
                .format(&Rfc3339)
                .map_err(Problem::internal)?;
            Ok(Json(json!({
                "type": "query-request",
                "challenge": B64.encode(&query.challenge),
                "expires_at": expires_at,
                "supported_freshness_mechanisms": ["nonce"],
                "data_item_requested": ["trusted-components"],
            }))
            .into_response())
        }
        TamMessage::QueryResponse {
            uid,
            requested_tc,
            installed_version,
            challenge,
            tpm_key,
        } => {
            let offer = match (challenge, tpm_key) {
                (Some(challenge), Some(key)) => Some(TpmKeyOffer {
                    challenge: base64_field("challenge", &challenge)?,
                    key_public: base64_field("tpm_key", &key)?,
                }),
                (None, None) => None,
                _ => {
                    return Err(Problem::bad_request(
                        "a TPM unit's query-response carries both challenge and tpm_key",
                    ))
                }
            };
            let update = authority
                .tee_update(&uid, &requested_tc, installed_version, offer.as_ref())
                .await?;
            let Some(update) = update else {
                return Ok(StatusCode::NO_CONTENT.into_response());
            };
            let sealed = update.bundle;
            let mut answer = json!({
                "type": "update",
                "bundle": {
                    "uid": sealed.uid,
                    "profile": sealed.profile,
                    "version": sealed.version,
                    "alg": "A256GCM",
                    "nonce": B64.encode(&sealed.nonce),
                    "ciphertext": B64.encode(&sealed.ciphertext),
                },
            });
            if let Some(credential) = update.credential {
                answer["credential"] = json!({
                    "credential_blob": B64.encode(&credential.credential_blob),
                    "encrypted_secret": B64.encode(&credential.encrypted_secret),
                });
            }
            Ok(Json(answer).into_response())
        }
        TamMessage::Success { uid } => {
            tracing::info!(uid = %uid.escape_debug(), "TEE device reports its TA installed");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        TamMessage::Error { uid, err_msg } => {
            let err_msg: String = err_msg.chars().take(512).collect();
            tracing::warn!(uid = %uid.escape_debug(), error = %err_msg.escape_debug(), "TEE device could not install its TA");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

/// A CSR the trusted app MAC'd.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TeeEnrollmentBody {
    /// The device UID.
    uid: String,
    /// The TA profile.
    profile: String,
    /// The version whose key MAC'd the CSR.
    version: i64,
    /// The challenge of the TAM's QueryRequest.
    #[schema(format = Byte)]
    challenge: String,
    /// PKCS#10 DER.
    #[schema(format = Byte)]
    csr: String,
    /// HMAC-SHA256 under the bundle's CSR key (see docs/tee.md).
    #[schema(format = Byte)]
    mac: String,
    /// A TPM unit: HMAC-SHA256 under the secret its TPM released (see docs/tee.md).
    #[serde(default)]
    #[schema(format = Byte)]
    activation: Option<String>,
}

/// Issues a certificate to a key a TA profile's trusted app generated, with no human in the loop.
#[utoipa::path(post, path = "/v1/tee/enrollments", tag = "tee", request_body = TeeEnrollmentBody,
    responses(
        (status = 201, description = "`{serial, level, certificate, chain}` (PEM)", body = serde_json::Value),
        (status = 400, description = "Malformed body, CSR, or CSR contents the TA profile does not ask for", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The MAC does not verify, the challenge is another device's, the version is retired or the profile revoked, or the policy refused", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Unknown device, challenge, profile or version", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The challenge was used already", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 410, description = "The challenge expired", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 64 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "The upstream certificate authority failed", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn enroll(
    State(authority): State<Arc<Authority>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let request: TeeEnrollmentBody = bounded_json(&headers, &body, MAX_TEE_BODY, "TEE requests")?;
    let request = TeeEnrollRequest {
        uid: request.uid,
        profile: request.profile,
        version: request.version,
        challenge: base64_field("challenge", &request.challenge)?,
        csr: base64_field("csr", &request.csr)?,
        mac: base64_field("mac", &request.mac)?,
        activation: request
            .activation
            .as_deref()
            .map(|a| base64_field("activation", a))
            .transpose()?,
    };
    let enrolled = authority.tee_enroll(&request).await?;
    let certificate = der_to_pem("CERTIFICATE", &enrolled.issued.der);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "serial": enrolled.issued.serial,
            "level": enrolled.level,
            "certificate": certificate,
            "chain": format!("{certificate}{}", der_to_pem("CERTIFICATE", &enrolled.issuing_der)),
        })),
    ))
}
