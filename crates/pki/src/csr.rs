use std::fmt;

use serde::{Deserialize, Serialize};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::name::{san_from_x509, subject_from_x509, San, Subject, UnknownAttribute};
use crate::profile::{Profile, SubjectAttribute};
use crate::{CsrError, GeneratedKey, PkiError};

/// The public key types inkan recognises in requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyType {
    /// ECDSA P-256
    P256,
    /// ECDSA P-384
    P384,
    /// Ed25519
    Ed25519,
    /// RSA 2048-bit
    Rsa2048,
    /// RSA 3072-bit
    Rsa3072,
    /// RSA 4096-bit
    Rsa4096,
}

impl KeyType {
    /// The key types profiles allow unless configured otherwise.
    pub const DEFAULT_ALLOWED: [KeyType; 6] = [
        KeyType::P256,
        KeyType::P384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];

    /// Recognises the key type of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, String> {
        let alg = spki.algorithm.algorithm.to_id_string();
        match alg.as_str() {
            "1.2.840.10045.2.1" => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    "1.2.840.10045.3.1.7" => Ok(Self::P256),
                    "1.3.132.0.34" => Ok(Self::P384),
                    other => Err(format!("EC curve {other}")),
                }
            }
            "1.3.101.112" => Ok(Self::Ed25519),
            "1.2.840.113549.1.1.1" => match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => match rsa.key_size() {
                    2048 => Ok(Self::Rsa2048),
                    3072 => Ok(Self::Rsa3072),
                    4096 => Ok(Self::Rsa4096),
                    bits => Err(format!("RSA-{bits}")),
                },
                _ => Err("a malformed RSA key".into()),
            },
            other => Err(format!("public key algorithm {other}")),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::P256 => "p256",
            Self::P384 => "p384",
            Self::Ed25519 => "ed25519",
            Self::Rsa2048 => "rsa2048",
            Self::Rsa3072 => "rsa3072",
            Self::Rsa4096 => "rsa4096",
        })
    }
}

/// A request that passed every check of a profile; the only input issuance accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedCsr {
    /// The requested subject.
    pub subject: Subject,
    /// The requested subject alternative names.
    pub sans: Vec<San>,
    /// DER SubjectPublicKeyInfo of the requester's key.
    pub spki_der: Vec<u8>,
    /// The key's type.
    pub key_type: KeyType,
}

/// Checks PKCS#10 requests against one profile.
pub struct CsrCheck<'a> {
    profile: &'a Profile,
}

impl<'a> CsrCheck<'a> {
    /// A checker for `profile`.
    pub fn new(profile: &'a Profile) -> Self {
        Self { profile }
    }

    /// Parses `der` strictly and applies every check: proof of possession, key type, no CA
    /// request, subject attributes and SAN forms.
    pub fn check(&self, der: &[u8]) -> Result<CheckedCsr, CsrError> {
        let (rest, csr) =
            X509CertificationRequest::from_der(der).map_err(|_| CsrError::Malformed)?;
        if !rest.is_empty() {
            return Err(CsrError::Malformed);
        }
        let info = &csr.certification_request_info;
        let key_type =
            KeyType::of_spki(&info.subject_pki).map_err(|found| self.key_type_error(found))?;
        if !self.profile.key_types.contains(&key_type) {
            return Err(self.key_type_error(key_type.to_string()));
        }
        // Checked after the key type: a key inkan does not support cannot be verified.
        csr.verify_signature().map_err(|_| CsrError::BadSignature)?;

        let mut sans = Vec::new();
        if let Some(extensions) = csr.requested_extensions() {
            for ext in extensions {
                match ext {
                    ParsedExtension::BasicConstraints(bc) if bc.ca => {
                        return Err(CsrError::CaRequested)
                    }
                    ParsedExtension::SubjectAlternativeName(names) => {
                        for name in &names.general_names {
                            sans.push(san_from_x509(name).map_err(CsrError::SanNotAllowed)?);
                        }
                    }
                    // Key usages and other requested extensions are decided by the profile.
                    _ => {}
                }
            }
        }

        let subject = subject_from_x509(&info.subject).map_err(|e| match e {
            UnknownAttribute::Type(oid) => CsrError::SubjectAttribute(oid),
            UnknownAttribute::Value(attr) => {
                CsrError::InvalidValue(format!("{attr} is not a string"))
            }
        })?;
        self.check_subject(&subject)?;
        self.check_sans(&sans)?;
        Ok(CheckedCsr {
            subject,
            sans,
            spki_der: info.subject_pki.raw.to_vec(),
            key_type,
        })
    }

    fn key_type_error(&self, found: String) -> CsrError {
        CsrError::KeyType {
            found,
            profile: self.profile.name.clone(),
            allowed: self
                .profile
                .key_types
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn check_subject(&self, subject: &Subject) -> Result<(), CsrError> {
        for (attr, value) in &subject.0 {
            if !self.profile.subject.contains(attr) {
                return Err(CsrError::SubjectAttribute(attr.oid().into()));
            }
            let max = match attr {
                SubjectAttribute::CommonName => 64,
                SubjectAttribute::Country => 2,
                _ => 128,
            };
            check_text(value, max)?;
        }
        if self.profile.require_common_name && subject.common_name().is_none() {
            return Err(CsrError::MissingCommonName);
        }
        Ok(())
    }

    fn check_sans(&self, sans: &[San]) -> Result<(), CsrError> {
        if sans.len() > self.profile.max_sans {
            return Err(CsrError::TooManySans {
                found: sans.len(),
                max: self.profile.max_sans,
            });
        }
        for san in sans {
            if !self.profile.san.contains(&san.kind()) {
                return Err(CsrError::SanNotAllowed(san.to_string()));
            }
            match san {
                San::Dns(v) | San::Email(v) | San::Uri(v) => check_text(v, 253)?,
                San::Ip(_) => {}
            }
        }
        Ok(())
    }
}

fn check_text(value: &str, max: usize) -> Result<(), CsrError> {
    if value.is_empty() {
        return Err(CsrError::InvalidValue("an empty value".into()));
    }
    if value.chars().count() > max {
        return Err(CsrError::InvalidValue(format!(
            "{:?}… is longer than {max} characters",
            value.chars().take(16).collect::<String>()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(CsrError::InvalidValue(format!(
            "{value:?} contains control characters"
        )));
    }
    Ok(())
}

/// Builds a DER PKCS#10 request signed by `key` for `common_name` and `sans`
/// (each read by [`San::guess`]).
pub fn build_csr(
    key: &GeneratedKey,
    common_name: &str,
    sans: &[String],
) -> Result<Vec<u8>, PkiError> {
    build_csr_with_serial(key, common_name, None, sans)
}

/// [`build_csr`] with a subject serialNumber (2.5.4.5) after the common name, as a device's
/// trusted app writes its hardware serial.
pub fn build_csr_with_serial(
    key: &GeneratedKey,
    common_name: &str,
    serial_number: Option<&str>,
    sans: &[String],
) -> Result<Vec<u8>, PkiError> {
    build_csr_signed_by(key.signer(), common_name, serial_number, sans)
}

/// [`build_csr_with_serial`] signed by any key rcgen can sign with (a TPM-resident key, say).
pub fn build_csr_signed_by<K: rcgen::SigningKey>(
    signer: &K,
    common_name: &str,
    serial_number: Option<&str>,
    sans: &[String],
) -> Result<Vec<u8>, PkiError> {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    if let Some(serial) = serial_number {
        params
            .distinguished_name
            .push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]), serial);
    }
    params.subject_alt_names = sans
        .iter()
        .map(|s| San::guess(s).to_rcgen())
        .collect::<Result<_, _>>()?;
    let csr = params
        .serialize_request(signer)
        .map_err(|e| PkiError::Build(e.to_string()))?;
    Ok(csr.der().to_vec())
}

#[cfg(test)]
mod tests;
