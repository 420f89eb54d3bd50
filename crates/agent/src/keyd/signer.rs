//! A key service key as a TLS client key: rustls asks for a signature, the key service makes
//! it (in the TPM on a TPM unit) for this application, which owns the key; the private key never
//! enters this process. `inkan agent proxy --keyd` authenticates with it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use inkan_pki::KeyType;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use serde_json::{json, Value};

use crate::AgentError;

/// How long one signature may take (a TPM signs in milliseconds).
const SIGN_TIMEOUT: Duration = Duration::from_secs(10);

/// Key `key` of the key service at `socket`, with its certificate's public key.
#[derive(Clone, Debug)]
pub struct KeydSigningKey {
    socket: PathBuf,
    key: String,
    spki: Vec<u8>,
    scheme: SignatureScheme,
}

impl KeydSigningKey {
    /// Fetches key `key`'s certificate chain (leaf first, DER) from the key service at `socket`
    /// and makes a signer for it. The key service refuses unless this process owns the key.
    pub async fn open(socket: &Path, key: &str) -> Result<(Self, Vec<Vec<u8>>), AgentError> {
        let answer = super::call(socket, &json!({"op": "certificate", "key": key})).await?;
        let pem = answer["certificate"]
            .as_str()
            .ok_or_else(|| AgentError::Protocol("the key service sent no certificate".into()))?;
        let chain = inkan_pki::certs_from_pem(pem.as_bytes())?;
        let leaf = chain
            .first()
            .ok_or_else(|| AgentError::Protocol("the key service sent an empty chain".into()))?;
        let scheme = match inkan_pki::certificate_key_type(leaf)? {
            KeyType::P256 => SignatureScheme::ECDSA_NISTP256_SHA256,
            KeyType::P384 => SignatureScheme::ECDSA_NISTP384_SHA384,
            other => {
                return Err(AgentError::Protocol(format!(
                "key {key:?} is a {other:?} key; the key service signs with P-256 and P-384 keys"
            )))
            }
        };
        let signer = Self {
            socket: socket.to_path_buf(),
            key: key.to_string(),
            spki: inkan_pki::spki_der(leaf)?,
            scheme,
        };
        Ok((signer, chain))
    }

    /// A rustls client configuration trusting `roots` that authenticates with `chain` and this
    /// key.
    pub fn client_tls_config(
        self,
        roots: &[Vec<u8>],
        chain: Vec<Vec<u8>>,
    ) -> Result<Arc<rustls::ClientConfig>, AgentError> {
        let certified = CertifiedKey::new(
            chain.into_iter().map(CertificateDer::from).collect(),
            Arc::new(self),
        );
        Ok(inkan_client::client_tls_config_with_resolver(
            roots,
            Arc::new(rustls::sign::SingleCertAndKey::from(certified)),
        )?)
    }

    /// One signature from the key service (blocking: rustls signs synchronously).
    fn sign_blocking(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let mut stream = UnixStream::connect(&self.socket)
            .map_err(|e| format!("the key service at {}: {e}", self.socket.display()))?;
        let _ = stream.set_read_timeout(Some(SIGN_TIMEOUT));
        let _ = stream.set_write_timeout(Some(SIGN_TIMEOUT));
        let mut request =
            json!({"op": "sign", "key": self.key, "data": B64.encode(message)}).to_string();
        request.push('\n');
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("asking the key service: {e}"))?;
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .map_err(|e| format!("reading the key service: {e}"))?;
        let answer: Value = serde_json::from_str(&line)
            .map_err(|e| format!("the key service answered {line:?}: {e}"))?;
        if let Some(error) = answer["error"].as_str() {
            return Err(format!("the key service refused: {error}"));
        }
        answer["signature"]
            .as_str()
            .and_then(|s| B64.decode(s).ok())
            .ok_or_else(|| "the key service sent no signature".to_string())
    }
}

impl SigningKey for KeydSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&self.scheme)
            .then(|| Box::new(self.clone()) as Box<dyn Signer>)
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.spki.as_slice()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

impl Signer for KeydSigningKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.sign_blocking(message).map_err(rustls::Error::General)
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}
