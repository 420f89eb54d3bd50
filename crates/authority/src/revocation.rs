//! Revoking a certificate: the one service function behind `inkan cert revoke` and
//! [`crate::Authority::revoke`] (which also refreshes OCSP and the feed of a running authority).

use inkan_pki::RevocationReason;
use inkan_store::{CascadeRule, Revocation, RevokeResult, Store};

use crate::AuthorityError;

/// Revokes `serial` at `revoked_at` (Unix seconds), durably and audited; idempotent (see
/// [`inkan_store::RevokeOutcome`]). With `cascade`, the certificates enrolled with it follow
/// as [`crate::cascade_to`] decides.
pub async fn revoke(
    store: &dyn Store,
    serial: &str,
    reason: RevocationReason,
    revoked_at: i64,
    actor: &str,
    cascade: bool,
) -> Result<RevokeResult, AuthorityError> {
    let rule: &dyn CascadeRule = &crate::rules::cascade_to;
    let revocation = Revocation {
        serial,
        reason: reason.name(),
        revoked_at,
        actor,
    };
    Ok(store.revoke(revocation, cascade.then_some(rule)).await?)
}
