//! The operator's certificate check: path validation exactly as the gateway does it
//! (rustls-webpki: signatures, validity, basic constraints, EKU), then an optional purpose, DNS
//! name and revocation from CRLs or an OCSP answer. Pure: the caller passes `now` and every
//! byte in, and gets one typed verdict back.

use std::fmt;
use std::time::Duration;

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use webpki::{
    ExpirationPolicy, KeyPurposeIdIter, OwnedCertRevocationList, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};

use crate::{ChainUsage, OcspStatus, PkiError, RevocationReason};

/// One certificate to check and everything to check it with.
#[derive(Clone, Debug)]
pub struct Validation<'a> {
    /// The certificate (DER).
    pub end_entity: &'a [u8],
    /// Candidate intermediate CAs (DER); unused ones are ignored.
    pub intermediates: &'a [Vec<u8>],
    /// Trust anchors (DER).
    pub roots: &'a [Vec<u8>],
    /// The purpose the certificate must be good for; `None` accepts any extended key usage,
    /// as `openssl verify` does without `-purpose`.
    pub usage: Option<ChainUsage>,
    /// A DNS name (or IP address) the certificate must name in its subjectAltName.
    pub name: Option<&'a str>,
    /// CRLs (DER) that must cover the certificate; empty for no CRL check.
    pub crls: &'a [Vec<u8>],
    /// The time to validate at.
    pub now: OffsetDateTime,
}

/// A certificate that passed [`validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidPath {
    /// The certificate, its intermediates and the trust anchor, in that order (DER).
    pub chain: Vec<Vec<u8>>,
}

impl ValidPath {
    /// The certificate that signed the end entity (an intermediate or the root): the issuer an
    /// OCSP request names.
    pub fn issuer(&self) -> Option<&[u8]> {
        self.chain.get(1).map(Vec::as_slice)
    }
}

/// Why a certificate is not valid. The display text is the one-line reason for operators.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalid {
    /// The certificate (or a CA certificate on its path) cannot be parsed.
    Malformed(String),
    /// A certificate on the path expired before the validation time.
    Expired {
        /// Its notAfter.
        not_after: OffsetDateTime,
    },
    /// A certificate on the path is not valid yet at the validation time.
    NotYetValid {
        /// Its notBefore.
        not_before: OffsetDateTime,
    },
    /// The extended key usage does not allow the asked purpose.
    WrongPurpose(ChainUsage),
    /// The certificate does not name the asked DNS name or address.
    NameMismatch(String),
    /// The certificate is revoked.
    Revoked {
        /// When, if the revocation source says.
        at: Option<OffsetDateTime>,
        /// Why, if the revocation source says (and the reason is one RFC 5280 defines).
        reason: Option<RevocationReason>,
    },
    /// No path leads to a trust anchor: the issuer is neither a given intermediate nor a root.
    UnknownIssuer,
    /// A signature on the path does not verify.
    BadSignature,
    /// A CRL was refused: bad signature, out of date or unsupported.
    BadCrl(String),
    /// Revocation was asked for but the status could not be established.
    RevocationUnknown(String),
    /// Any other path validation failure, as rustls-webpki reports it.
    Other(String),
}

impl Invalid {
    /// A short stable code: `expired`, `not_yet_valid`, `wrong_purpose`, `name_mismatch`,
    /// `revoked`, `unknown_issuer`, `bad_signature`, `bad_crl`, `revocation_unknown`,
    /// `malformed` or `invalid`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::WrongPurpose(_) => "wrong_purpose",
            Self::NameMismatch(_) => "name_mismatch",
            Self::Revoked { .. } => "revoked",
            Self::UnknownIssuer => "unknown_issuer",
            Self::BadSignature => "bad_signature",
            Self::BadCrl(_) => "bad_crl",
            Self::RevocationUnknown(_) => "revocation_unknown",
            Self::Other(_) => "invalid",
        }
    }

    /// The revocation status this verdict implies, for an OCSP answer's `Revoked`.
    pub fn from_ocsp(status: OcspStatus) -> Option<Self> {
        match status {
            OcspStatus::Good => None,
            OcspStatus::Revoked { at, reason } => Some(Self::Revoked {
                at: Some(at),
                reason: Some(reason),
            }),
            OcspStatus::Unknown => Some(Self::RevocationUnknown(
                "the OCSP responder does not know the certificate".into(),
            )),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed certificate: {e}"),
            Self::Expired { not_after } => write!(f, "expired at {}", rfc3339(*not_after)),
            Self::NotYetValid { not_before } => {
                write!(f, "not yet valid: valid from {}", rfc3339(*not_before))
            }
            Self::WrongPurpose(usage) => write!(
                f,
                "wrong purpose: not valid for TLS {} authentication (extended key usage)",
                match usage {
                    ChainUsage::ClientAuth => "client",
                    ChainUsage::ServerAuth => "server",
                }
            ),
            Self::NameMismatch(name) => write!(f, "name mismatch: not valid for {name}"),
            Self::Revoked { at, reason } => {
                f.write_str("revoked")?;
                if let Some(at) = at {
                    write!(f, " at {}", rfc3339(*at))?;
                }
                match reason {
                    Some(reason) => write!(f, " ({reason})"),
                    None => Ok(()),
                }
            }
            Self::UnknownIssuer => {
                f.write_str("unknown issuer: no path from the certificate to a trusted root")
            }
            Self::BadSignature => {
                f.write_str("bad signature: a signature on the path does not verify")
            }
            Self::BadCrl(e) => write!(f, "CRL refused: {e}"),
            Self::RevocationUnknown(e) => write!(f, "revocation status unknown: {e}"),
            Self::Other(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Invalid {}

/// Validates `v.end_entity` as the gateway does, then the purpose, the name and the CRLs.
pub fn validate(v: &Validation<'_>) -> Result<ValidPath, Invalid> {
    let ee_der = CertificateDer::from(v.end_entity);
    let ee = webpki::EndEntityCert::try_from(&ee_der)
        .map_err(|e| Invalid::Malformed(format!("{e:?}")))?;
    let root_ders: Vec<CertificateDer<'_>> = v
        .roots
        .iter()
        .map(|r| CertificateDer::from(r.as_slice()))
        .collect();
    let anchors = root_ders
        .iter()
        .map(|r| webpki::anchor_from_trusted_cert(r).map(|a| a.to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Invalid::Malformed(format!("trust anchor: {e:?}")))?;
    let intermediates: Vec<CertificateDer<'_>> = v
        .intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let crls = v
        .crls
        .iter()
        .map(|c| OwnedCertRevocationList::from_der(c).map(webpki::CertRevocationList::from))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Invalid::BadCrl(describe_crl_error(&e)))?;
    let crl_refs: Vec<&webpki::CertRevocationList<'_>> = crls.iter().collect();
    let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
        b.with_depth(RevocationCheckDepth::EndEntity)
            .with_status_policy(UnknownStatusPolicy::Deny)
            .with_expiration_policy(ExpirationPolicy::Enforce)
            .build()
    });
    let time = unix_time(v.now);
    let path = ee
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            time,
            Purpose(v.usage),
            revocation,
            None,
        )
        .map_err(|e| classify(e, v, &crls))?;

    let mut chain = vec![v.end_entity.to_vec()];
    chain.extend(
        path.intermediate_certificates()
            .map(|c| c.der().as_ref().to_vec()),
    );
    let anchor = path.anchor();
    if let Some(root) = v.roots.iter().zip(&anchors).find_map(|(der, a)| {
        (a.subject == anchor.subject && a.subject_public_key_info == anchor.subject_public_key_info)
            .then_some(der)
    }) {
        chain.push(root.clone());
    }

    if let Some(name) = v.name {
        let server_name = ServerName::try_from(name)
            .map_err(|_| Invalid::NameMismatch(format!("{name} (not a DNS name or IP address)")))?;
        ee.verify_is_valid_for_subject_name(&server_name)
            .map_err(|_| Invalid::NameMismatch(name.to_string()))?;
    }
    Ok(ValidPath { chain })
}

/// The DER of a CRL given as DER or as PEM (`X509 CRL`, text before the block allowed).
pub fn crl_der(bytes: &[u8]) -> Result<Vec<u8>, PkiError> {
    if bytes.windows(10).any(|w| w == b"-----BEGIN") {
        CertificateRevocationListDer::from_pem_slice(bytes)
            .map(|c| c.as_ref().to_vec())
            .map_err(|e| PkiError::Encoding(format!("bad PEM CRL: {e}")))
    } else {
        Ok(bytes.to_vec())
    }
}

/// The EKU rule: one purpose (required if the certificate lists any), or any.
struct Purpose(Option<ChainUsage>);

impl webpki::ExtendedKeyUsageValidator for Purpose {
    fn validate(&self, mut iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        match self.0 {
            Some(ChainUsage::ClientAuth) => webpki::KeyUsage::client_auth().validate(iter),
            Some(ChainUsage::ServerAuth) => webpki::KeyUsage::server_auth().validate(iter),
            None => iter.try_for_each(|id| id.map(drop)),
        }
    }
}

fn classify(
    e: webpki::Error,
    v: &Validation<'_>,
    crls: &[webpki::CertRevocationList<'_>],
) -> Invalid {
    use webpki::Error as E;
    match e {
        E::CertExpired { not_after, .. } => Invalid::Expired {
            not_after: from_unix(not_after),
        },
        E::CertNotValidYet { not_before, .. } => Invalid::NotYetValid {
            not_before: from_unix(not_before),
        },
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => match v.usage {
            Some(usage) => Invalid::WrongPurpose(usage),
            None => Invalid::Other("the extended key usage extension is malformed".into()),
        },
        E::UnknownIssuer => Invalid::UnknownIssuer,
        E::InvalidSignatureForPublicKey
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => Invalid::BadSignature,
        E::CertRevoked => revoked_entry(v.end_entity, crls),
        E::UnknownRevocationStatus => {
            Invalid::RevocationUnknown("no CRL from the certificate's issuer was given".into())
        }
        E::CrlExpired { next_update, .. } => Invalid::BadCrl(format!(
            "out of date (nextUpdate {})",
            rfc3339(from_unix(next_update))
        )),
        other => match describe_crl_error(&other) {
            text if text.starts_with("the CRL") => Invalid::BadCrl(text),
            _ => describe_other(&other),
        },
    }
}

/// The CRL entry behind a `CertRevoked`, for its date and reason.
fn revoked_entry(end_entity: &[u8], crls: &[webpki::CertRevocationList<'_>]) -> Invalid {
    let der = CertificateDer::from(end_entity);
    let entry = webpki::EndEntityCert::try_from(&der).ok().and_then(|ee| {
        crls.iter().find_map(|crl| {
            crl.find_serial(ee.serial())
                .ok()
                .flatten()
                .map(|e| e.to_owned())
        })
    });
    match entry {
        Some(entry) => Invalid::Revoked {
            at: Some(from_unix(entry.revocation_date)),
            reason: entry.reason_code.and_then(revocation_reason),
        },
        None => Invalid::Revoked {
            at: None,
            reason: None,
        },
    }
}

fn revocation_reason(reason: webpki::RevocationReason) -> Option<RevocationReason> {
    use webpki::RevocationReason as W;
    Some(match reason {
        W::Unspecified => RevocationReason::Unspecified,
        W::KeyCompromise => RevocationReason::KeyCompromise,
        W::CaCompromise => RevocationReason::CaCompromise,
        W::AffiliationChanged => RevocationReason::AffiliationChanged,
        W::Superseded => RevocationReason::Superseded,
        W::CessationOfOperation => RevocationReason::CessationOfOperation,
        W::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
        W::AaCompromise => RevocationReason::AaCompromise,
        W::CertificateHold | W::RemoveFromCrl => return None,
    })
}

fn describe_crl_error(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::InvalidCrlSignatureForPublicKey
        | E::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_) => {
            "the CRL's signature does not verify with its issuer's key".into()
        }
        E::IssuerNotCrlSigner => "the CRL's issuer may not sign CRLs (key usage)".into(),
        E::UnsupportedCrlVersion
        | E::UnsupportedDeltaCrl
        | E::UnsupportedIndirectCrl
        | E::UnsupportedCrlIssuingDistributionPoint
        | E::UnsupportedRevocationReasonsPartitioning
        | E::UnsupportedCrlSignatureAlgorithmContext(_) => {
            format!("the CRL uses an unsupported feature ({e:?})")
        }
        E::InvalidCrlNumber | E::BadDer | E::BadDerTime | E::TrailingData(_) => {
            format!("the CRL is malformed ({e:?})")
        }
        other => format!("{other:?}"),
    }
}

fn describe_other(e: &webpki::Error) -> Invalid {
    use webpki::Error as E;
    Invalid::Other(match e {
        E::CaUsedAsEndEntity => "a CA certificate, not an end-entity certificate".into(),
        E::EndEntityUsedAsCa => "an end-entity certificate is used as a CA on the path".into(),
        E::PathLenConstraintViolated => "a CA's path length constraint is violated".into(),
        E::NameConstraintViolation => "a CA's name constraints are violated".into(),
        E::UnsupportedCriticalExtension => "an unsupported critical extension".into(),
        E::BadDer | E::BadDerTime | E::TrailingData(_) | E::UnsupportedCertVersion => {
            return Invalid::Malformed(format!("{e:?}"))
        }
        other => format!("path validation failed: {other:?}"),
    })
}

fn unix_time(t: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(t.unix_timestamp()).unwrap_or(0),
    ))
}

fn from_unix(t: UnixTime) -> OffsetDateTime {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests;
