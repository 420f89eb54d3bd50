//! Administrator and enrollment credentials: admin tokens and EST secrets, made here and
//! stored only as hashes. Needs only the store.

use std::sync::Arc;

use base64::Engine;
use inkan_store::Store;
use rand::RngCore;
use time::OffsetDateTime;

use crate::{generate_secret, hash_secret, unix_ms, AuthorityError};

/// The name of single-use admin tokens behind one-time console login links.
pub const CONSOLE_LINK: &str = "console-link";

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

    /// A one-time console login link's token: a single-use admin token named
    /// [`CONSOLE_LINK`], taken by [`Credentials::take_console_link`].
    pub async fn create_console_link(&self, actor: &str) -> Result<String, AuthorityError> {
        self.create_admin_token(CONSOLE_LINK, actor).await
    }

    /// Uses up a console login link's token; false if it is not one (used already, or another
    /// kind of token, which is left alone).
    pub async fn take_console_link(
        &self,
        token: &str,
        actor: &str,
    ) -> Result<bool, AuthorityError> {
        let hash = inkan_pki::sha256_hex(token.as_bytes());
        Ok(self
            .store
            .take_admin_token(&hash, CONSOLE_LINK, actor, unix_ms((self.clock)()))
            .await?)
    }

    /// The name of the admin token `token`, if it is one.
    /// A console login link's token is not one: it only opens a console session, once.
    pub async fn admin_token(&self, token: &str) -> Result<Option<String>, AuthorityError> {
        let hash = inkan_pki::sha256_hex(token.as_bytes());
        Ok(self
            .store
            .admin_token(&hash)
            .await?
            .filter(|name| name != CONSOLE_LINK))
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
