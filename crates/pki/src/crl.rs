use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::OffsetDateTime;

use crate::{IssuingCa, PkiError, RevocationReason, Serial};

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
    /// identifier, so `openssl verify -crl_check` finds it), a reason code per entry.
    pub fn sign_crl(&self, params: &CrlParams) -> Result<Vec<u8>, PkiError> {
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
                    reason_code: Some(e.reason.to_rcgen()),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::PreSpecified(self.subject_key_id().to_vec()),
        };
        let signed = crl
            .signed_by(self.rcgen_issuer())
            .map_err(|e| PkiError::Build(format!("CRL: {e}")))?;
        Ok(signed.der().to_vec())
    }
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
