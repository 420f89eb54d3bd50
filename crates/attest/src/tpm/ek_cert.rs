//! EK certificates: chain to a configured manufacturer CA and certify the presented EK.
//!
//! EK certificates routinely carry a critical SubjectAltName with only a directoryName (TCG
//! manufacturer, model, version), the TCG EK purpose 2.23.133.8.1 and subject directory
//! attributes, and older ones are signed with SHA-1 or have empty subjects. General-purpose path
//! validators built for the Web PKI refuse many of them, so this walks the one step from the EK
//! certificate to a configured CA itself: every configured certificate is a trust anchor (list the
//! manufacturer's intermediate CAs as well as its roots).

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::tpm::spki;
use crate::{AttestError, Check, Public};

/// What a verified EK certificate tells about the TPM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EkCertificate {
    /// SHA-256 of the certificate DER, hex.
    pub sha256: String,
    /// The issuer's distinguished name (RFC 4514 text).
    pub issuer: String,
}

/// Checks `cert_der` is valid at `now`, signed by one of `anchors` (DER certificates, each valid at
/// `now`), and certifies `ek`.
pub fn verify_ek_certificate(
    cert_der: &[u8],
    anchors: &[Vec<u8>],
    ek: &Public,
    now: OffsetDateTime,
) -> Result<EkCertificate, AttestError> {
    let refuse = |why: String| AttestError::refused(Check::EkChain, why);
    let cert = match X509Certificate::from_der(cert_der) {
        Ok(([], cert)) => cert,
        _ => {
            return Err(AttestError::malformed(
                "ek_certificate",
                "not one DER X.509 certificate",
            ))
        }
    };
    check_validity(&cert, now).map_err(|why| refuse(format!("EK certificate {why}")))?;
    if !spki::parsed_matches(ek, cert.public_key()) {
        return Err(refuse(
            "the EK certificate is for another key than ek_public".into(),
        ));
    }
    let issuer = cert.issuer().to_string();
    let mut last_why = format!("no configured EK root or CA is named {issuer:?}");
    for anchor_der in anchors {
        let Ok((_, anchor)) = X509Certificate::from_der(anchor_der) else {
            continue;
        };
        if anchor.subject().as_raw() != cert.issuer().as_raw() {
            continue;
        }
        if cert.verify_signature(Some(anchor.public_key())).is_err() {
            last_why = format!("the EK certificate's signature does not verify with {issuer:?}");
            continue;
        }
        if let Err(why) = check_validity(&anchor, now) {
            last_why = format!("EK CA {issuer:?} {why}");
            continue;
        }
        // Only a CA certificate may vouch for EK certificates (not, say, another EK certificate).
        let is_ca = matches!(anchor.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        if !is_ca {
            last_why =
                format!("the configured certificate {issuer:?} is not a CA (basicConstraints cA)");
            continue;
        }
        return Ok(EkCertificate {
            sha256: hex_sha256(cert_der),
            issuer,
        });
    }
    Err(refuse(last_why))
}

fn check_validity(cert: &X509Certificate<'_>, now: OffsetDateTime) -> Result<(), String> {
    let validity = cert.validity();
    if now < validity.not_before.to_datetime() {
        return Err(format!("is not valid before {}", validity.not_before));
    }
    if now > validity.not_after.to_datetime() {
        return Err(format!("expired at {}", validity.not_after));
    }
    Ok(())
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
