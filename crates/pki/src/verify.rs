use time::OffsetDateTime;

use crate::{validate, Invalid, PkiError, Validation};

/// What a verified chain must be good for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainUsage {
    /// TLS client authentication.
    ClientAuth,
    /// TLS server authentication.
    ServerAuth,
}

/// Verifies `end_entity` up to one of `roots` through `intermediates` at `now`, with
/// rustls-webpki (signatures, validity, basic constraints, EKU): [`crate::validate`] without a
/// name or revocation check, so the gateway, the server and `inkan cert verify` agree.
pub fn verify_chain(
    end_entity: &[u8],
    intermediates: &[Vec<u8>],
    roots: &[Vec<u8>],
    usage: ChainUsage,
    now: OffsetDateTime,
) -> Result<(), PkiError> {
    validate(&Validation {
        end_entity,
        intermediates,
        roots,
        usage: Some(usage),
        name: None,
        crls: &[],
        now,
    })
    .map(drop)
    .map_err(|e| PkiError::Untrusted(describe(&e)))
}

fn describe(e: &Invalid) -> String {
    match e {
        Invalid::Expired { .. } => "the certificate has expired".into(),
        Invalid::NotYetValid { .. } => "the certificate is not valid yet".into(),
        Invalid::UnknownIssuer => "the certificate was not issued by this authority".into(),
        Invalid::WrongPurpose(_) => {
            "the certificate is not valid for this use (extended key usage)".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
