//! `POST /v1/attestations/verify`: a device's signed location report (RFC 9711 EAT as
//! COSE_Sign1), checked against the certificate it names; the answer is the claims and a
//! verdict.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use inkan_authority::Authority;
use serde::Deserialize;
use serde_json::json;

use crate::problem::{Problem, ProblemDetails};
use crate::registry_api::{base64_field, bounded_json};

/// A report is at most 16 KiB; its JSON envelope a little more.
const MAX_BODY: usize = 24 * 1024;

pub(crate) fn routes() -> Router<Arc<Authority>> {
    Router::new().route("/v1/attestations/verify", post(verify))
}

/// A token to verify.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    /// The COSE_Sign1 (tagged or not), base64.
    #[schema(format = Byte)]
    eat: String,
}

/// Verifies a location report: the certificate named by `kid` must be TEE-provisioned, valid
/// and not revoked; the signature its key's; `ueid` its device's; `iat` within 5 minutes; and
/// `nonce` a fresh TAM challenge of that device, spent now (a replay is refused).
#[utoipa::path(post, path = "/v1/attestations/verify", tag = "tee", request_body = VerifyBody,
    responses(
        (status = 200, description = "`{verdict: accepted|refused, reason?, serial, uid?, claims: {ueid, nonce, iat, location: {latitude, longitude, accuracy?}}}`", body = serde_json::Value),
        (status = 400, description = "Not base64, not a COSE_Sign1, or not an EAT of the expected shape", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 24 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Failed on the server", body = ProblemDetails, content_type = "application/problem+json")))]
pub(crate) async fn verify(
    State(authority): State<Arc<Authority>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Problem> {
    let request: VerifyBody = bounded_json(&headers, &body, MAX_BODY, "verification requests")?;
    let token = base64_field("eat", &request.eat)?;
    let verdict = authority.verify_location(&token).await?;
    let claims = &verdict.claims;
    let mut location = json!({"latitude": claims.latitude, "longitude": claims.longitude});
    if let Some(accuracy) = claims.accuracy {
        location["accuracy"] = json!(accuracy);
    }
    Ok(Json(json!({
        "verdict": if verdict.accepted { "accepted" } else { "refused" },
        "reason": verdict.reason,
        "serial": verdict.serial,
        "uid": verdict.uid,
        "claims": {
            "ueid": hex::encode(&claims.ueid),
            "nonce": B64.encode(&claims.nonce),
            "iat": claims.iat,
            "location": location,
        },
    })))
}
