//! inkan-attest: pure verifiers for enrollment evidence. No IO; time is passed in.
//!
//! The TPM 2.0 part follows the flow of TCG's credential protection (TPM 2.0 Part 1, §24):
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

mod attest;
mod certify;
mod credential;
mod ek_cert;
mod error;
mod kdf;
mod public;
mod signature;
mod spki;
mod wire;

#[cfg(test)]
mod test_fixtures;

pub use attest::{Attest, CertifyInfo, ClockInfo, ATTEST_MAGIC, ST_ATTEST_CERTIFY};
pub use certify::{check_ak, check_device_key, verify_certify, CertifiedKey, CertifyCheck};
pub use credential::{check_ek, make_credential, Credential, CREDENTIAL_LABEL};
pub use ek_cert::{verify_ek_certificate, EkCertificate};
pub use error::{AttestError, Check};
pub use kdf::{kdf_a, kdf_e};
pub use public::{Attributes, EccCurve, KeyParams, Public, Symmetric, ALG_SHA256};
pub use signature::Signature;
pub use spki::spki_matches;

/// Upper bound on any TPM structure inkan parses (TPMT_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE).
pub const MAX_STRUCTURE_BYTES: usize = 4096;
