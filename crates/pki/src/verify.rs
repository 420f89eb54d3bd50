use std::time::Duration;

use pki_types::{CertificateDer, UnixTime};
use time::OffsetDateTime;

use crate::PkiError;

/// What a verified chain must be good for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainUsage {
    /// TLS client authentication.
    ClientAuth,
    /// TLS server authentication.
    ServerAuth,
}

/// Verifies `end_entity` up to one of `roots` through `intermediates` at `now`, with
/// rustls-webpki (signatures, validity, basic constraints, EKU).
pub fn verify_chain(
    end_entity: &[u8],
    intermediates: &[Vec<u8>],
    roots: &[Vec<u8>],
    usage: ChainUsage,
    now: OffsetDateTime,
) -> Result<(), PkiError> {
    let untrusted = |e: webpki::Error| PkiError::Untrusted(describe(&e));
    let ee_der = CertificateDer::from(end_entity);
    let ee = webpki::EndEntityCert::try_from(&ee_der).map_err(untrusted)?;
    let root_ders: Vec<CertificateDer<'_>> = roots
        .iter()
        .map(|r| CertificateDer::from(r.as_slice()))
        .collect();
    let anchors = root_ders
        .iter()
        .map(|r| webpki::anchor_from_trusted_cert(r).map(|a| a.to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(untrusted)?;
    let inter: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let time = UnixTime::since_unix_epoch(Duration::from_secs(secs));
    let key_usage = match usage {
        ChainUsage::ClientAuth => webpki::KeyUsage::client_auth(),
        ChainUsage::ServerAuth => webpki::KeyUsage::server_auth(),
    };
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &inter,
        time,
        key_usage,
        None,
        None,
    )
    .map_err(untrusted)?;
    Ok(())
}

fn describe(e: &webpki::Error) -> String {
    match e {
        webpki::Error::CertExpired { .. } => "the certificate has expired".into(),
        webpki::Error::CertNotValidYet { .. } => "the certificate is not valid yet".into(),
        webpki::Error::UnknownIssuer => "the certificate was not issued by this authority".into(),
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            "the certificate is not valid for this use (extended key usage)".into()
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests;
