//! inkan-attest: pure verifiers for enrollment evidence. No IO; time is passed in.
//!
//! PSK registration tokens ([`PskToken`]): a device signs each request with a key derived from
//! its product's group key and its registration id.
//!
//! The TPM 2.0 part ([`tpm`]) follows the flow of TCG's credential protection (TPM 2.0 Part 1, §24):
//!
//! 1. [`Public::parse`] reads the EK and AK `TPMT_PUBLIC`; [`verify_ek_certificate`] checks the
//!    EK certificate against configured roots and that it certifies that EK;
//!    [`check_ak`] checks the AK is a restricted signing key bound to its TPM.
//! 2. [`make_credential`] encrypts a random secret to the EK, bound to the AK's name, exactly as
//!    `TPM2_MakeCredential` does; only the TPM holding both keys can run `TPM2_ActivateCredential`.
//! 3. [`verify_certify`] checks a `TPM2_Certify` of the device key by the AK over a fresh nonce, the
//!    device key's attributes, and that the CSR carries that key.
//!
//! ```
//! use inkan_attest::{kdf_a, Public};
//! // Malformed input is an error, never a panic.
//! assert!(Public::parse(&[0x00, 0x23]).is_err());
//! let key = kdf_a(b"seed", "STORAGE", b"name", b"", 128);
//! assert_eq!(key.len(), 16);
//! ```
#![warn(missing_docs)]

pub mod card_pin;
pub mod eat;
mod error;
pub mod link;
pub mod login_session;
mod psk_token;
pub mod tee;
pub mod tpm;

pub use eat::{ueid_of, EatError, LocationClaims, ParsedEat, UnsignedEat};
pub use error::{AttestError, Check};
pub use link::{
    approval_message, confirmation_code, delegated_approval_message, delegation_message,
    device_list_message, login_request_sha256, verify_signature, DelegationTerms, LinkError,
};
pub use login_session::{
    seal_session, session_proof, verify_session_proof, LoginKey, SessionError, LOGIN_SESSION_SUITE,
    SEALED_SESSION_LEN, SESSION_KEY_LEN,
};
pub use psk_token::{check_registration_id, derive_device_key, PskError, PskToken, PSK_SCHEME};
pub use tee::{
    activation_proof, csr_mac, derive_csr_key, derive_device_unique_key, open_bundle, seal_bundle,
    verify_activation_proof, verify_csr_mac, CsrMacInput, SealedBundle, TaBundle, TeeError,
    BUNDLE_FORMAT,
};
pub use tpm::{
    check_ak, check_device_key, check_ek, kdf_a, kdf_e, make_credential, spki_matches,
    verify_certify, verify_ek_certificate, Attest, Attributes, CertifiedKey, CertifyCheck,
    CertifyInfo, ClockInfo, Credential, EccCurve, EkCertificate, KeyParams, Public, Signature,
    Symmetric, ALG_SHA256, ATTEST_MAGIC, CREDENTIAL_LABEL, MAX_STRUCTURE_BYTES, ST_ATTEST_CERTIFY,
};
