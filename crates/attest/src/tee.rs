//! TEE-style provisioning (DESIGN §4.3): the trusted-app (TA) bundle the authority seals to one
//! device's unique key SK_TEE, and the MAC over a CSR by which the TA proves it built the CSR.
//!
//! - SK_TEE of a device without a registered key is [`derive_device_unique_key`]:
//!   HMAC-SHA256(model master, UID).
//! - The bundle carries not the profile's SK_CSR itself but [`derive_csr_key`]: HKDF-SHA256 of
//!   SK_CSR bound to the UID, so a key extracted from one device MACs CSRs for that UID only.
//! - The bundle is AES-256-GCM under SK_TEE with the UID, profile and version as associated
//!   data ([`seal_bundle`], [`open_bundle`]): a bundle for another UID, another profile or
//!   version, or a changed byte, does not open.
//! - [`csr_mac`] covers the UID, profile, version, the authority's single-use challenge and the
//!   CSR, so a captured enrollment cannot be replayed; [`verify_csr_mac`] compares in constant
//!   time.
//! - On a device with a TPM the bundle is sealed under a fresh secret the authority delivers by
//!   TPM2_MakeCredential, bound to the EK and to a device key resident in that TPM; the TA proves
//!   it recovered that secret with [`activation_proof`] over the same message as the MAC.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{aead, hkdf, hmac};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The bundle's format name, also the start of its associated data.
pub const BUNDLE_FORMAT: &str = "inkan-ta-bundle-v1";
/// The domain of the CSR MAC.
const CSR_MAC_DOMAIN: &[u8] = b"inkan-tee-csr-v1";
/// The domain of the TPM activation proof.
const ACTIVATION_DOMAIN: &[u8] = b"inkan-tee-tpm-activation-v1";
/// HKDF info prefix of the per-device CSR key.
const CSR_KEY_INFO: &[u8] = b"inkan tee csr key v1";
/// The largest sealed bundle accepted (a TA profile and a two-certificate chain fit in 8 KiB).
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024;

/// Why a bundle or a CSR MAC was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TeeError {
    /// The bytes are not a bundle of this format; says why.
    #[error("malformed TA bundle: {0}")]
    Malformed(String),
    /// The bundle does not open with this device's key: another device's bundle, or changed.
    #[error("the TA bundle does not open with this device's key: it was sealed for another device, or changed in transit")]
    BundleAuthentication,
    /// The bundle's outer labels disagree with its sealed content.
    #[error("the TA bundle's {0} does not match its sealed content")]
    BundleMismatch(&'static str),
    /// The CSR's MAC is not the one the TA profile's key gives.
    #[error("the CSR's MAC does not verify under the TA profile's key for this device")]
    CsrMac,
    /// The activation proof is not the one the TPM-delivered secret gives.
    #[error("the activation proof does not verify: the TA did not recover the secret sealed to this TPM and device key")]
    ActivationProof,
}

/// SK_TEE of a device whose key derives from its model's master: HMAC-SHA256(master, UID).
pub fn derive_device_unique_key(master: &[u8], uid: &str) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, master), uid.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// The CSR-authentication key one device's bundle carries: HKDF-SHA256(SK_CSR), info =
/// `"inkan tee csr key v1" ‖ 0 ‖ UID`.
pub fn derive_csr_key(sk_csr: &[u8], uid: &str) -> [u8; 32] {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(sk_csr);
    let info = [CSR_KEY_INFO, &[0u8], uid.as_bytes()];
    let mut out = [0u8; 32];
    // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 × 32).
    if let Ok(okm) = prk.expand(&info, hkdf::HKDF_SHA256) {
        let _ = okm.fill(&mut out);
    }
    out
}

/// What the TA needs, as sealed for one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The device UID the bundle is for.
    pub uid: String,
    /// The TA profile.
    pub profile: String,
    /// Its version.
    pub version: i64,
    /// [`derive_csr_key`] of the version's SK_CSR and the UID, base64.
    pub csr_key: String,
    /// The identity fields the TA reads (`serial`, `mac`, `imei`).
    pub identity_fields: Vec<String>,
    /// The key algorithm to generate (`p256`).
    pub key_algorithm: String,
    /// PUK_CA: the issuing CA certificate first, then the root, DER base64.
    pub ca_certificates: Vec<String>,
}

impl TaBundle {
    /// The CSR key, decoded.
    pub fn csr_key(&self) -> Result<[u8; 32], TeeError> {
        B64.decode(&self.csr_key)
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| TeeError::Malformed("csr_key is not 32 bytes of base64".into()))
    }

    /// The CA certificates, decoded (issuing first).
    pub fn ca_certificates_der(&self) -> Result<Vec<Vec<u8>>, TeeError> {
        self.ca_certificates
            .iter()
            .map(|c| {
                B64.decode(c)
                    .map_err(|_| TeeError::Malformed("a CA certificate is not base64 DER".into()))
            })
            .collect()
    }
}

/// A bundle sealed to one device: the labels in the clear, the content AES-256-GCM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBundle {
    /// The device UID (associated data).
    pub uid: String,
    /// The TA profile (associated data).
    pub profile: String,
    /// Its version (associated data).
    pub version: i64,
    /// The 12-byte GCM nonce.
    pub nonce: Vec<u8>,
    /// The ciphertext with its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

fn length_prefixed(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(part);
}

fn bundle_aad(uid: &str, profile: &str, version: i64) -> Vec<u8> {
    let mut aad = Vec::new();
    length_prefixed(&mut aad, BUNDLE_FORMAT.as_bytes());
    length_prefixed(&mut aad, uid.as_bytes());
    length_prefixed(&mut aad, profile.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn gcm_key(sk_tee: &[u8; 32]) -> Result<aead::LessSafeKey, TeeError> {
    aead::UnboundKey::new(&aead::AES_256_GCM, sk_tee)
        .map(aead::LessSafeKey::new)
        .map_err(|_| TeeError::Malformed("device key".into()))
}

/// Seals `bundle` to the device whose unique key is `sk_tee`, with a fresh random `nonce`.
pub fn seal_bundle(
    sk_tee: &[u8; 32],
    bundle: &TaBundle,
    nonce: [u8; 12],
) -> Result<SealedBundle, TeeError> {
    let mut content =
        serde_json::to_vec(bundle).map_err(|e| TeeError::Malformed(format!("encoding: {e}")))?;
    let aad = bundle_aad(&bundle.uid, &bundle.profile, bundle.version);
    gcm_key(sk_tee)?
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            &mut content,
        )
        .map_err(|_| TeeError::Malformed("sealing".into()))?;
    Ok(SealedBundle {
        uid: bundle.uid.clone(),
        profile: bundle.profile.clone(),
        version: bundle.version,
        nonce: nonce.to_vec(),
        ciphertext: content,
    })
}

/// Opens a bundle with the device's unique key: refuses a bundle sealed for another device,
/// profile or version, a changed byte, or content whose labels disagree with the outer ones.
pub fn open_bundle(sk_tee: &[u8; 32], sealed: &SealedBundle) -> Result<TaBundle, TeeError> {
    if sealed.ciphertext.len() > MAX_BUNDLE_BYTES {
        return Err(TeeError::Malformed(format!(
            "larger than {MAX_BUNDLE_BYTES} bytes"
        )));
    }
    let nonce = <[u8; 12]>::try_from(sealed.nonce.as_slice())
        .map_err(|_| TeeError::Malformed("the nonce is not 12 bytes".into()))?;
    let aad = bundle_aad(&sealed.uid, &sealed.profile, sealed.version);
    let mut buffer = sealed.ciphertext.clone();
    let plain = gcm_key(sk_tee)?
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            &mut buffer,
        )
        .map_err(|_| TeeError::BundleAuthentication)?;
    let bundle: TaBundle =
        serde_json::from_slice(plain).map_err(|e| TeeError::Malformed(e.to_string()))?;
    if bundle.format != BUNDLE_FORMAT {
        return Err(TeeError::Malformed(format!(
            "format {:?}, expected {BUNDLE_FORMAT}",
            bundle.format
        )));
    }
    if bundle.uid != sealed.uid {
        return Err(TeeError::BundleMismatch("uid"));
    }
    if bundle.profile != sealed.profile {
        return Err(TeeError::BundleMismatch("profile"));
    }
    if bundle.version != sealed.version {
        return Err(TeeError::BundleMismatch("version"));
    }
    bundle.csr_key()?;
    Ok(bundle)
}

/// What the CSR MAC covers.
#[derive(Clone, Copy, Debug)]
pub struct CsrMacInput<'a> {
    /// The device UID.
    pub uid: &'a str,
    /// The TA profile.
    pub profile: &'a str,
    /// Its version.
    pub version: i64,
    /// The authority's single-use challenge (raw bytes).
    pub challenge: &'a [u8],
    /// The DER PKCS#10 request.
    pub csr_der: &'a [u8],
}

fn mac_message(input: &CsrMacInput<'_>) -> Vec<u8> {
    let mut message = Vec::with_capacity(input.csr_der.len() + 128);
    length_prefixed(&mut message, CSR_MAC_DOMAIN);
    length_prefixed(&mut message, input.uid.as_bytes());
    length_prefixed(&mut message, input.profile.as_bytes());
    message.extend_from_slice(&input.version.to_be_bytes());
    length_prefixed(&mut message, input.challenge);
    length_prefixed(&mut message, input.csr_der);
    message
}

/// MAC_CSR = HMAC-SHA256(CSR key, domain ‖ UID ‖ profile ‖ version ‖ challenge ‖ CSR), each part
/// length-prefixed.
pub fn csr_mac(csr_key: &[u8; 32], input: &CsrMacInput<'_>) -> [u8; 32] {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, csr_key),
        &mac_message(input),
    );
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Checks a CSR MAC in constant time.
pub fn verify_csr_mac(
    csr_key: &[u8; 32],
    input: &CsrMacInput<'_>,
    mac: &[u8],
) -> Result<(), TeeError> {
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, csr_key),
        &mac_message(input),
        mac,
    )
    .map_err(|_| TeeError::CsrMac)
}

/// The proof that the TA recovered the secret the authority sealed to its TPM for this
/// enrollment: HMAC-SHA256(secret, activation domain ‖ the CSR MAC's message).
pub fn activation_proof(secret: &[u8; 32], input: &CsrMacInput<'_>) -> [u8; 32] {
    let mut message = ACTIVATION_DOMAIN.to_vec();
    message.extend_from_slice(&mac_message(input));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), &message);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Checks an activation proof in constant time.
pub fn verify_activation_proof(
    secret: &[u8; 32],
    input: &CsrMacInput<'_>,
    proof: &[u8],
) -> Result<(), TeeError> {
    let mut message = ACTIVATION_DOMAIN.to_vec();
    message.extend_from_slice(&mac_message(input));
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), &message, proof)
        .map_err(|_| TeeError::ActivationProof)
}

#[cfg(test)]
mod tests;
