//! TPM 2.0 evidence: the structures a TPM signs and marshals (`TPMT_PUBLIC`, `TPMS_ATTEST`,
//! `TPMT_SIGNATURE`), EK certificates, credential activation and `TPM2_Certify` checks.

mod attest;
mod certify;
mod credential;
mod ek_cert;
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
pub use kdf::{kdf_a, kdf_e};
pub use public::{Attributes, EccCurve, KeyParams, Public, Symmetric, ALG_SHA256};
pub use signature::Signature;
pub use spki::spki_matches;

/// Upper bound on any TPM structure inkan parses (TPMT_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE).
pub const MAX_STRUCTURE_BYTES: usize = 4096;
