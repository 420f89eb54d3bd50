//! The session key of a linked device's login (DESIGN §4.4; the paper's session key, with HPKE
//! instead of raw RSA). The device seals a fresh 32-byte key to the authority's login key with
//! HPKE (RFC 9180: base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM), bound to
//! its registration number and nonce; the sealed key is part of the login request the anchor
//! signs. The authority opens it and, with the certificate the approval produces, returns a
//! proof keyed by it, so the device knows the certificate comes from the holder of the login
//! key, whatever terminated its TLS connection. Pure: no IO.

use hpke::aead::AesGcm128;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as KemTrait, OpModeR, OpModeS, Serializable};
use rand::RngCore;
use ring::hmac;
use thiserror::Error;

type Kem = X25519HkdfSha256;

/// The HPKE suite, as the authority publishes it.
pub const LOGIN_SESSION_SUITE: &str = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM";
/// Length of a session key.
pub const SESSION_KEY_LEN: usize = 32;
/// Length of a sealed session key: the encapsulated key (32), the sealed key (32) and its tag (16).
pub const SEALED_SESSION_LEN: usize = 32 + SESSION_KEY_LEN + 16;

const INFO: &[u8] = b"inkan-login-session-v1";
const PROOF_DOMAIN: &[u8] = b"inkan-login-result-v1";

/// Why a session key did not seal or open.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SessionError {
    /// The login key is not an X25519 public key.
    #[error("the authority's login key is not an X25519 public key")]
    PublicKey,
    /// The sealed session key is malformed, or sealed to another key, device or nonce.
    #[error("the sealed session key does not open with the login key for this device and nonce")]
    Open,
    /// Sealing failed.
    #[error("sealing the session key failed")]
    Seal,
}

fn aad(registration: &str, nonce: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + registration.len() + nonce.len());
    for part in [registration.as_bytes(), nonce] {
        out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The authority's login key pair.
pub struct LoginKey {
    private: <Kem as KemTrait>::PrivateKey,
    public: Vec<u8>,
}

impl std::fmt::Debug for LoginKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoginKey({})", hex::encode(&self.public))
    }
}

impl LoginKey {
    /// The key pair RFC 9180's DeriveKeyPair makes from `ikm` (at least 32 secret bytes).
    pub fn derive(ikm: &[u8]) -> Self {
        let (private, public) = Kem::derive_keypair(ikm);
        Self {
            private,
            public: public.to_bytes().to_vec(),
        }
    }

    /// The public key (32 bytes), what devices seal to.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// Opens a session key sealed by device `registration` with `nonce`.
    pub fn open(
        &self,
        sealed: &[u8],
        registration: &str,
        nonce: &[u8],
    ) -> Result<[u8; SESSION_KEY_LEN], SessionError> {
        if sealed.len() != SEALED_SESSION_LEN {
            return Err(SessionError::Open);
        }
        let (enc, ciphertext) = sealed.split_at(32);
        let enc =
            <Kem as KemTrait>::EncappedKey::from_bytes(enc).map_err(|_| SessionError::Open)?;
        let plain = hpke::single_shot_open::<AesGcm128, HkdfSha256, Kem>(
            &OpModeR::Base,
            &self.private,
            &enc,
            INFO,
            ciphertext,
            &aad(registration, nonce),
        )
        .map_err(|_| SessionError::Open)?;
        plain.try_into().map_err(|_| SessionError::Open)
    }
}

/// A device makes a fresh session key and seals it to the authority's `login_key` for its
/// `registration` and `nonce`: (the key, the sealed key).
pub fn seal_session(
    login_key: &[u8],
    registration: &str,
    nonce: &[u8],
) -> Result<([u8; SESSION_KEY_LEN], Vec<u8>), SessionError> {
    let public =
        <Kem as KemTrait>::PublicKey::from_bytes(login_key).map_err(|_| SessionError::PublicKey)?;
    let mut key = [0u8; SESSION_KEY_LEN];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let (enc, ciphertext) = hpke::single_shot_seal::<AesGcm128, HkdfSha256, Kem>(
        &OpModeS::Base,
        &public,
        INFO,
        &key,
        &aad(registration, nonce),
    )
    .map_err(|_| SessionError::Seal)?;
    let mut sealed = enc.to_bytes().to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok((key, sealed))
}

fn proof_message(login_id: &str, certificate_der: &[u8]) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, certificate_der);
    let mut out = PROOF_DOMAIN.to_vec();
    out.extend_from_slice(
        &u32::try_from(login_id.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(login_id.as_bytes());
    out.extend_from_slice(digest.as_ref());
    out
}

/// The authority's proof, keyed by the session key, that it issued `certificate_der` for login
/// `login_id`: HMAC-SHA256(session key, domain ‖ login id ‖ SHA-256(certificate)).
pub fn session_proof(session_key: &[u8], login_id: &str, certificate_der: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, session_key);
    hmac::sign(&key, &proof_message(login_id, certificate_der))
        .as_ref()
        .to_vec()
}

/// Checks a [`session_proof`] in constant time.
pub fn verify_session_proof(
    session_key: &[u8],
    login_id: &str,
    certificate_der: &[u8],
    proof: &[u8],
) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, session_key);
    hmac::verify(&key, &proof_message(login_id, certificate_der), proof).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_session_key_opens_only_for_its_device_and_nonce() {
        let authority = LoginKey::derive(&[7u8; 32]);
        assert_eq!(authority.public_key().len(), 32);
        let (key, sealed) = seal_session(authority.public_key(), "ld-1", &[1; 16]).unwrap();
        assert_eq!(sealed.len(), SEALED_SESSION_LEN);
        assert_eq!(authority.open(&sealed, "ld-1", &[1; 16]), Ok(key));
        assert_eq!(
            authority.open(&sealed, "ld-2", &[1; 16]),
            Err(SessionError::Open)
        );
        assert_eq!(
            authority.open(&sealed, "ld-1", &[2; 16]),
            Err(SessionError::Open)
        );
        let other = LoginKey::derive(&[8u8; 32]);
        assert_eq!(
            other.open(&sealed, "ld-1", &[1; 16]),
            Err(SessionError::Open)
        );
        let mut flipped = sealed.clone();
        flipped[40] ^= 1;
        assert_eq!(
            authority.open(&flipped, "ld-1", &[1; 16]),
            Err(SessionError::Open)
        );
        assert_eq!(
            authority.open(&sealed[1..], "ld-1", &[1; 16]),
            Err(SessionError::Open)
        );
        // Every seal is fresh.
        let (again, resealed) = seal_session(authority.public_key(), "ld-1", &[1; 16]).unwrap();
        assert_ne!(again, key);
        assert_ne!(resealed, sealed);
        assert_eq!(
            seal_session(&[0u8; 5], "ld-1", &[1; 16]),
            Err(SessionError::PublicKey)
        );
    }

    #[test]
    fn the_derived_key_is_stable_and_the_proof_binds_login_and_certificate() {
        assert_eq!(
            LoginKey::derive(&[7u8; 32]).public_key(),
            LoginKey::derive(&[7u8; 32]).public_key()
        );
        let proof = session_proof(&[3; 32], "login-1", b"cert");
        assert!(verify_session_proof(&[3; 32], "login-1", b"cert", &proof));
        assert!(!verify_session_proof(&[4; 32], "login-1", b"cert", &proof));
        assert!(!verify_session_proof(&[3; 32], "login-2", b"cert", &proof));
        assert!(!verify_session_proof(&[3; 32], "login-1", b"other", &proof));
    }
}
