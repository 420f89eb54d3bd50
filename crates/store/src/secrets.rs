//! The secrets aggregate: EST enrollment secrets and admin tokens, stored as hashes only.

use async_trait::async_trait;

use crate::StoreError;

/// An EST secret as listed: its label and when it was set (never the secret or its hash).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EstSecretEntry {
    /// The EST label (`/.well-known/est/LABEL/...`).
    pub label: String,
    /// Unix milliseconds when it was last set.
    pub created_at_ms: i64,
}

/// An admin token as listed: the SHA-256 it is stored by (not secret: it identifies the token,
/// it cannot be used as one), its name and when it was made.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AdminTokenEntry {
    /// SHA-256 of the token, hex: the id to revoke it by.
    pub id: String,
    /// Its name (the audit log's actor is `token:NAME`).
    pub name: String,
    /// Unix milliseconds when it was made.
    pub created_at_ms: i64,
}

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

    /// Every EST secret's label, by label.
    async fn est_secrets(&self) -> Result<Vec<EstSecretEntry>, StoreError>;

    /// Deletes a label's EST secret, audited (`est.secret.revoked`): enrollment with it stops at
    /// once. False if the label has none.
    async fn revoke_est_secret(
        &self,
        label: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Every admin token (console login links included), newest first.
    async fn admin_tokens(&self) -> Result<Vec<AdminTokenEntry>, StoreError>;

    /// Deletes the admin token with this SHA-256, audited (`admin.token.revoked`); returns its
    /// name, None if there is no such token.
    async fn revoke_admin_token(
        &self,
        token_sha256: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<Option<String>, StoreError>;
}
