//! PKCS#7 / CMS "certs-only" SignedData (RFC 7030 §4.1.3, RFC 5652): the EST envelope.

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, Encode};

use crate::oid::tlv;

use crate::PkiError;

/// Wraps DER certificates in a degenerate SignedData (no signers), DER-encoded.
///
/// The certificates are copied in as they are (checked to be single DER certificates), sorted
/// as DER requires for a SET OF; nothing is decoded and re-encoded on this hot path.
pub fn certs_only_encode(certs: &[Vec<u8>]) -> Result<Vec<u8>, PkiError> {
    for cert in certs {
        check_single_tlv(cert)?;
    }
    let mut sorted: Vec<&Vec<u8>> = certs.iter().collect();
    sorted.sort();
    let certificates: Vec<u8> = sorted.into_iter().flatten().copied().collect();
    // SignedData ::= SEQUENCE { version 1, digestAlgorithms {}, encapContentInfo { id-data },
    //                           certificates [0] IMPLICIT SET OF, signerInfos {} }
    let version = [0x02, 0x01, 0x01];
    let digest_algorithms = [0x31, 0x00];
    let encap = tlv(0x30, &tlv(0x06, &ID_DATA));
    let signer_infos = [0x31, 0x00];
    let signed_data = tlv(
        0x30,
        &[
            &version[..],
            &digest_algorithms,
            &encap,
            &tlv(0xa0, &certificates),
            &signer_infos,
        ]
        .concat(),
    );
    // ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
    Ok(tlv(
        0x30,
        &[tlv(0x06, &ID_SIGNED_DATA), tlv(0xa0, &signed_data)].concat(),
    ))
}

/// 1.2.840.113549.1.7.1
const ID_DATA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
/// 1.2.840.113549.1.7.2
const ID_SIGNED_DATA: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// A certificate must be exactly one DER SEQUENCE, with nothing after it.
fn check_single_tlv(der: &[u8]) -> Result<(), PkiError> {
    match der::asn1::AnyRef::from_der(der) {
        Ok(any) if der::Tagged::tag(&any) == der::Tag::Sequence => Ok(()),
        _ => Err(PkiError::Certificate("not a single DER certificate".into())),
    }
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
