use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::OffsetDateTime;

use crate::{IssuingCa, PkiError, RevocationReason, RootCa, Serial};

/// One revoked certificate on a CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlEntry {
    /// Its serial.
    pub serial: Serial,
    /// When it was revoked.
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
}

/// What goes into one CRL.
#[derive(Clone, Debug)]
pub struct CrlParams {
    /// The CRL number: must increase with every CRL of this issuer.
    pub number: u64,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate.
    pub next_update: OffsetDateTime,
    /// The revoked certificates.
    pub entries: Vec<CrlEntry>,
}

impl IssuingCa {
    /// Signs an RFC 5280 v2 CRL: CRL number, authority key identifier (this CA's subject key
    /// identifier, so `openssl verify -crl_check` finds it), a reason code per entry (none for
    /// `unspecified`).
    pub fn sign_crl(&self, params: &CrlParams) -> Result<Vec<u8>, PkiError> {
        sign(self.rcgen_issuer(), self.subject_key_id(), params)
    }
}

impl RootCa {
    /// Signs the root's CRL (the issuing CAs it has revoked), in the same form as
    /// [`IssuingCa::sign_crl`].
    pub fn sign_crl(&self, params: &CrlParams) -> Result<Vec<u8>, PkiError> {
        sign(self.rcgen_issuer(), self.subject_key_id(), params)
    }
}

fn sign(
    issuer: &rcgen::Issuer<'static, crate::signing_key::BoxedKey>,
    subject_key_id: &[u8],
    params: &CrlParams,
) -> Result<Vec<u8>, PkiError> {
    let crl = CertificateRevocationListParams {
        this_update: params.this_update,
        next_update: params.next_update,
        crl_number: SerialNumber::from_slice(&params.number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs: params
            .entries
            .iter()
            .map(|e| RevokedCertParams {
                serial_number: SerialNumber::from_slice(e.serial.as_bytes()),
                revocation_time: e.revoked_at,
                // RFC 5280 §5.3.1: unspecified is expressed by leaving the reason out.
                reason_code: (e.reason != RevocationReason::Unspecified)
                    .then(|| e.reason.to_rcgen()),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::PreSpecified(subject_key_id.to_vec()),
    };
    let signed = crl
        .signed_by(issuer)
        .map_err(|e| PkiError::Build(format!("CRL: {e}")))?;
    Ok(signed.der().to_vec())
}

/// What a CRL says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlSummary {
    /// The CRL number (0 if it has none or it does not fit in 64 bits).
    pub number: u64,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds, if present.
    pub next_update: Option<i64>,
    /// How many certificates it lists.
    pub entries: usize,
}

/// Parses a DER CRL strictly and summarises it.
pub fn crl_summary(der: &[u8]) -> Result<CrlSummary, PkiError> {
    let (rest, crl) =
        x509_parser::parse_x509_crl(der).map_err(|e| PkiError::Encoding(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::Encoding("trailing bytes after the CRL".into()));
    }
    Ok(CrlSummary {
        number: crl
            .crl_number()
            .map(|n| match n.to_u64_digits().as_slice() {
                [] => 0,
                [n] => *n,
                _ => 0,
            })
            .unwrap_or(0),
        this_update: crl.last_update().timestamp(),
        next_update: crl.next_update().map(|t| t.timestamp()),
        entries: crl.iter_revoked_certificates().count(),
    })
}

/// How many revoked certificates a DER CRL lists (parsing it strictly).
pub fn crl_entry_count(der: &[u8]) -> Result<usize, PkiError> {
    let (rest, crl) =
        x509_parser::parse_x509_crl(der).map_err(|e| PkiError::Encoding(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::Encoding("trailing bytes after the CRL".into()));
    }
    Ok(crl.iter_revoked_certificates().count())
}

#[cfg(test)]
mod tests;
