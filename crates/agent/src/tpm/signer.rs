//! The device key as a signer for rcgen (CSRs) and rustls (TLS client authentication).

use std::sync::Arc;

use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use tss_esapi::handles::KeyHandle;

use super::{DeviceKey, Tpm};
use crate::AgentError;

/// An ECDSA P-256 key that lives in the TPM: signs SHA-256 digests with TPM2_Sign.
#[derive(Debug, Clone)]
pub struct TpmSigningKey {
    tpm: Arc<Tpm>,
    handle: KeyHandle,
    point: Vec<u8>,
}

impl TpmSigningKey {
    /// A signer for `key` in `tpm`.
    pub fn new(tpm: Arc<Tpm>, key: &DeviceKey) -> Result<Self, AgentError> {
        Ok(Self {
            point: key.ec_point()?,
            handle: key.handle,
            tpm,
        })
    }

    /// The uncompressed public point.
    pub fn public_point(&self) -> &[u8] {
        &self.point
    }

    /// The SubjectPublicKeyInfo DER of the key.
    pub fn spki_der(&self) -> Vec<u8> {
        rustls::sign::public_key_to_spki(&rustls::pki_types::alg_id::ECDSA_P256, &self.point)
            .as_ref()
            .to_vec()
    }

    /// ECDSA/SHA-256 signature (DER) over `message`.
    pub fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, AgentError> {
        self.tpm.sign_sha256(self.handle, message)
    }

    /// A rustls client configuration trusting `roots` that authenticates with `chain` (DER, leaf
    /// first) and this key.
    pub fn client_tls_config(
        self,
        roots: &[Vec<u8>],
        chain: Vec<Vec<u8>>,
    ) -> Result<Arc<rustls::ClientConfig>, AgentError> {
        let certified = CertifiedKey::new(
            chain
                .into_iter()
                .map(rustls::pki_types::CertificateDer::from)
                .collect(),
            Arc::new(self),
        );
        Ok(inkan_client::client_tls_config_with_resolver(
            roots,
            Arc::new(rustls::sign::SingleCertAndKey::from(certified)),
        )?)
    }
}

impl SigningKey for TpmSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ECDSA_NISTP256_SHA256)
            .then(|| Box::new(self.clone()) as Box<dyn Signer>)
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.spki_der()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

impl Signer for TpmSigningKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.sign_message(message)
            .map_err(|e| rustls::Error::General(e.to_string()))
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ECDSA_NISTP256_SHA256
    }
}

impl rcgen::PublicKeyData for TpmSigningKey {
    fn der_bytes(&self) -> &[u8] {
        &self.point
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for TpmSigningKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_message(msg)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}
