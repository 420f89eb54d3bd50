//! OCSP (RFC 6960): strict request parsing and response signing. Pure: the caller decides each
//! certificate's status and passes the time in.

use std::time::Duration;

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use ring::digest;
use time::OffsetDateTime;
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::Extension;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};
use x509_parser::prelude::FromDer;

use crate::{IssuingCa, PkiError, RevocationReason, Serial};

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// Requests with more certificates than this are refused as malformed.
const MAX_QUERIES: usize = 32;

/// Why an OCSP request cannot be answered normally.
#[derive(Debug, PartialEq, Eq)]
pub enum OcspError {
    /// The request is not a valid DER OCSPRequest (answer `malformedRequest`).
    Malformed(String),
}

/// The hashes an OCSP CertID can use to name the issuing CA.
#[derive(Clone, Debug)]
pub struct OcspIssuer {
    sha1_name: Vec<u8>,
    sha1_key: Vec<u8>,
    sha256_name: Vec<u8>,
    sha256_key: Vec<u8>,
}

impl OcspIssuer {
    /// The CertID hashes of a CA certificate: its subject name and public key, SHA-1 and SHA-256.
    pub fn new(ca_cert_der: &[u8]) -> Result<Self, PkiError> {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(ca_cert_der)
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        let name = cert.subject().as_raw();
        let key = cert.public_key().subject_public_key.data.as_ref();
        let h = |alg: &'static digest::Algorithm, data: &[u8]| {
            digest::digest(alg, data).as_ref().to_vec()
        };
        Ok(Self {
            sha1_name: h(&digest::SHA1_FOR_LEGACY_USE_ONLY, name),
            sha1_key: h(&digest::SHA1_FOR_LEGACY_USE_ONLY, key),
            sha256_name: h(&digest::SHA256, name),
            sha256_key: h(&digest::SHA256, key),
        })
    }

    pub(crate) fn matches(&self, id: &CertId) -> bool {
        let (name, key) = match id.hash_algorithm.oid {
            SHA1 => (&self.sha1_name, &self.sha1_key),
            SHA256 => (&self.sha256_name, &self.sha256_key),
            _ => return false,
        };
        id.issuer_name_hash.as_bytes() == name.as_slice()
            && id.issuer_key_hash.as_bytes() == key.as_slice()
    }
}

/// One certificate asked about.
#[derive(Clone, Debug)]
pub struct OcspQuery {
    /// The CertID as asked (echoed in the response).
    pub cert_id: CertId,
    /// Its DER: the cache key for pre-signed responses.
    pub cert_id_der: Vec<u8>,
    /// The serial asked about (hex).
    pub serial: String,
    /// Whether the CertID names this responder's issuer (with SHA-1 or SHA-256).
    pub ours: bool,
}

/// A parsed request.
#[derive(Clone, Debug)]
pub struct OcspRequestInfo {
    /// The certificates asked about.
    pub queries: Vec<OcspQuery>,
    /// The nonce extension, echoed in the response when present.
    pub nonce: Option<Extension>,
}

/// Parses a DER OCSPRequest strictly (no trailing bytes, 1 to 32 certificates).
pub fn parse_request(der: &[u8], issuer: &OcspIssuer) -> Result<OcspRequestInfo, OcspError> {
    let request = OcspRequest::from_der(der).map_err(|e| OcspError::Malformed(e.to_string()))?;
    let list = &request.tbs_request.request_list;
    if list.is_empty() || list.len() > MAX_QUERIES {
        return Err(OcspError::Malformed(format!(
            "a request must ask about 1 to {MAX_QUERIES} certificates"
        )));
    }
    let mut queries = Vec::with_capacity(list.len());
    for item in list {
        let id = &item.req_cert;
        queries.push(OcspQuery {
            cert_id_der: id
                .to_der()
                .map_err(|e| OcspError::Malformed(e.to_string()))?,
            serial: Serial::from_be_bytes(id.serial_number.as_bytes()).to_string(),
            ours: issuer.matches(id),
            cert_id: id.clone(),
        });
    }
    let nonce = request
        .tbs_request
        .request_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == NONCE)
        .cloned();
    Ok(OcspRequestInfo { queries, nonce })
}

/// A certificate's status as the responder reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspStatus {
    /// Issued here and not revoked.
    Good,
    /// Revoked at a time, for a reason.
    Revoked {
        /// When.
        at: OffsetDateTime,
        /// Why.
        reason: RevocationReason,
    },
    /// Not a certificate this issuer knows.
    Unknown,
}

/// Signs OCSP responses with the issuing CA's key (responder id by key hash).
pub struct OcspResponder<'a> {
    ca: &'a IssuingCa,
}

impl<'a> OcspResponder<'a> {
    /// A responder signing as `ca`.
    pub fn new(ca: &'a IssuingCa) -> Self {
        Self { ca }
    }

    /// A signed `successful` response: thisUpdate = now, nextUpdate = now + `validity`.
    pub fn sign(
        &self,
        answers: &[(CertId, OcspStatus)],
        nonce: Option<&Extension>,
        now: OffsetDateTime,
        validity: Duration,
    ) -> Result<Vec<u8>, PkiError> {
        let enc = |e: der::Error| PkiError::Encoding(e.to_string());
        let this_update = ocsp_time(now)?;
        let next_update = ocsp_time(now + validity)?;
        let responses = answers
            .iter()
            .map(|(id, status)| {
                Ok(SingleResponse {
                    cert_id: id.clone(),
                    cert_status: match status {
                        OcspStatus::Good => CertStatus::Good(Null),
                        OcspStatus::Unknown => CertStatus::Unknown(Null),
                        OcspStatus::Revoked { at, reason } => CertStatus::Revoked(RevokedInfo {
                            revocation_time: ocsp_time(*at)?,
                            revocation_reason: Some(crl_reason(*reason)),
                        }),
                    },
                    this_update,
                    next_update: Some(next_update),
                    single_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;
        let key_hash = self.key_hash()?;
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(key_hash).map_err(enc)?),
            produced_at: this_update,
            responses,
            response_extensions: nonce.map(|n| vec![n.clone()]),
        };
        let tbs = data.to_der().map_err(enc)?;
        let (signature, algorithm) = self.ca.sign_raw(&tbs)?;
        let oid = ObjectIdentifier::new(algorithm.oid())
            .map_err(|e| PkiError::Encoding(e.to_string()))?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: algorithm
                    .has_null_parameters()
                    .then(|| der::Any::from(Null)),
            },
            signature: BitString::from_bytes(&signature).map_err(enc)?,
            certs: None,
        };
        OcspResponse::successful(basic)
            .and_then(|r| r.to_der())
            .map_err(enc)
    }

    fn key_hash(&self) -> Result<Vec<u8>, PkiError> {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(self.ca.cert_der())
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        let key = cert.public_key().subject_public_key.data.as_ref();
        Ok(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, key)
            .as_ref()
            .to_vec())
    }
}

/// A DER OCSPRequest for one certificate (SHA-1 CertID, as most clients send), with an
/// optional nonce: for load generators, tests and the gateway's OCSP checks.
pub fn build_request(
    issuer_der: &[u8],
    cert_der: &[u8],
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, PkiError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der)
        .map_err(|e| PkiError::Certificate(e.to_string()))?;
    build_request_for_serial(issuer_der, &Serial::from_be_bytes(cert.raw_serial()), nonce)
}

/// [`build_request`] for a serial number alone (the certificate itself is not needed): for
/// load generators that ask about certificates read from a database.
pub fn build_request_for_serial(
    issuer_der: &[u8],
    serial: &Serial,
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, PkiError> {
    use x509_ocsp::{Request, TbsRequest};
    let enc = |e: der::Error| PkiError::Encoding(e.to_string());
    let (_, issuer) = x509_parser::certificate::X509Certificate::from_der(issuer_der)
        .map_err(|e| PkiError::Certificate(e.to_string()))?;
    // A DER INTEGER: a positive value whose first byte has the high bit set needs a 0 first.
    let mut integer = Vec::with_capacity(serial.as_bytes().len() + 1);
    if serial.as_bytes()[0] & 0x80 != 0 {
        integer.push(0);
    }
    integer.extend_from_slice(serial.as_bytes());
    let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
    let id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: SHA1,
            parameters: Some(der::Any::from(Null)),
        },
        issuer_name_hash: OctetString::new(
            digest::digest(sha1, issuer.subject().as_raw()).as_ref(),
        )
        .map_err(enc)?,
        issuer_key_hash: OctetString::new(
            digest::digest(sha1, issuer.public_key().subject_public_key.data.as_ref()).as_ref(),
        )
        .map_err(enc)?,
        serial_number: x509_cert::serial_number::SerialNumber::new(&integer).map_err(enc)?,
    };
    let extensions = match nonce {
        Some(n) => Some(vec![Extension {
            extn_id: NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(n).map_err(enc)?.to_der().map_err(enc)?)
                .map_err(enc)?,
        }]),
        None => None,
    };
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: id,
                single_request_extensions: None,
            }],
            request_extensions: extensions,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(enc)
}

/// The status of the first answer in a DER OCSPResponse (no signature check): for load
/// generators and tests. `None` when the response is not `successful`.
pub fn response_status(der: &[u8]) -> Option<OcspStatus> {
    let response = OcspResponse::from_der(der).ok()?;
    let bytes = response.response_bytes?;
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).ok()?;
    Some(
        match basic.tbs_response_data.responses.first()?.cert_status {
            CertStatus::Good(_) => OcspStatus::Good,
            CertStatus::Unknown(_) => OcspStatus::Unknown,
            CertStatus::Revoked(_) => OcspStatus::Revoked {
                at: OffsetDateTime::UNIX_EPOCH,
                reason: RevocationReason::Unspecified,
            },
        },
    )
}

/// The unsigned `malformedRequest` response.
pub fn malformed_response() -> Vec<u8> {
    OcspResponse::malformed_request()
        .to_der()
        .unwrap_or_default()
}

/// The unsigned `unauthorized` response (a CA this responder does not serve).
pub fn unauthorized_response() -> Vec<u8> {
    OcspResponse::unauthorized().to_der().unwrap_or_default()
}

/// The unsigned `internalError` response.
pub fn internal_error_response() -> Vec<u8> {
    OcspResponse::internal_error().to_der().unwrap_or_default()
}

/// The unsigned `tryLater` response (the responder cannot answer now).
pub fn try_later_response() -> Vec<u8> {
    OcspResponse::try_later().to_der().unwrap_or_default()
}

fn ocsp_time(t: OffsetDateTime) -> Result<OcspGeneralizedTime, PkiError> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| PkiError::Encoding("time before 1970".into()))?;
    let dt = der::DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|e| PkiError::Encoding(e.to_string()))?;
    Ok(OcspGeneralizedTime(GeneralizedTime::from_date_time(dt)))
}

fn crl_reason(reason: RevocationReason) -> CrlReason {
    match reason {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    }
}

#[cfg(test)]
mod tests;
