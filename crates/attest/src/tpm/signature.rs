//! TPMT_SIGNATURE (TPM 2.0 Part 2, §11.3.4): ECDSA and RSASSA with SHA-256, and verification.

use rsa::pkcs1v15;
use rsa::signature::Verifier;
use sha2::Sha256;

use crate::tpm::public::{left_pad, ALG_SHA256};
use crate::tpm::wire::Reader;
use crate::{AttestError, Check, Public};

const ALG_RSASSA: u16 = 0x0014;
const ALG_ECDSA: u16 = 0x0018;

/// A parsed TPMT_SIGNATURE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// ECDSA over SHA-256: r and s, big-endian.
    EcdsaSha256 {
        /// r.
        r: Vec<u8>,
        /// s.
        s: Vec<u8>,
    },
    /// RSASSA-PKCS1-v1_5 over SHA-256.
    RsassaSha256(Vec<u8>),
}

impl Signature {
    /// Parses TPMT_SIGNATURE bytes; only ECDSA and RSASSA with SHA-256 are accepted.
    pub fn parse(bytes: &[u8]) -> Result<Self, AttestError> {
        let mut r = Reader::new("TPMT_SIGNATURE", bytes)?;
        let alg = r.u16("sigAlg")?;
        let hash = r.u16("hash")?;
        if hash != ALG_SHA256 {
            return Err(r.error(format!("hash {hash:#06x} is not SHA-256")));
        }
        let sig = match alg {
            ALG_ECDSA => Self::EcdsaSha256 {
                r: r.tpm2b(66, "signatureR")?.to_vec(),
                s: r.tpm2b(66, "signatureS")?.to_vec(),
            },
            ALG_RSASSA => Self::RsassaSha256(r.tpm2b(512, "sig")?.to_vec()),
            other => return Err(r.error(format!("sigAlg {other:#06x} is not ECDSA or RSASSA"))),
        };
        r.finish()?;
        Ok(sig)
    }

    /// Verifies this signature by `key` over `message` (hashed with SHA-256 here).
    pub fn verify(&self, key: &Public, message: &[u8]) -> Result<(), AttestError> {
        let bad = |why: &str| AttestError::refused(Check::CertifySignature, why.to_string());
        match self {
            Self::EcdsaSha256 { r, s } => {
                let public = key
                    .p256_key()
                    .ok_or_else(|| bad("an ECDSA signature needs a P-256 signing key"))?;
                let r = left_pad::<32>(r).ok_or_else(|| bad("ECDSA r is longer than 32 bytes"))?;
                let s = left_pad::<32>(s).ok_or_else(|| bad("ECDSA s is longer than 32 bytes"))?;
                let sig = p256::ecdsa::Signature::from_scalars(r, s)
                    .map_err(|_| bad("ECDSA r or s is out of range"))?;
                p256::ecdsa::VerifyingKey::from(&public)
                    .verify(message, &sig)
                    .map_err(|_| bad("the ECDSA signature does not verify with the AK"))
            }
            Self::RsassaSha256(sig) => {
                let public = key
                    .rsa_key()
                    .ok_or_else(|| bad("an RSASSA signature needs an RSA signing key"))?;
                let sig = pkcs1v15::Signature::try_from(sig.as_slice())
                    .map_err(|_| bad("the RSASSA signature is malformed"))?;
                pkcs1v15::VerifyingKey::<Sha256>::new(public)
                    .verify(message, &sig)
                    .map_err(|_| bad("the RSASSA signature does not verify with the AK"))
            }
        }
    }
}

#[cfg(test)]
mod tests;
