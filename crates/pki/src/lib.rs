//! inkan-pki: the pure certificate core of inkan.
//!
//! Keys, certificate profiles, CSR checks, issuance and the PKCS#7 certs-only codec used by
//! EST. Nothing here performs IO or reads the clock: callers pass `now` in.
//!
//! ```
//! use inkan_pki::{CaSet, KeyAlgorithm, Profile, CsrCheck, IssueParams, Serial};
//! let now = time::OffsetDateTime::now_utc();
//! let ca = CaSet::create("Example", KeyAlgorithm::P256, now).unwrap();
//! let issuer = ca.issuing_ca().unwrap();
//! let device_key = inkan_pki::GeneratedKey::generate(KeyAlgorithm::P256).unwrap();
//! let csr = inkan_pki::build_csr(&device_key, "device-1", &[]).unwrap();
//! let profile = Profile::device();
//! let checked = CsrCheck::new(&profile).check(&csr).unwrap();
//! let params = IssueParams::new(&profile, &checked, Serial::random().unwrap(), now);
//! let cert = issuer.issue(&params).unwrap();
//! assert!(inkan_pki::CertificateInfo::parse(&cert).is_ok());
//! ```
#![warn(missing_docs)]

mod ca;
mod certificate;
mod crl;
mod csr;
mod error;
mod key_pair;
mod name;
mod name_policy;
mod ocsp;
mod ocsp_answer;
mod oid;
mod pem;
mod pkcs12;
mod pkcs7;
mod profile;
mod revocation_reason;
mod root_ca;
mod serial;
mod signing_key;
mod validation;
mod verify;

pub use ca::{CaSet, IssuingCa};
pub use certificate::{certificate_key_type, spki_der, subject_der, CertificateInfo, IssueParams};
pub use crl::{crl_entry_count, crl_summary, CrlEntry, CrlParams, CrlSummary};
pub use csr::{
    build_csr, build_csr_signed_by, build_csr_with_serial, CheckedCsr, CsrCheck, KeyType,
};
pub use error::{CsrError, PkiError};
pub use key_pair::{GeneratedKey, KeyAlgorithm, PRIVATE_KEY_MODE};
pub use name::{San, Subject};
pub use name_policy::{
    CnPattern, DnsPattern, EmailPattern, IpRange, Name, NameKind, NamePolicy, NameRules,
    NameVerdict, UriPattern,
};
pub use ocsp::{
    build_request as build_ocsp_request, build_request_for_serial as build_ocsp_request_for_serial,
    internal_error_response, malformed_response, parse_request as parse_ocsp_request,
    response_status as ocsp_response_status, try_later_response, unauthorized_response, OcspError,
    OcspIssuer, OcspQuery, OcspRequestInfo, OcspResponder, OcspStatus,
};
pub use ocsp_answer::{check_ocsp_response, ocsp_responder_urls};
pub use oid::{PolicyArc, DEFAULT_LEVEL_ARC, LEGACY_LEVEL_ARC};
pub use pem::{certs_from_pem, der_to_pem};
pub use pkcs12::{
    check_pkcs12_passphrase, pkcs12_decode, pkcs12_encode, Pkcs12Contents,
    PKCS12_MAX_PASSPHRASE_CHARS, PKCS12_MIN_PASSPHRASE_CHARS,
};
pub use pkcs7::{certs_only_decode, certs_only_encode};
pub use profile::{duration_text, ExtendedKeyUsage, KeyUsage, Profile, SanKind, SubjectAttribute};
pub use revocation_reason::RevocationReason;
pub use root_ca::RootCa;
pub use serial::Serial;
pub use signing_key::{SignatureAlgorithm, SigningKey, SoftwareKey};
pub use validation::{crl_der, validate, Invalid, ValidPath, Validation};
pub use verify::{verify_chain, ChainUsage};

/// Hex-encoded SHA-256 of `bytes`: the fingerprint form inkan uses everywhere.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
