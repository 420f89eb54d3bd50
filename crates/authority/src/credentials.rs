//! Administrator and enrollment credentials: admin tokens and EST secrets, made here and
//! stored only as hashes. Needs only the store.

use std::sync::Arc;

use base64::Engine;
use inkan_store::Store;
use rand::RngCore;
use time::OffsetDateTime;

use crate::{generate_secret, hash_secret, unix_ms, AuthorityError};

/// Admin tokens and EST secrets. Cheap to clone; needs only the store.
#[derive(Clone)]
pub struct Credentials {
    store: Arc<dyn Store>,
    clock: fn() -> OffsetDateTime,
}

impl Credentials {
    /// The credentials kept in `store`, on the system clock.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_clock(store, OffsetDateTime::now_utc)
    }

    /// The credentials kept in `store`, on another clock.
    pub fn with_clock(store: Arc<dyn Store>, clock: fn() -> OffsetDateTime) -> Self {
        Self { store, clock }
    }

    /// Creates an admin token named `name` (audited) and returns it: it is shown once, only its
    /// SHA-256 is stored.
    pub async fn create_admin_token(
        &self,
        name: &str,
        actor: &str,
    ) -> Result<String, AuthorityError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = format!(
            "inkan_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        self.store
            .create_admin_token(
                &inkan_pki::sha256_hex(token.as_bytes()),
                name,
                actor,
                unix_ms((self.clock)()),
            )
            .await?;
        Ok(token)
    }

    /// The name of the admin token `token`, if it is one.
    pub async fn admin_token(&self, token: &str) -> Result<Option<String>, AuthorityError> {
        let hash = inkan_pki::sha256_hex(token.as_bytes());
        Ok(self.store.admin_token(&hash).await?)
    }

    /// Makes a new EST secret for `label` (replacing any earlier one), audited, and returns it:
    /// it is shown once, only its argon2id hash is stored.
    pub async fn create_est_secret(
        &self,
        label: &str,
        actor: &str,
    ) -> Result<String, AuthorityError> {
        let secret = generate_secret();
        self.store
            .set_est_secret(
                label,
                &hash_secret(&secret)?,
                actor,
                unix_ms((self.clock)()),
            )
            .await?;
        Ok(secret)
    }
}
