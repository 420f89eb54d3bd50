//! Admin bearer tokens: `Authorization: Bearer <token>`, looked up by SHA-256.

use axum::http::{header, HeaderMap};
use inkan_authority::Authority;

use crate::problem::Problem;

pub(crate) enum AdminCheck {
    /// A valid token; the audit actor.
    Admin(String),
    /// A bearer token that is not valid.
    BadToken,
    /// No bearer token.
    NoToken,
}

pub(crate) async fn admin_actor(
    authority: &Authority,
    headers: &HeaderMap,
) -> Result<AdminCheck, Problem> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(AdminCheck::NoToken);
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Ok(AdminCheck::NoToken);
    };
    let hash = inkan_pki::sha256_hex(token.trim().as_bytes());
    Ok(match authority.store().admin_token(&hash).await? {
        Some(name) => AdminCheck::Admin(format!("token:{name}")),
        None => AdminCheck::BadToken,
    })
}
