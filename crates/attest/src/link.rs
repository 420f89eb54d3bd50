//! Linked devices (DESIGN §4.4, paper 000): what the trust anchor and the linked devices sign,
//! and the confirmation code both screens show while linking. Pure: no IO, time passed in.
//!
//! - [`confirmation_code`]: six digits from the link token and the new device's key hash
//!   (HMAC-SHA256 and RFC 4226's dynamic truncation), so a person compares two short numbers
//!   and a swapped key or token shows a different one.
//! - [`device_list_message`]: the account's device list as the anchor signs it when linking.
//! - [`login_request_sha256`] and [`approval_message`]: a linked device's login request and the
//!   anchor's approval of it (request hash, nonce, time).
//! - [`delegation_message`] and [`delegated_approval_message`]: the anchor's time-boxed
//!   delegation to a deputy device, and the deputy's approval under it.
//! - [`verify_signature`]: ECDSA (P-256/SHA-256, P-384/SHA-384) with a key from a
//!   SubjectPublicKeyInfo.

use ring::{digest, hmac, signature};
use thiserror::Error;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Why a signature was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LinkError {
    /// The key is not an ECDSA P-256 or P-384 key.
    #[error("the key is not an ECDSA P-256 or P-384 key: {0}")]
    Key(String),
    /// The signature does not verify.
    #[error("the signature does not verify with the key")]
    Signature,
}

const CODE_DOMAIN: &[u8] = b"inkan-link-code-v1";
const LIST_DOMAIN: &[u8] = b"inkan-device-list-v1";
const LOGIN_DOMAIN: &[u8] = b"inkan-login-v1";
const APPROVAL_DOMAIN: &[u8] = b"inkan-approval-v1";
const DELEGATION_DOMAIN: &[u8] = b"inkan-delegation-v1";
const DELEGATED_APPROVAL_DOMAIN: &[u8] = b"inkan-delegated-approval-v1";

fn length_prefixed(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(part);
}

/// The six-digit code both the new device and the anchor show while linking:
/// HMAC-SHA256(token, domain ‖ SHA-256 of the device's SubjectPublicKeyInfo), truncated as
/// RFC 4226 §5.3 does, modulo 10^6, zero-padded.
pub fn confirmation_code(token: &[u8], spki_sha256: &[u8]) -> String {
    let mut message = CODE_DOMAIN.to_vec();
    message.extend_from_slice(spki_sha256);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, token), &message);
    let mac = tag.as_ref();
    let offset = usize::from(mac[31] & 0x0f);
    let value = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

/// The device list an anchor signs when it links a device: the account, every linked device
/// (registration number and key hash, sorted by registration number) and the time.
pub fn device_list_message(
    account_id: &str,
    devices: &[(String, String)],
    signed_at: i64,
) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = devices.iter().collect();
    sorted.sort();
    let mut out = LIST_DOMAIN.to_vec();
    length_prefixed(&mut out, account_id.as_bytes());
    out.extend_from_slice(
        &u32::try_from(sorted.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for (registration, key) in sorted {
        length_prefixed(&mut out, registration.as_bytes());
        length_prefixed(&mut out, key.as_bytes());
    }
    out.extend_from_slice(&signed_at.to_be_bytes());
    out
}

/// The hash of a linked device's login request: SHA-256(domain ‖ registration ‖ nonce ‖ CSR ‖
/// sealed session key (see [`crate::login_session`])).
pub fn login_request_sha256(
    registration: &str,
    nonce: &[u8],
    csr_der: &[u8],
    sealed_session: &[u8],
) -> [u8; 32] {
    let mut message = LOGIN_DOMAIN.to_vec();
    length_prefixed(&mut message, registration.as_bytes());
    length_prefixed(&mut message, nonce);
    length_prefixed(&mut message, csr_der);
    length_prefixed(&mut message, sealed_session);
    let hash = digest::digest(&digest::SHA256, &message);
    let mut out = [0u8; 32];
    out.copy_from_slice(hash.as_ref());
    out
}

/// What an anchor signs to approve a login: domain ‖ request hash ‖ nonce ‖ time (Unix s).
pub fn approval_message(request_sha256: &[u8], nonce: &[u8], signed_at: i64) -> Vec<u8> {
    let mut out = APPROVAL_DOMAIN.to_vec();
    length_prefixed(&mut out, request_sha256);
    length_prefixed(&mut out, nonce);
    out.extend_from_slice(&signed_at.to_be_bytes());
    out
}

/// The limits of a delegation, as the anchor signs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegationTerms<'a> {
    /// The account.
    pub account_id: &'a str,
    /// The deputy device's registration number.
    pub deputy: &'a str,
    /// SHA-256 of the deputy's key (SubjectPublicKeyInfo), hex.
    pub deputy_key_sha256: &'a str,
    /// From when approvals count (Unix s).
    pub not_before: i64,
    /// Until when (Unix s, exclusive).
    pub not_after: i64,
    /// How many logins the deputy may approve.
    pub max_approvals: i64,
    /// When the anchor signed (Unix s).
    pub signed_at: i64,
}

/// What an anchor signs to delegate approvals to a deputy device: domain ‖ account ‖ deputy ‖
/// deputy key hash ‖ not before ‖ not after ‖ maximum approvals ‖ time.
pub fn delegation_message(terms: &DelegationTerms<'_>) -> Vec<u8> {
    let mut out = DELEGATION_DOMAIN.to_vec();
    length_prefixed(&mut out, terms.account_id.as_bytes());
    length_prefixed(&mut out, terms.deputy.as_bytes());
    length_prefixed(&mut out, terms.deputy_key_sha256.as_bytes());
    out.extend_from_slice(&terms.not_before.to_be_bytes());
    out.extend_from_slice(&terms.not_after.to_be_bytes());
    out.extend_from_slice(&terms.max_approvals.to_be_bytes());
    out.extend_from_slice(&terms.signed_at.to_be_bytes());
    out
}

/// What deputy `deputy` (its registration number) signs to approve a login under its anchor's
/// delegation: domain ‖ deputy ‖ request hash ‖ nonce ‖ time (Unix s). Its own domain, so an
/// anchor's approval and a deputy's are never the same message.
pub fn delegated_approval_message(
    deputy: &str,
    request_sha256: &[u8],
    nonce: &[u8],
    signed_at: i64,
) -> Vec<u8> {
    let mut out = DELEGATED_APPROVAL_DOMAIN.to_vec();
    length_prefixed(&mut out, deputy.as_bytes());
    length_prefixed(&mut out, request_sha256);
    length_prefixed(&mut out, nonce);
    out.extend_from_slice(&signed_at.to_be_bytes());
    out
}

/// Verifies an ECDSA signature (DER) over `message` with the key of `spki_der`: P-256 with
/// SHA-256, or P-384 with SHA-384.
pub fn verify_signature(
    spki_der: &[u8],
    message: &[u8],
    signature_der: &[u8],
) -> Result<(), LinkError> {
    let (rest, spki) =
        SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| LinkError::Key(e.to_string()))?;
    if !rest.is_empty() {
        return Err(LinkError::Key("trailing bytes after the key".into()));
    }
    if spki.algorithm.algorithm.to_id_string() != "1.2.840.10045.2.1" {
        return Err(LinkError::Key("not an EC key".into()));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string())
        .unwrap_or_default();
    let algorithm: &dyn signature::VerificationAlgorithm = match curve.as_str() {
        "1.2.840.10045.3.1.7" => &signature::ECDSA_P256_SHA256_ASN1,
        "1.3.132.0.34" => &signature::ECDSA_P384_SHA384_ASN1,
        other => return Err(LinkError::Key(format!("curve {other}"))),
    };
    signature::UnparsedPublicKey::new(algorithm, spki.subject_public_key.data.as_ref())
        .verify(message, signature_der)
        .map_err(|_| LinkError::Signature)
}

#[cfg(test)]
mod tests;
