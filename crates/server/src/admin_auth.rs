//! Administrators of the `/v1` API: a bearer token (`Authorization: Bearer <token>`, looked up by
//! SHA-256), or a TLS client certificate of the `admin` profile (`inkan admin cert create`).

use axum::http::{header, HeaderMap};
use inkan_authority::Authority;

use crate::client_cert::VerifyPeer;
use crate::problem::Problem;
use crate::PeerCertificates;

pub(crate) enum AdminCheck {
    /// A valid token or admin certificate; the audit actor.
    Admin(String),
    /// A bearer token that is not valid.
    BadToken,
    /// No bearer token, and no admin certificate.
    NoToken,
}

pub(crate) async fn admin_actor(
    authority: &Authority,
    headers: &HeaderMap,
    peer: &PeerCertificates,
) -> Result<AdminCheck, Problem> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    if let Some(token) = bearer {
        return Ok(
            match authority.credentials().admin_token(token.trim()).await? {
                Some(name) => AdminCheck::Admin(format!("token:{name}")),
                None => AdminCheck::BadToken,
            },
        );
    }
    // A client certificate counts only if it is valid, not revoked, and of the admin profile.
    if let Ok(client) = peer.verify(authority).await {
        if let Some(record) = authority.certificate(&client.info.serial).await? {
            if record.profile == "admin" {
                return Ok(AdminCheck::Admin(format!(
                    "admin-cert:{}",
                    client.info.serial
                )));
            }
        }
    }
    Ok(AdminCheck::NoToken)
}
