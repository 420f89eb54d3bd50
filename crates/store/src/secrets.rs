//! The secrets aggregate: EST enrollment secrets and admin tokens, stored as hashes only.

use async_trait::async_trait;

use crate::StoreError;

/// EST secrets (argon2 PHC strings) and admin tokens (SHA-256). Each method is atomic.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// Sets (creates or replaces) the EST secret of a label, audited.
    async fn set_est_secret(
        &self,
        label: &str,
        phc: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// The argon2 PHC string of a label's EST secret.
    async fn est_secret(&self, label: &str) -> Result<Option<String>, StoreError>;

    /// Stores a new admin token by its SHA-256 (hex), audited; [`StoreError::Conflict`] if that
    /// hash is stored already.
    async fn create_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// The name of the admin token with this SHA-256, if it exists.
    async fn admin_token(&self, token_sha256: &str) -> Result<Option<String>, StoreError>;

    /// Deletes the admin token with this SHA-256 if it is named `name` (a single-use kind),
    /// audited (`admin.token.consumed`); returns whether it did. False if there is no such
    /// token (used already, never made, or another kind); of two parallel calls, one gets it.
    async fn take_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;
}
