use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::csr::CheckedCsr;
use crate::name::{san_from_x509, subject_from_x509, San, Subject};
use crate::oid::PolicyArc;
use crate::profile::{ExtendedKeyUsage, KeyUsage, Profile};
use crate::{sha256_hex, PkiError, Serial};

/// Everything that goes into one end-entity certificate. Fill it, then pass it to
/// [`crate::IssuingCa::issue`].
#[derive(Clone, Debug)]
pub struct IssueParams {
    /// The serial number.
    pub serial: Serial,
    /// The subject.
    pub subject: Subject,
    /// Subject alternative names.
    pub sans: Vec<San>,
    /// DER SubjectPublicKeyInfo of the subject's key.
    pub spki_der: Vec<u8>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity (capped to the issuer's own at signing time).
    pub not_after: OffsetDateTime,
    /// Key usage bits.
    pub key_usage: Vec<KeyUsage>,
    /// Extended key usages.
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// Assurance level for the certificatePolicies extension.
    pub level: u8,
    /// The arc the level's policy OID is written under (`<arc>.<level>`).
    pub policy_arc: PolicyArc,
    /// CRL distribution point URL.
    pub crl_url: Option<String>,
    /// OCSP responder URL for the authorityInfoAccess extension.
    pub ocsp_url: Option<String>,
}

impl IssueParams {
    /// Parameters for a checked request under `profile`, valid from `now` (minus the profile's
    /// backdate) for the profile's validity. Key usage bits the request's key type cannot use
    /// are left out.
    pub fn new(profile: &Profile, csr: &CheckedCsr, serial: Serial, now: OffsetDateTime) -> Self {
        Self {
            serial,
            subject: csr.subject.clone(),
            sans: csr.sans.clone(),
            spki_der: csr.spki_der.clone(),
            not_before: now - profile.backdate,
            not_after: now + profile.validity,
            key_usage: profile
                .key_usage
                .iter()
                .copied()
                .filter(|k| k.suits(csr.key_type))
                .collect(),
            extended_key_usage: profile.extended_key_usage.clone(),
            level: profile.level,
            policy_arc: PolicyArc::default(),
            crl_url: None,
            ocsp_url: None,
        }
    }

    /// Shortens the validity so it ends no later than `limit`.
    pub fn cap_not_after(&mut self, limit: OffsetDateTime) {
        if self.not_after > limit {
            self.not_after = limit;
        }
    }

    /// The requested validity period.
    pub fn lifetime(&self) -> Duration {
        (self.not_after - self.not_before)
            .try_into()
            .unwrap_or_default()
    }
}

/// What inkan reads back from a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    /// Serial number (hex).
    pub serial: String,
    /// Subject, RFC 4514-like.
    pub subject: String,
    /// The subject in typed form when every attribute is one inkan knows.
    #[serde(skip)]
    pub typed_subject: Option<Subject>,
    /// Issuer, RFC 4514-like.
    pub issuer: String,
    /// Subject alternative names inkan knows.
    pub sans: Vec<San>,
    /// SHA-256 of the DER SubjectPublicKeyInfo (hex).
    pub spki_sha256: String,
    /// SHA-256 of the whole certificate (hex).
    pub fingerprint_sha256: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Whether basicConstraints says CA:true.
    pub is_ca: bool,
    /// The inkan assurance level, if the certificate carries one (under the arc it was parsed
    /// with: [`CertificateInfo::parse`] reads the default arc).
    pub level: Option<u8>,
}

impl CertificateInfo {
    /// Parses a DER certificate strictly (no trailing bytes), reading the level under the
    /// default policy arc.
    pub fn parse(der: &[u8]) -> Result<Self, PkiError> {
        Self::parse_with_arc(der, &PolicyArc::default())
    }

    /// Parses a DER certificate strictly, reading the assurance level under `arc` (or the
    /// legacy arc of certificates issued before it was configurable).
    pub fn parse_with_arc(der: &[u8], arc: &PolicyArc) -> Result<Self, PkiError> {
        let (rest, cert) = x509_parser::certificate::X509Certificate::from_der(der)
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(PkiError::Certificate(
                "trailing bytes after the certificate".into(),
            ));
        }
        let typed_subject = subject_from_x509(cert.subject()).ok();
        let subject = typed_subject
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| cert.subject().to_string());
        let sans = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .filter_map(|n| san_from_x509(n).ok())
                .collect(),
            _ => Vec::new(),
        };
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        let level = cert
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::CertificatePolicies(policies) => policies
                    .iter()
                    .find_map(|p| arc.level_of_any(p.policy_id.as_bytes())),
                _ => None,
            });
        let issuer = subject_from_x509(cert.issuer())
            .map(|s| s.to_string())
            .unwrap_or_else(|_| cert.issuer().to_string());
        Ok(Self {
            serial: Serial::from_be_bytes(cert.raw_serial()).to_string(),
            subject,
            typed_subject,
            issuer,
            sans,
            spki_sha256: sha256_hex(cert.public_key().raw),
            fingerprint_sha256: sha256_hex(der),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca,
            level,
        })
    }
}

/// The DER of a certificate's subject name (for TLS CA hint lists).
pub fn subject_der(der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| PkiError::Certificate(e.to_string()))?;
    Ok(cert.subject().as_raw().to_vec())
}

/// The DER SubjectPublicKeyInfo of a certificate.
pub fn spki_der(der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| PkiError::Certificate(e.to_string()))?;
    Ok(cert.public_key().raw.to_vec())
}

/// The key type of a certificate's public key.
pub fn certificate_key_type(der: &[u8]) -> Result<crate::KeyType, PkiError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| PkiError::Certificate(e.to_string()))?;
    crate::KeyType::of_spki(cert.public_key()).map_err(PkiError::Certificate)
}

#[cfg(test)]
mod tests;
