//! The key that seals the authority's secrets at rest (TA profiles' SK_CSR, device models'
//! masters): AES-256-GCM, each sealed value bound to what it is by its associated data, so a
//! value moved to another row does not open. The key lives in the data directory's
//! `ca/sealing.key` (0600), beside the CA keys, and every replica needs the same file.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

use crate::AuthorityError;

/// The format byte that starts every sealed value.
const FORMAT: u8 = 1;

/// The sealing key.
#[derive(Clone)]
pub struct SealingKey {
    cipher: Aes256Gcm,
    login_ikm: [u8; 32],
    console_key: [u8; 32],
}

/// A 32-byte key derived from the sealing key for one purpose (HKDF-SHA256).
fn derived(key: &[u8; 32], purpose: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let expanded = hkdf::Hkdf::<sha2::Sha256>::new(None, key).expand(purpose, &mut out);
    debug_assert!(expanded.is_ok(), "32 bytes is within HKDF-SHA256's output");
    out
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

impl SealingKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
            login_ikm: derived(key, b"inkan-login-hpke-v1"),
            console_key: derived(key, b"inkan-console-session-v1"),
        }
    }

    /// A fresh random key and its hex form (what the key file holds).
    pub fn generate() -> (Self, String) {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        (Self::from_bytes(&key), hex::encode(key))
    }

    /// The authority's HPKE login key (linked devices seal their session keys to it), derived
    /// from this key, so every replica holding `ca/sealing.key` has the same one.
    pub fn login_key(&self) -> inkan_attest::LoginKey {
        inkan_attest::LoginKey::derive(&self.login_ikm)
    }

    /// The key that signs console sessions (HMAC-SHA256), the same on every replica.
    pub fn console_key(&self) -> [u8; 32] {
        self.console_key
    }

    /// Reads the key file (64 hex characters).
    pub fn load(path: &Path) -> Result<Self, AuthorityError> {
        let text = std::fs::read_to_string(path).map_err(|e| AuthorityError::io(path, e))?;
        let key = hex::decode(text.trim())
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| {
                AuthorityError::Ca(format!(
                    "{}: not a sealing key (64 hex characters)",
                    path.display()
                ))
            })?;
        Ok(Self::from_bytes(&key))
    }

    /// Seals `plaintext` as the value named `purpose` (e.g. `tee-profile:meter:2`).
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Vec<u8>, AuthorityError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| AuthorityError::Ca("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + 12 + ciphertext.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens a value sealed as `purpose`; an error if another key sealed it, it was sealed as
    /// something else, or it changed.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, AuthorityError> {
        let refused = || {
            AuthorityError::Ca(format!(
                "the sealed {purpose} does not open with ca/sealing.key: every replica needs the same ca/sealing.key"
            ))
        };
        match sealed {
            [FORMAT, rest @ ..] if rest.len() > 12 => {
                let (nonce, ciphertext) = rest.split_at(12);
                self.cipher
                    .decrypt(
                        Nonce::from_slice(nonce),
                        Payload {
                            msg: ciphertext,
                            aad: purpose.as_bytes(),
                        },
                    )
                    .map_err(|_| refused())
            }
            _ => Err(refused()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_as_itself_with_its_key() {
        let (key, _) = SealingKey::generate();
        let sealed = key.seal("tee-profile:meter:1", b"secret").unwrap();
        assert_eq!(key.open("tee-profile:meter:1", &sealed).unwrap(), b"secret");
        assert!(key.open("tee-profile:meter:2", &sealed).is_err());
        let (other, _) = SealingKey::generate();
        assert!(other.open("tee-profile:meter:1", &sealed).is_err());
        let mut changed = sealed.clone();
        changed[20] ^= 1;
        assert!(key.open("tee-profile:meter:1", &changed).is_err());
        assert!(key.open("tee-profile:meter:1", &[]).is_err());
        assert!(!format!("{key:?}").contains("secret"));
    }

    #[test]
    fn the_key_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let (key, hex_key) = SealingKey::generate();
        let path = dir.path().join("sealing.key");
        std::fs::write(&path, format!("{hex_key}\n")).unwrap();
        let loaded = SealingKey::load(&path).unwrap();
        let sealed = key.seal("x", b"y").unwrap();
        assert_eq!(loaded.open("x", &sealed).unwrap(), b"y");
        std::fs::write(&path, "zz").unwrap();
        assert!(SealingKey::load(&path).is_err());
    }
}
