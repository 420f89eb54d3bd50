//! TEE-style provisioning (DESIGN §4.3, paper 004): TA profiles, device models and device UIDs
//! ([`TeeRegistry`], over the store and the sealing key, no CA key), and the device-facing
//! exchange ([`Authority::tee_query`], [`Authority::tee_update`], [`Authority::tee_enroll`] in
//! `tee/enroll.rs`): a TEEP-style QueryRequest carrying a single-use challenge, an Update
//! carrying the TA bundle sealed to the device, and the enrollment of a CSR the TA MAC'd.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use inkan_attest::derive_device_unique_key;
use inkan_pki::{KeyType, Profile};
use inkan_store::{StoreError, TaProfile, TeeDevice, TeeModel};
use rand::RngCore;
use thiserror::Error;
use time::OffsetDateTime;

use crate::{unix_ms, AuthorityError, SealingKey, IDENTITY_FIELDS, TPM_MAX_LEVEL};

mod enroll;
mod location;

pub use enroll::{TaUpdate, TeeEnrollRequest, TeeEnrolled, TeeQuery, TpmKeyOffer};
pub use location::LocationVerdict;

/// Why TEE provisioning refused a request. Nothing was written.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TeeRefusal {
    /// No device has this UID.
    #[error(
        "no device {0:?} is registered: the manufacturer registers it with `inkan tee device add`"
    )]
    UnknownDevice(String),
    /// No TA profile has this name.
    #[error("no TA profile {0:?}")]
    UnknownProfile(String),
    /// The TA profile has no such version.
    #[error("TA profile {profile:?} has no version {version}")]
    UnknownVersion {
        /// The profile.
        profile: String,
        /// The version asked for.
        version: i64,
    },
    /// The TA profile was revoked.
    #[error("TA profile {0:?} was revoked")]
    ProfileRevoked(String),
    /// The version was rotated out and its grace period is over.
    #[error("TA profile {profile:?} version {version} is no longer accepted: fetch the current TA from the TAM")]
    VersionRetired {
        /// The profile.
        profile: String,
        /// The retired version.
        version: i64,
    },
    /// No challenge has this value.
    #[error("unknown challenge: ask the TAM for a new QueryRequest")]
    ChallengeUnknown,
    /// The challenge was handed to another device.
    #[error("the challenge was issued to another device")]
    ChallengeOtherDevice,
    /// The challenge was used by an earlier enrollment.
    #[error("the challenge was used already: each challenge allows one enrollment")]
    ChallengeUsed,
    /// The challenge expired.
    #[error("the challenge expired: ask the TAM for a new QueryRequest")]
    ChallengeExpired,
    /// The CSR's MAC does not verify.
    #[error("the CSR's MAC does not verify under the TA profile's key for this device")]
    Mac,
    /// The device has too many unused challenges outstanding.
    #[error("device {0:?} has {MAX_OUTSTANDING_CHALLENGES} unused challenges already: use one, or wait until they expire (5 minutes)")]
    TooManyChallenges(String),
    /// A TPM device's QueryResponse lacks its device key or the challenge it answers.
    #[error("device {0:?} has a TPM: its QueryResponse names the challenge and carries the TPM device key (tpm_key) the TA is sealed to")]
    TpmKeyMissing(String),
    /// The TPM device key is not one a certificate may certify (not fixedTPM, not a signing
    /// key, another algorithm).
    #[error("the TPM device key: {0}")]
    TpmKey(String),
    /// The TA was not delivered to this TPM for this challenge, or the CSR is for another key.
    #[error("{0}")]
    TpmBinding(String),
    /// The activation proof does not verify.
    #[error("the activation proof does not verify: the TA did not recover the secret sealed to this device's TPM")]
    ActivationProof,
    /// The CSR does not carry what the TA profile asks (identity fields, key algorithm).
    #[error("{0}")]
    Identity(String),
}

/// The most unused, unexpired challenges one device may hold: the unauthenticated QueryRequest
/// cannot grow the database without bound.
pub const MAX_OUTSTANDING_CHALLENGES: i64 = 8;

/// How often expired, unused challenges are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// A TA profile to create.
#[derive(Clone, Debug)]
pub struct NewTaProfile {
    /// Name: 1 to 63 of `a-z 0-9 -`, starting with a letter or digit.
    pub name: String,
    /// Identity fields the TA reads: any of `serial`, `mac`, `imei`.
    pub identity_fields: Vec<String>,
    /// The key algorithm the TA generates: `p256` or `p384`.
    pub key_algorithm: String,
    /// The certificate profile to issue under (`tee` unless the operator made another).
    pub certificate_profile: String,
}

/// A device just registered: its SK_TEE, for the manufacturer to provision into the unit.
#[derive(Clone)]
pub struct RegisteredTeeDevice {
    /// The device record.
    pub device: TeeDevice,
    /// SK_TEE = HMAC-SHA256(model master, UID); `None` for a device registered with its TPM's
    /// EK, whose TA is sealed to that TPM instead.
    pub device_key: Option<[u8; 32]>,
}

/// Reads an EK public area as the manufacturer hands it over: a TPMT_PUBLIC, or a TPM2B_PUBLIC
/// (its two-byte size first, as `tpm2_createek -u` and `tpm2_readpublic -o` write it), and
/// checks credential activation can use it. Returns the TPMT_PUBLIC bytes.
pub fn parse_ek_public(bytes: &[u8]) -> Result<Vec<u8>, AuthorityError> {
    let tpmt = match bytes {
        [hi, lo, rest @ ..] if usize::from(u16::from_be_bytes([*hi, *lo])) == rest.len() => rest,
        _ => bytes,
    };
    let public = inkan_attest::Public::parse(tpmt)
        .map_err(|e| AuthorityError::Invalid(format!("the EK public area: {e}")))?;
    inkan_attest::check_ek(&public)
        .map_err(|e| AuthorityError::Invalid(format!("the EK public area: {e}")))?;
    Ok(tpmt.to_vec())
}

/// TA profiles, device models and device UIDs. Cheap to clone; needs the store and the
/// sealing key, not the CA key.
#[derive(Clone)]
pub struct TeeRegistry {
    store: Arc<dyn inkan_store::Store>,
    sealing: Arc<SealingKey>,
    clock: fn() -> OffsetDateTime,
}

/// The key type a TA profile's key algorithm names.
pub(crate) fn key_type(algorithm: &str) -> Option<KeyType> {
    match algorithm {
        "p256" => Some(KeyType::P256),
        "p384" => Some(KeyType::P384),
        _ => None,
    }
}

fn check_name(what: &str, name: &str) -> Result<(), AuthorityError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(AuthorityError::Invalid(format!(
            "{what} {name:?}: use 1 to 63 of a-z, 0-9 and -, not starting with -"
        )))
    }
}

/// A device UID: 1 to 128 of `A-Z a-z 0-9 . _ : -`.
pub(crate) fn check_uid(uid: &str) -> Result<(), AuthorityError> {
    let ok = !uid.is_empty()
        && uid.len() <= 128
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(AuthorityError::Invalid(format!(
            "device UID {uid:?}: use 1 to 128 of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
        )))
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

fn profile_purpose(name: &str, version: i64) -> String {
    format!("tee-profile:{name}:{version}")
}

fn challenge_purpose(nonce_hex: &str) -> String {
    format!("tee-challenge:{nonce_hex}")
}

fn model_purpose(name: &str) -> String {
    format!("tee-model:{name}")
}

impl TeeRegistry {
    /// The registry over `store`, sealing with `sealing`, on the system clock.
    pub fn new(store: Arc<dyn inkan_store::Store>, sealing: Arc<SealingKey>) -> Self {
        Self::with_clock(store, sealing, OffsetDateTime::now_utc)
    }

    /// The registry on another clock.
    pub fn with_clock(
        store: Arc<dyn inkan_store::Store>,
        sealing: Arc<SealingKey>,
        clock: fn() -> OffsetDateTime,
    ) -> Self {
        Self {
            store,
            sealing,
            clock,
        }
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// Creates version 1 of a TA profile with a fresh random SK_CSR (sealed at rest). The
    /// certificate profile must exist, be reachable by TEE enrollment, allow the key
    /// algorithm, and ask no more than a software TA proves.
    pub async fn create_profile(
        &self,
        new: &NewTaProfile,
        profiles: &BTreeMap<String, Profile>,
        actor: &str,
    ) -> Result<TaProfile, AuthorityError> {
        check_name("TA profile name", &new.name)?;
        let mut fields = Vec::new();
        for field in &new.identity_fields {
            if !IDENTITY_FIELDS.contains(&field.as_str()) {
                return Err(AuthorityError::Invalid(format!(
                    "identity field {field:?}: use {}",
                    IDENTITY_FIELDS.join(", ")
                )));
            }
            if fields.contains(field) {
                return Err(AuthorityError::Invalid(format!(
                    "identity field {field:?} is listed twice"
                )));
            }
            fields.push(field.clone());
        }
        let key = key_type(&new.key_algorithm).ok_or_else(|| {
            AuthorityError::Invalid(format!(
                "key algorithm {:?}: use p256 or p384",
                new.key_algorithm
            ))
        })?;
        let name = &new.certificate_profile;
        let profile = profiles
            .get(name)
            .ok_or_else(|| AuthorityError::UnknownProfile(name.clone()))?;
        if matches!(name.as_str(), "product" | "admin" | "tpm") {
            return Err(AuthorityError::Invalid(format!(
                "certificate profile {name:?} is reserved to another method: use tee or a profile of your own"
            )));
        }
        if !profile.key_types.contains(&key) {
            return Err(AuthorityError::Invalid(format!(
                "certificate profile {name:?} does not allow {} keys",
                new.key_algorithm
            )));
        }
        if profile.level > TPM_MAX_LEVEL {
            return Err(AuthorityError::Invalid(format!(
                "certificate profile {name:?} has level {}, and a trusted app proves at most level {TPM_MAX_LEVEL} (with its key in a TPM): lower profiles.{name}.level",
                profile.level
            )));
        }
        let record = TaProfile {
            name: new.name.clone(),
            version: 1,
            sk_csr_sealed: self
                .sealing
                .seal(&profile_purpose(&new.name, 1), &random_key())?,
            identity_fields: fields,
            key_algorithm: new.key_algorithm.clone(),
            certificate_profile: name.clone(),
            created_at_ms: unix_ms(self.now()),
            accepted_until_ms: None,
            revoked_at_ms: None,
        };
        self.store
            .create_ta_profile(&record, actor)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AuthorityError::Invalid(format!(
                    "TA profile {:?} exists: rotate it with `inkan tee profile rotate`",
                    new.name
                )),
                other => other.into(),
            })?;
        Ok(record)
    }

    /// Adds the next version of a profile with a fresh SK_CSR; older versions stay accepted
    /// for `grace`, then are refused.
    pub async fn rotate_profile(
        &self,
        name: &str,
        grace: Duration,
        actor: &str,
    ) -> Result<TaProfile, AuthorityError> {
        let newest = self.current(name).await?;
        let now = self.now();
        let version = newest.version + 1;
        let next = TaProfile {
            version,
            sk_csr_sealed: self
                .sealing
                .seal(&profile_purpose(name, version), &random_key())?,
            created_at_ms: unix_ms(now),
            accepted_until_ms: None,
            revoked_at_ms: None,
            ..newest
        };
        let grace = time::Duration::try_from(grace)
            .map_err(|e| AuthorityError::Invalid(format!("grace period: {e}")))?;
        self.store
            .rotate_ta_profile(&next, unix_ms(now + grace), actor)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AuthorityError::Invalid(format!(
                    "TA profile {name:?} was rotated meanwhile: look at `inkan tee profile list`"
                )),
                StoreError::NotFound(_) => TeeRefusal::UnknownProfile(name.into()).into(),
                other => other.into(),
            })?;
        Ok(next)
    }

    /// Revokes every version of a profile: its TA enrolls nothing more.
    pub async fn revoke_profile(&self, name: &str, actor: &str) -> Result<(), AuthorityError> {
        if self
            .store
            .revoke_ta_profile(name, unix_ms(self.now()), actor)
            .await?
        {
            Ok(())
        } else if self.store.ta_profile_versions(name).await?.is_empty() {
            Err(TeeRefusal::UnknownProfile(name.into()).into())
        } else {
            Err(TeeRefusal::ProfileRevoked(name.into()).into())
        }
    }

    /// Every version of every profile.
    pub async fn profiles(&self) -> Result<Vec<TaProfile>, AuthorityError> {
        Ok(self.store.ta_profiles().await?)
    }

    /// The newest version of a profile that is not revoked.
    pub async fn current(&self, name: &str) -> Result<TaProfile, AuthorityError> {
        let versions = self.store.ta_profile_versions(name).await?;
        let newest = versions
            .into_iter()
            .last()
            .ok_or_else(|| TeeRefusal::UnknownProfile(name.into()))?;
        if newest.revoked_at_ms.is_some() {
            return Err(TeeRefusal::ProfileRevoked(name.into()).into());
        }
        Ok(newest)
    }

    /// One version, if it is still accepted at `now`.
    pub(crate) async fn accepted_version(
        &self,
        name: &str,
        version: i64,
    ) -> Result<TaProfile, AuthorityError> {
        let versions = self.store.ta_profile_versions(name).await?;
        if versions.is_empty() {
            return Err(TeeRefusal::UnknownProfile(name.into()).into());
        }
        let found = versions
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| TeeRefusal::UnknownVersion {
                profile: name.into(),
                version,
            })?;
        if found.revoked_at_ms.is_some() {
            return Err(TeeRefusal::ProfileRevoked(name.into()).into());
        }
        if found
            .accepted_until_ms
            .is_some_and(|until| until <= unix_ms(self.now()))
        {
            return Err(TeeRefusal::VersionRetired {
                profile: name.into(),
                version,
            }
            .into());
        }
        Ok(found)
    }

    /// The CSR key of `uid` under one profile version (what that device's bundle carries).
    pub(crate) fn csr_key(
        &self,
        profile: &TaProfile,
        uid: &str,
    ) -> Result<[u8; 32], AuthorityError> {
        let sk_csr = self.sealing.open(
            &profile_purpose(&profile.name, profile.version),
            &profile.sk_csr_sealed,
        )?;
        Ok(inkan_attest::derive_csr_key(&sk_csr, uid))
    }

    /// Creates a device model with a fresh random master its devices' keys derive from.
    pub async fn create_model(&self, name: &str, actor: &str) -> Result<TeeModel, AuthorityError> {
        check_name("model name", name)?;
        let model = TeeModel {
            name: name.into(),
            master_sealed: self.sealing.seal(&model_purpose(name), &random_key())?,
            created_at_ms: unix_ms(self.now()),
        };
        self.store
            .create_tee_model(&model, actor)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    AuthorityError::Invalid(format!("model {name:?} exists"))
                }
                other => other.into(),
            })?;
        Ok(model)
    }

    /// Registers a device UID under a model and returns its SK_TEE, for the manufacturer to
    /// provision into the unit.
    /// With `ek_public` (the unit's TPM EK, TPMT_PUBLIC or TPM2B_PUBLIC) there is no SK_TEE: the
    /// unit's TA is sealed to its TPM and its certificate key lives there.
    pub async fn register_device(
        &self,
        uid: &str,
        model: &str,
        ek_public: Option<&[u8]>,
        actor: &str,
    ) -> Result<RegisteredTeeDevice, AuthorityError> {
        check_uid(uid)?;
        let ek_public = ek_public.map(parse_ek_public).transpose()?;
        let master = self.model_master(model).await?;
        let device = TeeDevice {
            uid: uid.into(),
            model: model.into(),
            created_at_ms: unix_ms(self.now()),
            ek_public,
        };
        self.store
            .register_tee_device(&device, actor)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    AuthorityError::Invalid(format!("device {uid:?} is registered already"))
                }
                StoreError::NotFound(_) => AuthorityError::Invalid(format!("no model {model:?}")),
                other => other.into(),
            })?;
        Ok(RegisteredTeeDevice {
            device_key: device
                .ek_public
                .is_none()
                .then(|| derive_device_unique_key(&master, uid)),
            device,
        })
    }

    /// Seals a TPM device's activation secret for storage with its challenge.
    pub(crate) fn seal_activation_secret(
        &self,
        nonce_hex: &str,
        secret: &[u8; 32],
    ) -> Result<Vec<u8>, AuthorityError> {
        self.sealing.seal(&challenge_purpose(nonce_hex), secret)
    }

    /// Opens a TPM device's activation secret stored with its challenge.
    pub(crate) fn open_activation_secret(
        &self,
        nonce_hex: &str,
        sealed: &[u8],
    ) -> Result<[u8; 32], AuthorityError> {
        let secret = self.sealing.open(&challenge_purpose(nonce_hex), sealed)?;
        secret
            .try_into()
            .map_err(|_| AuthorityError::Ca("a stored activation secret is not 32 bytes".into()))
    }

    /// A registered device.
    pub(crate) async fn device(&self, uid: &str) -> Result<TeeDevice, AuthorityError> {
        Ok(self
            .store
            .tee_device(uid)
            .await?
            .ok_or_else(|| TeeRefusal::UnknownDevice(uid.into()))?)
    }

    /// A registered device and its SK_TEE.
    pub(crate) async fn device_key(
        &self,
        uid: &str,
    ) -> Result<(TeeDevice, [u8; 32]), AuthorityError> {
        let device = self.device(uid).await?;
        let master = self.model_master(&device.model).await?;
        let key = derive_device_unique_key(&master, uid);
        Ok((device, key))
    }

    async fn model_master(&self, model: &str) -> Result<Vec<u8>, AuthorityError> {
        let record = self.store.tee_model(model).await?.ok_or_else(|| {
            AuthorityError::Invalid(format!(
                "no model {model:?}: create it with `inkan tee model create`"
            ))
        })?;
        self.sealing
            .open(&model_purpose(model), &record.master_sealed)
    }

    /// Deletes expired, unused challenges now and every ten minutes, for as long as the
    /// runtime runs.
    pub(crate) fn spawn_purge(&self) {
        let tee = self.clone();
        tokio::spawn(async move {
            loop {
                let now = unix_ms(tee.now());
                match tee.store.purge_tee_challenges(now, "system").await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "expired TEE challenges purged"),
                    Err(e) => tracing::warn!(error = %e, "purging expired TEE challenges failed"),
                }
                tokio::time::sleep(PURGE_EVERY).await;
            }
        });
    }

    pub(crate) fn store(&self) -> &Arc<dyn inkan_store::Store> {
        &self.store
    }
}
