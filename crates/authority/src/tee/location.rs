//! Verifying a device's signed location report (RFC 9711 EAT, COSE_Sign1): the certificate it
//! names must be a TEE-provisioned one that is valid and not revoked, the signature its key's,
//! the UEID its device's, `iat` recent, and the nonce a fresh challenge of that device, spent
//! by this verification so a replayed report is refused.

use inkan_attest::{ueid_of, LocationClaims, ParsedEat};
use inkan_store::CertificateStatus;

use crate::{unix_ms, Authority, AuthorityError};

/// How far `iat` may be from the authority's clock.
const IAT_WINDOW_SECS: i64 = 300;

/// The verdict on one report.
#[derive(Clone, Debug)]
pub struct LocationVerdict {
    /// Whether every check passed.
    pub accepted: bool,
    /// Why not, if not.
    pub reason: Option<String>,
    /// The certificate the report names.
    pub serial: String,
    /// The device, when the certificate is a TEE-provisioned one.
    pub uid: Option<String>,
    /// What the report says.
    pub claims: LocationClaims,
}

impl Authority {
    /// Verifies a location report; a malformed token is an error, a well-formed one that
    /// fails a check is a refused verdict (and spends nothing).
    pub async fn verify_location(&self, token: &[u8]) -> Result<LocationVerdict, AuthorityError> {
        let parsed = ParsedEat::parse(token).map_err(|e| AuthorityError::Invalid(e.to_string()))?;
        let mut verdict = LocationVerdict {
            accepted: false,
            reason: None,
            serial: parsed.kid.clone(),
            uid: None,
            claims: parsed.claims.clone(),
        };
        let refuse = |mut v: LocationVerdict, why: &str| {
            v.reason = Some(why.to_string());
            Ok(v)
        };
        let now = self.now();
        let Some(cert) = self.store().certificate(&parsed.kid).await? else {
            return refuse(verdict, "no certificate has the report's kid as serial");
        };
        if cert.status == CertificateStatus::Revoked {
            return refuse(verdict, "the signing certificate is revoked");
        }
        let now_s = now.unix_timestamp();
        if cert.not_after < now_s || cert.not_before > now_s {
            return refuse(verdict, "the signing certificate is not valid now");
        }
        let Some(evidence) = self.store().tee_attestation(&cert.serial).await? else {
            return refuse(
                verdict,
                "the signing certificate was not issued by TEE provisioning",
            );
        };
        verdict.uid = Some(evidence.uid.clone());
        let spki = inkan_pki::spki_der(&cert.der)?;
        if parsed.verify(&spki).is_err() {
            return refuse(
                verdict,
                "the signature does not verify with the certificate's key",
            );
        }
        if parsed.claims.ueid != ueid_of(&evidence.uid) {
            return refuse(verdict, "the ueid is not the certificate's device");
        }
        if (parsed.claims.iat - now_s).abs() > IAT_WINDOW_SECS {
            return refuse(
                verdict,
                "iat is more than 5 minutes from the authority's clock",
            );
        }
        let spent = self
            .store()
            .consume_tee_challenge(
                &hex::encode(&parsed.claims.nonce),
                &evidence.uid,
                unix_ms(now),
                &format!("cert:{}", cert.serial),
            )
            .await?;
        if !spent {
            return refuse(
                verdict,
                "the nonce is not a fresh challenge of this device (unknown, expired, another device's, or used: a replay)",
            );
        }
        verdict.accepted = true;
        Ok(verdict)
    }
}
