//! PKCS#7 / CMS "certs-only" SignedData (RFC 7030 §4.1.3, RFC 5652): the EST envelope.

use cms::cert::x509::Certificate;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, Encode};

use crate::PkiError;

/// Wraps DER certificates in a degenerate SignedData (no signers), DER-encoded.
pub fn certs_only_encode(certs: &[Vec<u8>]) -> Result<Vec<u8>, PkiError> {
    let parsed = certs
        .iter()
        .map(|c| Certificate::from_der(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Certificate(e.to_string()))?;
    let info = ContentInfo::try_from(parsed).map_err(|e| PkiError::Encoding(e.to_string()))?;
    info.to_der().map_err(|e| PkiError::Encoding(e.to_string()))
}

/// The DER certificates inside a certs-only SignedData (a SET: callers order chains themselves).
pub fn certs_only_decode(der: &[u8]) -> Result<Vec<Vec<u8>>, PkiError> {
    let bad = |e: der::Error| PkiError::Encoding(format!("not a PKCS#7 certs-only message: {e}"));
    let info = ContentInfo::from_der(der).map_err(bad)?;
    if info.content_type != const_oid::db::rfc5911::ID_SIGNED_DATA {
        return Err(PkiError::Encoding(
            "PKCS#7 content is not SignedData".into(),
        ));
    }
    let signed: SignedData = info.content.decode_as().map_err(bad)?;
    let mut out = Vec::new();
    for choice in signed.certificates.iter().flat_map(|set| set.0.iter()) {
        if let cms::cert::CertificateChoices::Certificate(cert) = choice {
            out.push(cert.to_der().map_err(bad)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
