use pki_types::pem::PemObject;
use pki_types::CertificateDer;

use crate::PkiError;

/// PEM text for one DER object under `label` (e.g. `CERTIFICATE`).
pub fn der_to_pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every `CERTIFICATE` in a PEM text, in order; an error if there is none.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Encoding(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::Encoding(
            "no CERTIFICATE found in the PEM text".into(),
        ));
    }
    Ok(certs)
}
