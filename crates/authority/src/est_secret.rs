use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use inkan_store::Store;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AuthorityError;

/// How long a label's stored hash is trusted before it is read again (secret rotation delay).
const REFRESH: Duration = Duration::from_secs(2);
/// How many distinct verified secrets per label are remembered.
const REMEMBERED: usize = 16;

/// A new enrollment secret: 256 random bits, base64url without padding.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The argon2id PHC string stored for a secret.
pub fn hash_secret(secret: &str) -> Result<String, AuthorityError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthorityError::Config(format!("argon2: {e}")))
}

/// Checks EST secrets against the store's argon2id hashes.
///
/// Argon2 is slow on purpose; to keep enrollment fast under load, a secret that verified once
/// is remembered by its SHA-256 (compared in constant time) until the stored hash changes.
pub struct SecretVerifier {
    store: Arc<dyn Store>,
    cache: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    phc: Option<String>,
    fetched: Instant,
    verified: Vec<[u8; 32]>,
}

impl SecretVerifier {
    /// A verifier reading hashes from `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `secret` is the current secret of `label`.
    pub async fn verify(&self, label: &str, secret: &str) -> Result<bool, AuthorityError> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let phc = match self.cached(label, &digest) {
            Lookup::Verified => return Ok(true),
            Lookup::Phc(phc) => phc,
            Lookup::Stale => {
                let phc = self.store.est_secret(label).await?;
                self.refresh(label, phc.clone());
                // The stored hash may be unchanged: then a remembered secret still counts.
                if let Lookup::Verified = self.cached(label, &digest) {
                    return Ok(true);
                }
                phc
            }
        };
        let Some(phc) = phc else { return Ok(false) };
        let owned = secret.to_string();
        let phc_for_check = phc.clone();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc_for_check)
                .map(|h| {
                    Argon2::default()
                        .verify_password(owned.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if ok {
            self.remember(label, &phc, digest);
        }
        Ok(ok)
    }

    /// Forgets what is remembered of `label`, so the next check reads the store: after its
    /// secret was replaced or revoked here. (Other replicas notice within the refresh delay.)
    pub fn forget(&self, label: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(label);
        }
    }

    fn cached(&self, label: &str, digest: &[u8; 32]) -> Lookup {
        let Ok(cache) = self.cache.lock() else {
            return Lookup::Stale;
        };
        match cache.get(label) {
            Some(e) if e.fetched.elapsed() < REFRESH => {
                let hit = e
                    .verified
                    .iter()
                    .fold(0u8, |acc, v| acc | v.ct_eq(digest).unwrap_u8());
                if hit == 1 {
                    Lookup::Verified
                } else {
                    Lookup::Phc(e.phc.clone())
                }
            }
            _ => Lookup::Stale,
        }
    }

    fn refresh(&self, label: &str, phc: Option<String>) {
        if let Ok(mut cache) = self.cache.lock() {
            let entry = cache.entry(label.to_string()).or_insert_with(|| Entry {
                phc: None,
                fetched: Instant::now(),
                verified: Vec::new(),
            });
            if entry.phc != phc {
                entry.verified.clear();
                entry.phc = phc;
            }
            entry.fetched = Instant::now();
        }
    }

    fn remember(&self, label: &str, phc: &str, digest: [u8; 32]) {
        if let Ok(mut cache) = self.cache.lock() {
            if let Some(entry) = cache.get_mut(label) {
                if entry.phc.as_deref() == Some(phc) && entry.verified.len() < REMEMBERED {
                    entry.verified.push(digest);
                }
            }
        }
    }
}

enum Lookup {
    Verified,
    Phc(Option<String>),
    Stale,
}

#[cfg(test)]
mod tests;
