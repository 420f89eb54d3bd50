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

    /// The id (SHA-256, hex) and name of the admin token `token`, if it is one (a console login
    /// link's token is not).
    pub async fn admin_token_id(
        &self,
        token: &str,
    ) -> Result<Option<(String, String)>, AuthorityError> {
        let hash = inkan_pki::sha256_hex(token.as_bytes());
        Ok(self
            .store
            .admin_token(&hash)
            .await?
            .filter(|name| name != CONSOLE_LINK)
            .map(|name| (hash, name)))
    }

    /// Whether the admin token with this id (SHA-256, hex) still exists.
    pub async fn admin_token_exists(&self, id: &str) -> Result<bool, AuthorityError> {
        Ok(self.store.admin_token(id).await?.is_some())
    }

    /// Makes a new EST secret for `label` (replacing any earlier one), audited, and returns it:
    /// it is shown once, only its argon2id hash is stored. Refuses labels `config` does not
    /// know and those that would select a profile no EST secret may reach, saying why.
    pub async fn create_est_secret(
        &self,
        config: &crate::Config,
        label: &str,
        actor: &str,
    ) -> Result<String, AuthorityError> {
        config.est_label(label).map_err(AuthorityError::Invalid)?;
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

    /// Every EST secret's label and when it was set.
    pub async fn est_secrets(&self) -> Result<Vec<inkan_store::EstSecretEntry>, AuthorityError> {
        Ok(self.store.est_secrets().await?)
    }

    /// Revokes a label's EST secret (audited): its clients cannot enroll until a new one is
    /// made. False if the label has none.
    pub async fn revoke_est_secret(
        &self,
        label: &str,
        actor: &str,
    ) -> Result<bool, AuthorityError> {
        Ok(self
            .store
            .revoke_est_secret(label, actor, unix_ms((self.clock)()))
            .await?)
    }

    /// Every admin token (by its SHA-256 id), newest first.
    pub async fn admin_tokens(&self) -> Result<Vec<inkan_store::AdminTokenEntry>, AuthorityError> {
        Ok(self.store.admin_tokens().await?)
    }

    /// Revokes the admin token with this id (its SHA-256, hex, as `admin_tokens` lists it; a
    /// unique prefix of at least 8 digits will do), audited; returns its name, None if no token
    /// has that id. Sessions it opened in the console end when their cookie expires.
    pub async fn revoke_admin_token(
        &self,
        id: &str,
        actor: &str,
    ) -> Result<Option<String>, AuthorityError> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 8 || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthorityError::Invalid(format!(
                "{id:?} is not a token id: give its SHA-256 (hex, at least 8 digits) as `inkan admin token list` shows it"
            )));
        }
        let matching: Vec<String> = self
            .admin_tokens()
            .await?
            .into_iter()
            .map(|t| t.id)
            .filter(|t| t.starts_with(&id))
            .collect();
        let full = match matching.as_slice() {
            [] => return Ok(None),
            [one] => one.clone(),
            _ => {
                return Err(AuthorityError::Invalid(format!(
                    "{} tokens start with {id}: give more digits",
                    matching.len()
                )))
            }
        };
        Ok(self
            .store
            .revoke_admin_token(&full, actor, unix_ms((self.clock)()))
            .await?)
    }
}
