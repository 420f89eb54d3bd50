//! `/v1/tpm/*`: TPM 2.0-attested enrollment (wire contract in the TPM enrollment spec), and
//! `/v1/certificates/{serial}/attestation`: the evidence a certificate was issued on.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use inkan_authority::{Authority, TpmActivationRequest, TpmEnrollRequest};
use inkan_pki::Serial;
use serde::Deserialize;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::admin_auth::{admin_actor, AdminCheck};
use crate::client_cert::VerifyPeer;
use crate::problem::{Problem, ProblemDetails};
use crate::query;
use crate::registry_api::{base64_field, bounded_json};
use crate::PeerCertificates;

/// The contract bounds TPM request bodies to 64 KiB whatever the server-wide limit is.
const MAX_TPM_BODY: usize = 64 * 1024;

pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/v1/tpm/activations", post(activate))
        .route("/v1/tpm/enrollments", post(enroll))
        .route("/v1/certificates/{serial}/attestation", get(attestation))
}

/// A TPM asking for a credential bound to its AK (binary fields base64, TPM wire format).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivationBody {
    /// The EK certificate, DER (optional when the EK public is allow-listed).
    #[serde(default)]
    #[schema(format = Byte)]
    ek_certificate: Option<String>,
    /// The EK's TPMT_PUBLIC.
    #[schema(format = Byte)]
    ek_public: String,
    /// The AK's TPMT_PUBLIC (restricted signing key, fixedTPM, fixedParent).
    #[schema(format = Byte)]
    ak_public: String,
}

/// Evidence for a TPM-resident key (binary fields base64, TPM wire format).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollmentBody {
    /// From the activation.
    #[schema(pattern = "^[0-9a-fA-F]{32}$")]
    activation_id: String,
    /// The credential recovered with TPM2_ActivateCredential (32 bytes).
    #[schema(format = Byte)]
    secret: String,
    /// TPMS_ATTEST of TPM2_Certify over the device key, qualifying data = the nonce.
    #[schema(format = Byte)]
    attest: String,
    /// TPMT_SIGNATURE of the AK over `attest`.
    #[schema(format = Byte)]
    signature: String,
    /// The device key's TPMT_PUBLIC.
    #[schema(format = Byte)]
    key_public: String,
    /// PKCS#10 DER signed by the device key.
    #[schema(format = Byte)]
    csr: String,
}

fn rfc3339(t: OffsetDateTime) -> Result<String, Problem> {
    t.format(&Rfc3339).map_err(Problem::internal)
}

/// Seals a fresh activation secret to the TPM's EK, bound to its AK (TPM2_MakeCredential).
#[utoipa::path(post, path = "/v1/tpm/activations", tag = "tpm", request_body = ActivationBody,
    responses(
        (status = 201, description = "`{activation_id, credential_blob, encrypted_secret, nonce, expires_at}`", body = serde_json::Value),
        (status = 400, description = "Malformed body or TPM structure", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Evidence refused; `detail` names the failed check", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 64 KiB or the server's limit", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "The EK holds 8 unused activations already", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn activate(
    State(authority): State<Arc<Authority>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let request: ActivationBody = bounded_json(&headers, &body, MAX_TPM_BODY, "TPM requests")?;
    let request = TpmActivationRequest {
        ek_certificate: request
            .ek_certificate
            .as_deref()
            .map(|c| base64_field("ek_certificate", c))
            .transpose()?,
        ek_public: base64_field("ek_public", &request.ek_public)?,
        ak_public: base64_field("ak_public", &request.ak_public)?,
    };
    let activation = authority.tpm_activate(&request).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "activation_id": activation.activation_id,
            "credential_blob": B64.encode(&activation.credential_blob),
            "encrypted_secret": B64.encode(&activation.encrypted_secret),
            "nonce": B64.encode(&activation.nonce),
            "expires_at": rfc3339(activation.expires_at)?,
        })),
    ))
}

/// Issues a level-3 certificate to a TPM-certified key; the chain is encrypted for that TPM.
#[utoipa::path(post, path = "/v1/tpm/enrollments", tag = "tpm", request_body = EnrollmentBody,
    responses(
        (status = 201, description = "`{serial, level, delivery: {alg: A256GCM, nonce, ciphertext}}`", body = serde_json::Value),
        (status = 400, description = "Malformed body, TPM structure or CSR", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Evidence refused, or refused by the authorization policy (a `urn:inkan:` name, a common name outside the name policy); `detail` names the failed check or rule", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Unknown activation", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Activation already used", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 410, description = "Activation expired", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 64 KiB or the server's limit", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "The upstream certificate authority failed", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn enroll(
    State(authority): State<Arc<Authority>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let request: EnrollmentBody = bounded_json(&headers, &body, MAX_TPM_BODY, "TPM requests")?;
    let id = request.activation_id.trim();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Problem::bad_request(
            "activation_id must be 32 hex characters",
        ));
    }
    let request = TpmEnrollRequest {
        activation_id: id.to_ascii_lowercase(),
        secret: base64_field("secret", &request.secret)?,
        attest: base64_field("attest", &request.attest)?,
        signature: base64_field("signature", &request.signature)?,
        key_public: base64_field("key_public", &request.key_public)?,
        csr: base64_field("csr", &request.csr)?,
    };
    let enrolled = authority.tpm_enroll(&request).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "serial": enrolled.issued.serial,
            "level": 3,
            "delivery": {
                "alg": "A256GCM",
                "nonce": B64.encode(&enrolled.delivery.nonce),
                "ciphertext": B64.encode(&enrolled.delivery.ciphertext),
            },
        })),
    ))
}

/// The TPM or TEE evidence behind a certificate: for an admin, or for the holder over mTLS.
#[utoipa::path(get, path = "/v1/certificates/{serial}/attestation", tag = "tpm",
    params(("serial" = String, Path, description = "Certificate serial, hex", pattern = "^[0-9A-Fa-f]{1,40}$")),
    security(("admin" = []), ("admin_cert" = []), ("mtls" = [])),
    responses(
        (status = 200, description = "`method: tpm2`: EK certificate fingerprint and issuer, AK name, key name, checks, time; `method: tee`: UID, model, TA profile and version, key storage, identity fields, checks, time", body = serde_json::Value),
        (status = 400, description = "Malformed serial", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Neither admin token nor a client certificate", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "A client certificate may read only its own attestation", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No TPM or TEE attestation for this serial", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn attestation(
    State(authority): State<Arc<Authority>>,
    serial: Result<Path<String>, PathRejection>,
    Extension(peer): Extension<PeerCertificates>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    let holder = match admin_actor(&authority, &headers, &peer).await? {
        AdminCheck::Admin(_) => None,
        AdminCheck::BadToken => {
            return Err(Problem::unauthorized(
                "the bearer token is not a valid admin token",
            ))
        }
        AdminCheck::NoToken => match peer.verify(&authority).await {
            Ok(client) => Some(client.info.serial.clone()),
            Err(_) => {
                return Err(Problem::unauthorized(
                    "authenticate with an admin token, or with this certificate over mTLS",
                ))
            }
        },
    };
    let serial: Serial = query::path(serial)?
        .parse()
        .map_err(|e: inkan_pki::PkiError| Problem::bad_request(e.to_string()))?;
    let serial = serial.to_string();
    if holder.is_some_and(|own| own != serial) {
        return Err(Problem::forbidden(
            "a client certificate may read only its own attestation",
        ));
    }
    let Some(evidence) = authority.tpm_attestation(&serial).await? else {
        let evidence = authority.tee_attestation(&serial).await?.ok_or_else(|| {
            Problem::not_found(format!(
                "no TPM or TEE attestation for certificate {serial}"
            ))
        })?;
        let verified_at = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(evidence.verified_at_ms) * 1_000_000,
        )
        .map_err(Problem::internal)?;
        let identity: serde_json::Map<String, serde_json::Value> = evidence
            .identity
            .iter()
            .map(|(field, value)| (field.clone(), json!(value)))
            .collect();
        return Ok(Json(json!({
            "serial": evidence.serial,
            "method": "tee",
            "uid": evidence.uid,
            "model": evidence.model,
            "ta_profile": evidence.profile,
            "ta_version": evidence.version,
            "key_storage": evidence.key_storage,
            "identity": identity,
            "checks": evidence.checks,
            "verified_at": rfc3339(verified_at)?,
        })));
    };
    let verified_at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(evidence.verified_at_ms) * 1_000_000)
            .map_err(Problem::internal)?;
    Ok(Json(json!({
        "serial": evidence.serial,
        "method": "tpm2",
        "ek_certificate_sha256": evidence.ek_cert_sha256,
        "ek_issuer": evidence.ek_issuer,
        "ek_public_sha256": evidence.ek_public_sha256,
        "ak_name": evidence.ak_name,
        "key_name": evidence.key_name,
        "checks": evidence.checks,
        "verified_at": rfc3339(verified_at)?,
    })))
}
