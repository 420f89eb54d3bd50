//! A CA's signing key as a trait, in the shape of rcgen's `SigningKey`: one job, `sign`, plus
//! the public half and the algorithm. Software keys ([`SoftwareKey`]) implement it today;
//! PKCS#11 and TPM keys plug in the same way, and CAs with different kinds of keys coexist.
//! Certificates, CRLs and OCSP responses are all signed through it.

use std::ops::Deref;

use rcgen::{PublicKeyData, SignatureAlgorithm as RcgenAlgorithm};

use crate::{GeneratedKey, PkiError};

/// A private key that signs for a CA. Implementations never hand out the private key.
pub trait SigningKey: Send + Sync {
    /// The signature algorithm the key signs with.
    fn algorithm(&self) -> SignatureAlgorithm;

    /// The public key as the SubjectPublicKeyInfo's BIT STRING holds it (for RSA the DER
    /// RSAPublicKey, for EC the uncompressed point, for Ed25519 the 32 bytes).
    fn public_key_raw(&self) -> &[u8];

    /// Signs `message`; the signature is in its X.509 encoding (DER for ECDSA).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError>;

    /// The DER SubjectPublicKeyInfo of the public half.
    fn subject_public_key_info(&self) -> Vec<u8> {
        RcgenKey(self).subject_public_key_info()
    }
}

/// A software key (PKCS#8, in memory) of an algorithm a CA signs with.
#[derive(Debug)]
pub struct SoftwareKey {
    key: GeneratedKey,
    algorithm: SignatureAlgorithm,
}

impl SoftwareKey {
    /// The key, if a CA can sign with its algorithm.
    pub fn new(key: GeneratedKey) -> Result<Self, PkiError> {
        let algorithm = SignatureAlgorithm::of(key.signer().algorithm())?;
        Ok(Self { key, algorithm })
    }
}

impl SigningKey for SoftwareKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_raw(&self) -> &[u8] {
        self.key.signer().der_bytes()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        rcgen::SigningKey::sign(self.key.signer(), message)
            .map_err(|e| PkiError::Build(format!("signing failed: {e}")))
    }
}

/// A [`SigningKey`] (behind a reference or a box) as rcgen wants it, so that rcgen builds and
/// signs with any key.
pub(crate) struct RcgenKey<K>(pub(crate) K);

/// The boxed key a CA owns, as rcgen wants it.
pub(crate) type BoxedKey = RcgenKey<Box<dyn SigningKey>>;

impl<K: Deref<Target: SigningKey>> PublicKeyData for RcgenKey<K> {
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key_raw()
    }

    fn algorithm(&self) -> &'static RcgenAlgorithm {
        self.0.algorithm().rcgen()
    }
}

impl<K: Deref<Target: SigningKey>> rcgen::SigningKey for RcgenKey<K> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        // rcgen's error cannot carry the cause; a failing key says why in its own logs.
        self.0.sign(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// The signature algorithms inkan's CA keys sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// ecdsa-with-SHA256
    EcdsaSha256,
    /// ecdsa-with-SHA384
    EcdsaSha384,
    /// Ed25519
    Ed25519,
    /// sha256WithRSAEncryption
    RsaSha256,
}

impl SignatureAlgorithm {
    fn of(alg: &'static RcgenAlgorithm) -> Result<Self, PkiError> {
        [
            Self::EcdsaSha256,
            Self::EcdsaSha384,
            Self::Ed25519,
            Self::RsaSha256,
        ]
        .into_iter()
        .find(|a| a.rcgen() == alg)
        .ok_or_else(|| PkiError::Key(format!("unsupported CA signature algorithm {alg:?}")))
    }

    fn rcgen(self) -> &'static RcgenAlgorithm {
        match self {
            Self::EcdsaSha256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaSha384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
            Self::RsaSha256 => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// The dotted OID.
    pub fn oid(self) -> &'static str {
        match self {
            Self::EcdsaSha256 => "1.2.840.10045.4.3.2",
            Self::EcdsaSha384 => "1.2.840.10045.4.3.3",
            Self::Ed25519 => "1.3.101.112",
            Self::RsaSha256 => "1.2.840.113549.1.1.11",
        }
    }

    /// Whether the AlgorithmIdentifier carries an explicit NULL parameter (RSA does).
    pub fn has_null_parameters(self) -> bool {
        self == Self::RsaSha256
    }
}

#[cfg(test)]
mod tests;
