use std::fmt;
use std::str::FromStr;

use pkcs8::der::pem::LineEnding;
use pkcs8::{EncodePrivateKey, EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519};

use crate::PkiError;

/// The key algorithms inkan can generate for CAs and devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256 (the default).
    P256,
    /// ECDSA on NIST P-384 with SHA-384.
    P384,
    /// RSA with a 3072-bit modulus, PKCS#1 v1.5 with SHA-256.
    Rsa3072,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "p256",
            Self::P384 => "p384",
            Self::Rsa3072 => "rsa3072",
            Self::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "p256" | "ecdsap256" | "prime256v1" => Ok(Self::P256),
            "p384" | "ecdsap384" | "secp384r1" => Ok(Self::P384),
            "rsa3072" | "rsa" => Ok(Self::Rsa3072),
            "ed25519" => Ok(Self::Ed25519),
            _ => Err(PkiError::Key(format!(
                "unknown key algorithm {s:?}: use p256, p384, rsa3072 or ed25519"
            ))),
        }
    }
}

/// A freshly generated or loaded private key, held as PKCS#8 DER plus a ready signer.
pub struct GeneratedKey {
    pkcs8: Vec<u8>,
    signer: KeyPair,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("algorithm", &self.signer.algorithm())
            .finish_non_exhaustive()
    }
}

impl GeneratedKey {
    /// Generates a new key pair from the system's secure random source.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, PkiError> {
        let signer = match algorithm {
            KeyAlgorithm::P256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
            KeyAlgorithm::P384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384),
            KeyAlgorithm::Ed25519 => KeyPair::generate_for(&PKCS_ED25519),
            KeyAlgorithm::Rsa3072 => {
                let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 3072)
                    .map_err(|e| PkiError::Key(format!("RSA key generation failed: {e}")))?;
                let der = key
                    .to_pkcs8_der()
                    .map_err(|e| PkiError::Key(format!("RSA key encoding failed: {e}")))?;
                return Self::from_pkcs8_der(der.as_bytes());
            }
        }
        .map_err(|e| PkiError::Key(e.to_string()))?;
        Ok(Self {
            pkcs8: signer.serialize_der(),
            signer,
        })
    }

    /// Loads an unencrypted PKCS#8 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        let signer = KeyPair::try_from(der)
            .map_err(|e| PkiError::Key(format!("unsupported or malformed private key: {e}")))?;
        Ok(Self {
            pkcs8: der.to_vec(),
            signer,
        })
    }

    /// Loads a PEM private key: `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with a passphrase.
    pub fn from_pem(pem: &str, passphrase: Option<&[u8]>) -> Result<Self, PkiError> {
        let (label, der) = pkcs8::der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| PkiError::Key(format!("the key file is not PEM: {e}")))?;
        match (label, passphrase) {
            ("PRIVATE KEY", _) => Self::from_pkcs8_der(&der),
            ("ENCRYPTED PRIVATE KEY", Some(pass)) => {
                let info = EncryptedPrivateKeyInfo::try_from(der.as_slice())
                    .map_err(|e| PkiError::Key(format!("malformed encrypted key: {e}")))?;
                let plain = info.decrypt(pass).map_err(|_| {
                    PkiError::Key("could not decrypt the key: wrong passphrase?".into())
                })?;
                Self::from_pkcs8_der(plain.as_bytes())
            }
            ("ENCRYPTED PRIVATE KEY", None) => Err(PkiError::Key(
                "the key is encrypted: give its passphrase (--passphrase-file or INKAN_CA_PASSPHRASE)"
                    .into(),
            )),
            (other, _) => Err(PkiError::Key(format!(
                "expected a PKCS#8 PRIVATE KEY, found PEM label {other:?}"
            ))),
        }
    }

    /// PEM text of the key, encrypted (PBES2: scrypt + AES-256-CBC) when a passphrase is given.
    pub fn to_pem(&self, passphrase: Option<&[u8]>) -> Result<String, PkiError> {
        match passphrase {
            None => Ok(
                pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &self.pkcs8)
                    .map_err(|e| PkiError::Key(e.to_string()))?,
            ),
            Some(pass) => {
                let info = PrivateKeyInfo::try_from(self.pkcs8.as_slice())
                    .map_err(|e| PkiError::Key(e.to_string()))?;
                let doc = info
                    .encrypt(rand::rngs::OsRng, pass)
                    .map_err(|e| PkiError::Key(format!("key encryption failed: {e}")))?;
                Ok(doc
                    .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
                    .map_err(|e| PkiError::Key(e.to_string()))?
                    .to_string())
            }
        }
    }

    /// The PKCS#8 DER encoding of the private key.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The signer used to sign certificates and CSRs.
    pub fn signer(&self) -> &KeyPair {
        &self.signer
    }

    /// Consumes the key, returning its signer.
    pub fn into_signer(self) -> KeyPair {
        self.signer
    }

    /// Signs `message` with the key's own scheme: ECDSA with SHA-256 (P-256) or SHA-384
    /// (P-384) as a DER `Ecdsa-Sig-Value`, Ed25519, or RSA PKCS#1 v1.5 with SHA-256.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        use rcgen::SigningKey;
        self.signer
            .sign(message)
            .map_err(|e| PkiError::Build(format!("signing: {e}")))
    }

    /// DER SubjectPublicKeyInfo of the public half.
    pub fn public_key_der(&self) -> Vec<u8> {
        use rcgen::PublicKeyData;
        self.signer.subject_public_key_info()
    }
}

/// The Unix permission bits every private key file gets.
pub const PRIVATE_KEY_MODE: u32 = 0o600;

#[cfg(test)]
mod tests;
