//! Records of TPM 2.0 enrollment: credential activations and the evidence behind certificates.

use serde::{Deserialize, Serialize};

/// A credential activation handed to a TPM: single use, short-lived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmActivation {
    /// Random id, 32 hex chars.
    pub id: String,
    /// SHA-256 of the EK certificate DER (hex), when one was presented.
    pub ek_cert_sha256: Option<String>,
    /// The EK certificate's issuer DN, when one was presented.
    pub ek_issuer: Option<String>,
    /// SHA-256 of the EK's TPMT_PUBLIC, hex.
    pub ek_public_sha256: String,
    /// The AK's name, hex.
    pub ak_name: String,
    /// The AK's TPMT_PUBLIC.
    pub ak_public: Vec<u8>,
    /// SHA-256 of the activation secret, hex.
    pub secret_sha256: String,
    /// The nonce TPM2_Certify must carry as qualifying data.
    pub nonce: Vec<u8>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms; the activation cannot be used from then on.
    pub expires_at_ms: i64,
    /// Unix ms when an enrollment used it.
    pub used_at_ms: Option<i64>,
    /// The certificate that enrollment issued.
    pub serial: Option<String>,
}

/// The evidence a certificate was issued on by TPM enrollment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TpmAttestation {
    /// The certificate's serial.
    pub serial: String,
    /// The activation the enrollment used (consumed in the same transaction as the issue).
    pub activation_id: String,
    /// SHA-256 of the EK certificate, hex.
    pub ek_cert_sha256: Option<String>,
    /// The EK certificate's issuer DN.
    pub ek_issuer: Option<String>,
    /// SHA-256 of the EK's TPMT_PUBLIC, hex.
    pub ek_public_sha256: String,
    /// The AK's name, hex.
    pub ak_name: String,
    /// The device key's name, hex.
    pub key_name: String,
    /// The checks that passed.
    pub checks: Vec<String>,
    /// Unix ms.
    pub verified_at_ms: i64,
}

/// TPM credential activations and the evidence behind certificates. Activations are consumed
/// with the certificate they produce (see [`crate::NewCertificate::tpm`]).
#[async_trait::async_trait]
pub trait TpmStore: Send + Sync + 'static {
    /// Stores a new TPM credential activation (audited).
    async fn create_tpm_activation(
        &self,
        activation: &TpmActivation,
        actor: &str,
    ) -> Result<(), crate::StoreError>;

    /// How many activations for the EK with this public hash are unused and unexpired at
    /// `now_ms`.
    async fn outstanding_tpm_activations(
        &self,
        ek_public_sha256: &str,
        now_ms: i64,
    ) -> Result<i64, crate::StoreError>;

    /// Deletes the activations that expired unused before `now_ms` (audited
    /// `tpm.activations.purged` when there were any); returns how many.
    async fn purge_tpm_activations(
        &self,
        now_ms: i64,
        actor: &str,
    ) -> Result<u64, crate::StoreError>;

    /// One TPM activation by id.
    async fn tpm_activation(&self, id: &str) -> Result<Option<TpmActivation>, crate::StoreError>;

    /// The TPM evidence a certificate was issued on.
    async fn tpm_attestation(
        &self,
        serial: &str,
    ) -> Result<Option<TpmAttestation>, crate::StoreError>;
}
