//! Checking an OCSP answer as a relying party (RFC 6960 §3.2): signed by the certificate's
//! issuer or by a responder the issuer authorized (id-kp-OCSPSigning), about this certificate,
//! current at `now`, echoing our nonce if it echoes one. Pure: the caller fetches the bytes.

use std::time::Duration;

use der::asn1::{AnyRef, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Reader, SliceReader};
use pki_types::{CertificateDer, UnixTime};
use time::OffsetDateTime;
use x509_cert::ext::pkix::crl::CrlReason;
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP;
use x509_parser::prelude::FromDer;

use crate::{Invalid, OcspIssuer, OcspStatus, PkiError, RevocationReason};

const BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9), DER value bytes.
const EKU_OCSP_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09];
/// Clock skew tolerated on thisUpdate and nextUpdate (openssl's default too).
const LEEWAY: time::Duration = time::Duration::minutes(5);

/// The OCSP responder URLs a certificate names in its authorityInfoAccess extension.
pub fn ocsp_responder_urls(cert_der: &[u8]) -> Result<Vec<String>, PkiError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der)
        .map_err(|e| PkiError::Certificate(e.to_string()))?;
    let mut urls = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            for desc in &aia.accessdescs {
                if let (true, GeneralName::URI(uri)) = (
                    desc.access_method == OID_PKIX_ACCESS_DESCRIPTOR_OCSP,
                    &desc.access_location,
                ) {
                    urls.push((*uri).to_string());
                }
            }
        }
    }
    Ok(urls)
}

/// The status a DER OCSPResponse gives `cert`, after checking who signed it, that it answers
/// for `cert` issued by `issuer`, that it is current at `now` and that a nonce it echoes is
/// `nonce`. Anything that makes the answer unusable is [`Invalid::RevocationUnknown`].
pub fn check_ocsp_response(
    response: &[u8],
    cert: &[u8],
    issuer: &[u8],
    nonce: Option<&[u8]>,
    now: OffsetDateTime,
) -> Result<OcspStatus, Invalid> {
    let unknown = |why: String| Invalid::RevocationUnknown(why);
    let malformed = |e: der::Error| unknown(format!("malformed OCSP response: {e}"));
    let outer = OcspResponse::from_der(response).map_err(malformed)?;
    if outer.response_status != OcspResponseStatus::Successful {
        return Err(unknown(format!(
            "the OCSP responder answered {:?}",
            outer.response_status
        )));
    }
    let bytes = outer
        .response_bytes
        .ok_or_else(|| unknown("the OCSP response has no body".into()))?;
    if bytes.response_type != BASIC {
        return Err(unknown(format!(
            "unsupported OCSP response type {}",
            bytes.response_type
        )));
    }
    let basic_der = bytes.response.as_bytes();
    let basic = BasicOcspResponse::from_der(basic_der).map_err(malformed)?;
    let tbs = first_tlv(basic_der).map_err(malformed)?;
    let alg_id = basic.signature_algorithm.to_der().map_err(malformed)?;
    let alg_id = AnyRef::from_der(&alg_id).map_err(malformed)?;
    let signature = basic
        .signature
        .as_bytes()
        .ok_or_else(|| unknown("malformed OCSP response signature".into()))?;
    let signed = |signer: &[u8]| verifies(signer, alg_id.value(), tbs, signature);
    if !signed(issuer) && !delegated_signer(&basic, issuer, now, &signed) {
        return Err(unknown(
            "the OCSP response is not signed by the certificate's issuer or a responder it authorized"
                .into(),
        ));
    }

    let ids = OcspIssuer::new(issuer).map_err(|e| unknown(e.to_string()))?;
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(cert)
        .map_err(|e| unknown(e.to_string()))?;
    let serial = trim_zeros(parsed.raw_serial());
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| {
            ids.matches(&r.cert_id) && trim_zeros(r.cert_id.serial_number.as_bytes()) == serial
        })
        .ok_or_else(|| unknown("the OCSP response does not answer for this certificate".into()))?;

    let this_update = ocsp_time(&single.this_update.0);
    if this_update > now + LEEWAY {
        return Err(unknown(
            "the OCSP response is from the future (thisUpdate)".into(),
        ));
    }
    if let Some(next) = &single.next_update {
        if ocsp_time(&next.0) < now - LEEWAY {
            return Err(unknown(
                "the OCSP response is out of date (nextUpdate)".into(),
            ));
        }
    }
    if let (Some(sent), Some(echoed)) = (
        nonce,
        basic
            .tbs_response_data
            .response_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == NONCE),
    ) {
        let wrapped = OctetString::new(sent)
            .and_then(|o| o.to_der())
            .map_err(malformed)?;
        let value = echoed.extn_value.as_bytes();
        if value != wrapped.as_slice() && value != sent {
            return Err(unknown("the OCSP response echoes another nonce".into()));
        }
    }

    Ok(match &single.cert_status {
        CertStatus::Good(_) => OcspStatus::Good,
        CertStatus::Unknown(_) => OcspStatus::Unknown,
        CertStatus::Revoked(info) => OcspStatus::Revoked {
            at: ocsp_time(&info.revocation_time.0),
            reason: info
                .revocation_reason
                .map(revocation_reason)
                .unwrap_or(RevocationReason::Unspecified),
        },
    })
}

/// Whether one of the certificates in the response is a responder `issuer` authorized at
/// `now` whose key made the signature.
fn delegated_signer(
    basic: &BasicOcspResponse,
    issuer: &[u8],
    now: OffsetDateTime,
    signed: &dyn Fn(&[u8]) -> bool,
) -> bool {
    let issuer_der = CertificateDer::from(issuer);
    let Ok(anchor) = webpki::anchor_from_trusted_cert(&issuer_der) else {
        return false;
    };
    let time = UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(now.unix_timestamp()).unwrap_or(0),
    ));
    basic.certs.iter().flatten().any(|cert| {
        let Ok(der) = cert.to_der() else {
            return false;
        };
        let cert_der = CertificateDer::from(der.as_slice());
        let Ok(responder) = webpki::EndEntityCert::try_from(&cert_der) else {
            return false;
        };
        responder
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                std::slice::from_ref(&anchor),
                &[],
                time,
                webpki::KeyUsage::required(EKU_OCSP_SIGNING),
                None,
                None,
            )
            .is_ok()
            && signed(&der)
    })
}

/// Whether `signature` over `message` verifies with the key of certificate `signer` under the
/// algorithm whose AlgorithmIdentifier contents are `alg_id`.
fn verifies(signer: &[u8], alg_id: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let der = CertificateDer::from(signer);
    let Ok(cert) = webpki::EndEntityCert::try_from(&der) else {
        return false;
    };
    webpki::ALL_VERIFICATION_ALGS
        .iter()
        .filter(|alg| alg.signature_alg_id().as_ref() == alg_id)
        .any(|alg| cert.verify_signature(*alg, message, signature).is_ok())
}

/// The raw bytes of the first element of a DER SEQUENCE (the signed part of a signed structure).
fn first_tlv(der: &[u8]) -> Result<&[u8], der::Error> {
    let outer = AnyRef::from_der(der)?;
    let mut reader = SliceReader::new(outer.value())?;
    reader.tlv_bytes()
}

fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn ocsp_time(t: &der::asn1::GeneralizedTime) -> OffsetDateTime {
    i64::try_from(t.to_unix_duration().as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn revocation_reason(reason: CrlReason) -> RevocationReason {
    match reason {
        CrlReason::KeyCompromise => RevocationReason::KeyCompromise,
        CrlReason::CaCompromise => RevocationReason::CaCompromise,
        CrlReason::AffiliationChanged => RevocationReason::AffiliationChanged,
        CrlReason::Superseded => RevocationReason::Superseded,
        CrlReason::CessationOfOperation => RevocationReason::CessationOfOperation,
        CrlReason::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
        CrlReason::AaCompromise => RevocationReason::AaCompromise,
        _ => RevocationReason::Unspecified,
    }
}

#[cfg(test)]
mod tests;
