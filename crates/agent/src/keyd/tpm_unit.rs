//! The key service on a unit with a TPM: the TA is opened with a secret only this TPM releases
//! (TPM2_ActivateCredential with its EK and the new device key loaded), and every certificate
//! key is created in the TPM, so it never exists outside it. A key is stored as its public area
//! and its private blob, which only this TPM's storage root key unwraps.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::AgentError;

/// The file, in a key's directory, that holds a TPM-resident key.
pub const TPM_KEY_FILE: &str = "device.tpm.json";

/// A TPM-resident key as stored: its TPMT_PUBLIC and its private blob (wrapped by the SRK).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredTpmKey {
    /// TPMT_PUBLIC, base64.
    pub public: String,
    /// The TPM2B_PRIVATE's buffer, base64.
    pub private: String,
}

impl StoredTpmKey {
    /// Reads `dir`'s TPM key, if it has one.
    pub fn read(dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(dir.join(TPM_KEY_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Writes it into `dir` (0600).
    pub fn write(&self, dir: &Path) -> Result<(), AgentError> {
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| AgentError::Protocol(e.to_string()))?;
        super::write_file(&dir.join(TPM_KEY_FILE), &json, 0o600)
    }

    fn parts(&self) -> Result<(Vec<u8>, Vec<u8>), AgentError> {
        let decode = |what: &str, text: &str| {
            B64.decode(text).map_err(|_| {
                AgentError::Protocol(format!("the stored TPM key's {what} is not base64"))
            })
        };
        Ok((
            decode("public", &self.public)?,
            decode("private", &self.private)?,
        ))
    }
}

/// The unit's TPM, shared by every enrollment and signature of the key service.
#[derive(Clone, Debug)]
pub struct TpmUnit(imp::Inner);

impl TpmUnit {
    /// Opens the TPM at `tcti` (e.g. `swtpm:host=127.0.0.1,port=2321`, `device:/dev/tpmrm0`).
    pub fn open(tcti: &str) -> Result<Self, AgentError> {
        imp::open(tcti).map(Self)
    }

    /// The EK's public area (TPMT_PUBLIC), for the manufacturer to register the unit with
    /// (`inkan tee device add --tpm-ek`).
    pub fn ek_public(&self) -> Result<Vec<u8>, AgentError> {
        imp::ek_public(&self.0)
    }

    /// Creates a new device key in the TPM: its TPMT_PUBLIC and its stored form.
    pub fn create_key(&self) -> Result<(Vec<u8>, StoredTpmKey), AgentError> {
        let (public, private) = imp::create_key(&self.0)?;
        let stored = StoredTpmKey {
            public: B64.encode(&public),
            private: B64.encode(private),
        };
        Ok((public, stored))
    }

    /// Recovers the secret the authority sealed to this TPM's EK for `key`.
    pub fn activate(
        &self,
        key: &StoredTpmKey,
        credential_blob: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<Vec<u8>, AgentError> {
        let (public, private) = key.parts()?;
        imp::activate(
            &self.0,
            &public,
            &private,
            credential_blob,
            encrypted_secret,
        )
    }

    /// The CSR for `key` (CN, serialNumber, SANs as [`inkan_pki::build_csr_with_serial`]),
    /// signed in the TPM; and the key's SubjectPublicKeyInfo (DER).
    pub fn csr(
        &self,
        key: &StoredTpmKey,
        common_name: &str,
        serial: Option<&str>,
        sans: &[String],
    ) -> Result<(Vec<u8>, Vec<u8>), AgentError> {
        let (public, private) = key.parts()?;
        imp::csr(&self.0, &public, &private, common_name, serial, sans)
    }

    /// ECDSA P-256/SHA-256 over `message` with `key` (DER signature).
    pub fn sign(&self, key: &StoredTpmKey, message: &[u8]) -> Result<Vec<u8>, AgentError> {
        let (public, private) = key.parts()?;
        imp::sign(&self.0, &public, &private, message)
    }
}

#[cfg(feature = "tpm")]
mod imp {
    use std::sync::Arc;

    use crate::tpm::{marshal_public, Tpm, TpmSigningKey};
    use crate::AgentError;

    pub(super) type Inner = Arc<Tpm>;

    pub(super) fn open(tcti: &str) -> Result<Inner, AgentError> {
        Tpm::open(tcti).map(Arc::new)
    }

    pub(super) fn ek_public(tpm: &Inner) -> Result<Vec<u8>, AgentError> {
        let ek = tpm.endorsement()?;
        let public = marshal_public(&ek.public);
        tpm.flush(ek.handle)?;
        public
    }

    pub(super) fn create_key(tpm: &Inner) -> Result<(Vec<u8>, Vec<u8>), AgentError> {
        let key = tpm.create_device_key()?;
        let public = marshal_public(&key.public);
        let private = key
            .private
            .as_ref()
            .map(|p| p.value().to_vec())
            .ok_or_else(|| AgentError::Tpm("the new key has no private blob".into()));
        tpm.flush(key.handle)?;
        Ok((public?, private?))
    }

    /// Runs `f` with the key loaded, and flushes it whatever `f` returned.
    fn with_key<T>(
        tpm: &Inner,
        public: &[u8],
        private: &[u8],
        f: impl FnOnce(&crate::tpm::DeviceKey) -> Result<T, AgentError>,
    ) -> Result<T, AgentError> {
        let key = tpm.load_key(public, private)?;
        let result = f(&key);
        tpm.flush(key.handle)?;
        result
    }

    pub(super) fn activate(
        tpm: &Inner,
        public: &[u8],
        private: &[u8],
        credential_blob: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<Vec<u8>, AgentError> {
        with_key(tpm, public, private, |key| {
            let ek = tpm.endorsement()?;
            let secret =
                tpm.activate_credential(&ek, key.handle, credential_blob, encrypted_secret);
            tpm.flush(ek.handle)?;
            secret
        })
    }

    pub(super) fn csr(
        tpm: &Inner,
        public: &[u8],
        private: &[u8],
        common_name: &str,
        serial: Option<&str>,
        sans: &[String],
    ) -> Result<(Vec<u8>, Vec<u8>), AgentError> {
        with_key(tpm, public, private, |key| {
            let signer = TpmSigningKey::new(tpm.clone(), key)?;
            let csr = inkan_pki::build_csr_signed_by(&signer, common_name, serial, sans)?;
            Ok((csr, signer.spki_der()))
        })
    }

    pub(super) fn sign(
        tpm: &Inner,
        public: &[u8],
        private: &[u8],
        message: &[u8],
    ) -> Result<Vec<u8>, AgentError> {
        with_key(tpm, public, private, |key| {
            tpm.sign_sha256(key.handle, message)
        })
    }
}

/// Without the `tpm` feature no [`TpmUnit`] can be opened, so the rest is unreachable.
#[cfg(not(feature = "tpm"))]
mod imp {
    use crate::AgentError;

    pub(super) type Inner = std::convert::Infallible;

    pub(super) fn open(_tcti: &str) -> Result<Inner, AgentError> {
        Err(AgentError::Tpm(
            "this inkan was built without TPM support: install libtss2-dev and rebuild with `cargo build --release --features tpm`".into(),
        ))
    }

    pub(super) fn ek_public(tpm: &Inner) -> Result<Vec<u8>, AgentError> {
        match *tpm {}
    }

    pub(super) fn create_key(tpm: &Inner) -> Result<(Vec<u8>, Vec<u8>), AgentError> {
        match *tpm {}
    }

    pub(super) fn activate(
        tpm: &Inner,
        _: &[u8],
        _: &[u8],
        _: &[u8],
        _: &[u8],
    ) -> Result<Vec<u8>, AgentError> {
        match *tpm {}
    }

    pub(super) fn csr(
        tpm: &Inner,
        _: &[u8],
        _: &[u8],
        _: &str,
        _: Option<&str>,
        _: &[String],
    ) -> Result<(Vec<u8>, Vec<u8>), AgentError> {
        match *tpm {}
    }

    pub(super) fn sign(tpm: &Inner, _: &[u8], _: &[u8], _: &[u8]) -> Result<Vec<u8>, AgentError> {
        match *tpm {}
    }
}
