//! Records of TEE-style provisioning: trusted-app (TA) profiles and their versions, device
//! models with the master their device keys derive from, registered device UIDs, enrollment
//! challenges, and the evidence behind certificates.
//!
//! Secret material (SK_CSR, model masters) arrives sealed by the authority: the store keeps the
//! bytes and never sees a key in the clear.

use serde::{Deserialize, Serialize};

/// One version of a TA profile: the enrollment procedure the authority packages for devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaProfile {
    /// Profile name (`[a-z0-9][a-z0-9-]*`).
    pub name: String,
    /// Version, from 1; a rotation adds the next one.
    pub version: i64,
    /// SK_CSR sealed by the authority (opaque here).
    #[serde(skip)]
    pub sk_csr_sealed: Vec<u8>,
    /// The identity fields the TA reads and puts in the CSR (`serial`, `mac`, `imei`).
    pub identity_fields: Vec<String>,
    /// The key algorithm the TA generates (`p256`).
    pub key_algorithm: String,
    /// The certificate profile the authority issues under.
    pub certificate_profile: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms after which this version is no longer accepted (set by a rotation: the grace
    /// period's end); `None` while it is the newest version.
    pub accepted_until_ms: Option<i64>,
    /// Unix ms when the whole profile was revoked.
    pub revoked_at_ms: Option<i64>,
}

/// A device model: its devices' keys derive from the model's master
/// (SK_TEE = HMAC-SHA256(master, UID)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeeModel {
    /// Model name.
    pub name: String,
    /// The master, sealed by the authority (opaque here).
    pub master_sealed: Vec<u8>,
    /// Unix ms.
    pub created_at_ms: i64,
}

/// A device UID the manufacturer registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeeDevice {
    /// The hardware UID (`[A-Za-z0-9._:-]`, at most 128 characters).
    pub uid: String,
    /// The model whose master its SK_TEE derives from.
    pub model: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Its TPM's endorsement key (TPMT_PUBLIC), for a device with a TPM: its TA is then sealed
    /// to that TPM instead of to an SK_TEE.
    #[serde(skip)]
    pub ek_public: Option<Vec<u8>>,
}

/// A single-use enrollment challenge handed to one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeeChallenge {
    /// 32 random bytes, hex.
    pub nonce: String,
    /// The device it was handed to.
    pub uid: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms; unusable from then on.
    pub expires_at_ms: i64,
    /// Unix ms when an enrollment used it.
    pub used_at_ms: Option<i64>,
    /// The certificate that enrollment issued.
    pub serial: Option<String>,
    /// For a TPM device: the device key (TPMT_PUBLIC) the Update was bound to.
    pub tpm_key: Option<Vec<u8>>,
    /// For a TPM device: the credential-activation secret, sealed by the authority (opaque).
    pub tpm_secret_sealed: Option<Vec<u8>>,
}

/// What binds a challenge to a TPM device key: set when the TA is delivered to a TPM device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmBinding {
    /// The challenge (hex) the Update answers.
    pub nonce: String,
    /// The device key's TPMT_PUBLIC.
    pub key_public: Vec<u8>,
    /// The activation secret, sealed by the authority.
    pub secret_sealed: Vec<u8>,
}

/// The evidence a certificate was issued on by TEE enrollment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeeAttestation {
    /// The certificate's serial.
    pub serial: String,
    /// The device UID.
    pub uid: String,
    /// Its model.
    pub model: String,
    /// The TA profile.
    pub profile: String,
    /// The TA profile version whose key MAC'd the CSR.
    pub version: i64,
    /// The challenge the MAC covered (consumed in the same transaction as the issue).
    pub challenge: String,
    /// Where the device key lives: `software` or `tpm`.
    pub key_storage: String,
    /// The identity fields the TA read, as (field, value).
    pub identity: Vec<(String, String)>,
    /// The checks that passed.
    pub checks: Vec<String>,
    /// Unix ms.
    pub verified_at_ms: i64,
}

/// TA profiles, models, devices, challenges and TEE evidence. Challenges are consumed with
/// the certificate they produce (see [`crate::NewCertificate::tee`]).
#[async_trait::async_trait]
pub trait TeeStore: Send + Sync + 'static {
    /// Stores version 1 of a new TA profile (audited `tee.profile.created`);
    /// [`crate::StoreError::Conflict`] if the name exists.
    async fn create_ta_profile(
        &self,
        profile: &TaProfile,
        actor: &str,
    ) -> Result<(), crate::StoreError>;

    /// Adds `next` (version = newest + 1) and ends acceptance of every older, still-accepted
    /// version at `grace_until_ms` (audited `tee.profile.rotated`), in one transaction.
    /// [`crate::StoreError::Conflict`] if `next.version` is not the newest + 1 (a concurrent
    /// rotation won), [`crate::StoreError::NotFound`] if the profile does not exist or is
    /// revoked.
    async fn rotate_ta_profile(
        &self,
        next: &TaProfile,
        grace_until_ms: i64,
        actor: &str,
    ) -> Result<(), crate::StoreError>;

    /// Revokes every version of a profile at `at_ms` (audited `tee.profile.revoked`); false if
    /// it does not exist or was revoked already.
    async fn revoke_ta_profile(
        &self,
        name: &str,
        at_ms: i64,
        actor: &str,
    ) -> Result<bool, crate::StoreError>;

    /// Every version of one profile, oldest first (empty if unknown).
    async fn ta_profile_versions(&self, name: &str) -> Result<Vec<TaProfile>, crate::StoreError>;

    /// Every version of every profile, by name then version.
    async fn ta_profiles(&self) -> Result<Vec<TaProfile>, crate::StoreError>;

    /// Stores a device model (audited `tee.model.created`); Conflict if the name exists.
    async fn create_tee_model(
        &self,
        model: &TeeModel,
        actor: &str,
    ) -> Result<(), crate::StoreError>;

    /// One model by name.
    async fn tee_model(&self, name: &str) -> Result<Option<TeeModel>, crate::StoreError>;

    /// Registers a device UID (audited `tee.device.registered`); Conflict if it exists,
    /// NotFound if its model does not.
    async fn register_tee_device(
        &self,
        device: &TeeDevice,
        actor: &str,
    ) -> Result<(), crate::StoreError>;

    /// One device by UID.
    async fn tee_device(&self, uid: &str) -> Result<Option<TeeDevice>, crate::StoreError>;

    /// Records that a TA bundle was delivered (audited `tee.ta.delivered`). With `binding`
    /// (a TPM device), also binds the challenge to the device key and its activation secret, in
    /// the same transaction; false, and nothing written, if that challenge is unknown, another
    /// device's, used or expired at `now_ms`.
    async fn record_ta_delivery(
        &self,
        uid: &str,
        profile: &str,
        version: i64,
        binding: Option<&TpmBinding>,
        now_ms: i64,
        actor: &str,
    ) -> Result<bool, crate::StoreError>;

    /// Stores a challenge (audited `tee.challenge.created`).
    async fn create_tee_challenge(
        &self,
        challenge: &TeeChallenge,
        actor: &str,
    ) -> Result<(), crate::StoreError>;

    /// Spends a challenge of `uid` on something other than a certificate (a verified location
    /// report) at `at_ms`, audited `tee.challenge.spent`; false, and nothing written, if it is
    /// unknown, another device's, used or expired.
    async fn consume_tee_challenge(
        &self,
        nonce: &str,
        uid: &str,
        at_ms: i64,
        actor: &str,
    ) -> Result<bool, crate::StoreError>;

    /// How many of `uid`'s challenges are unused and unexpired at `now_ms`.
    async fn outstanding_tee_challenges(
        &self,
        uid: &str,
        now_ms: i64,
    ) -> Result<i64, crate::StoreError>;

    /// Deletes the challenges that expired unused before `now_ms` (audited
    /// `tee.challenges.purged` when there were any); returns how many.
    async fn purge_tee_challenges(
        &self,
        now_ms: i64,
        actor: &str,
    ) -> Result<u64, crate::StoreError>;

    /// One challenge by nonce.
    async fn tee_challenge(&self, nonce: &str) -> Result<Option<TeeChallenge>, crate::StoreError>;

    /// The TEE evidence a certificate was issued on.
    async fn tee_attestation(
        &self,
        serial: &str,
    ) -> Result<Option<TeeAttestation>, crate::StoreError>;
}
