//! The device side of TEE provisioning, as the TAM and the CA answer it: a QueryRequest with a
//! single-use challenge, an Update with the TA bundle sealed to the device, and the issue of a
//! certificate for a CSR the TA MAC'd over that challenge.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use inkan_attest::{
    check_device_key, make_credential, seal_bundle, spki_matches, verify_activation_proof,
    verify_csr_mac, Credential, CsrMacInput, EccCurve, KeyParams, Public, SealedBundle, TaBundle,
    BUNDLE_FORMAT,
};
use inkan_pki::CsrCheck;
use inkan_store::{TeeAttestation, TeeChallenge, TpmBinding};
use rand::RngCore;
use time::OffsetDateTime;

use super::{check_uid, key_type, TeeRefusal};
use crate::{
    read_identity, unix_ms, Authority, AuthorityError, EnrollMethod, IssueRequest, Issued,
};

/// How long a challenge stays usable.
pub const CHALLENGE_TTL: time::Duration = time::Duration::minutes(5);

/// The checks a TEE enrollment passed, in the order evidence lists them.
const CHECKS: [&str; 6] = [
    "device-registered",
    "challenge-fresh",
    "profile-version-accepted",
    "csr-mac",
    "key-algorithm",
    "identity-fields",
];

/// The checks a TPM device's enrollment passed besides [`CHECKS`].
const TPM_CHECKS: [&str; 3] = [
    "tpm-key-bound",
    "credential-activated",
    "csr-key-is-tpm-key",
];

/// What a TPM device's QueryResponse adds: the key its TA is to be bound to.
#[derive(Clone, Debug)]
pub struct TpmKeyOffer {
    /// The challenge of the QueryRequest being answered.
    pub challenge: Vec<u8>,
    /// The device key's TPMT_PUBLIC: created in the TPM, fixedTPM, an unrestricted signing key.
    pub key_public: Vec<u8>,
}

/// A TEEP Update: the sealed TA, and for a TPM device the credential that releases the key
/// it is sealed under (TPM2_ActivateCredential with the EK and the offered device key).
#[derive(Clone, Debug)]
pub struct TaUpdate {
    /// The TA bundle.
    pub bundle: SealedBundle,
    /// For a TPM device: MakeCredential(EK, name(device key), bundle key).
    pub credential: Option<Credential>,
}

/// A TEEP QueryRequest: the challenge a following enrollment must MAC.
#[derive(Clone, Debug)]
pub struct TeeQuery {
    /// 32 random bytes.
    pub challenge: Vec<u8>,
    /// When it stops being usable.
    pub expires_at: OffsetDateTime,
}

/// `POST /v1/tee/enrollments`, decoded.
#[derive(Clone, Debug)]
pub struct TeeEnrollRequest {
    /// The device UID.
    pub uid: String,
    /// The TA profile.
    pub profile: String,
    /// The version whose key MAC'd the CSR.
    pub version: i64,
    /// The challenge from the QueryRequest.
    pub challenge: Vec<u8>,
    /// DER PKCS#10 signed by the TA's new key.
    pub csr: Vec<u8>,
    /// MAC_CSR (32 bytes).
    pub mac: Vec<u8>,
    /// For a TPM device: the activation proof (32 bytes) under the secret its TPM released.
    pub activation: Option<Vec<u8>>,
}

/// A TEE enrollment's result.
#[derive(Clone, Debug)]
pub struct TeeEnrolled {
    /// The recorded certificate.
    pub issued: Issued,
    /// Its level.
    pub level: u8,
    /// The issuing CA certificate (DER), for the chain.
    pub issuing_der: Vec<u8>,
}

impl Authority {
    /// The TAM's QueryRequest to a registered device: a fresh single-use challenge, stored
    /// (audited) before it is returned.
    pub async fn tee_query(&self, uid: &str) -> Result<TeeQuery, AuthorityError> {
        check_uid(uid)?;
        let tee = self.tee()?;
        let (device, _) = tee.device_key(uid).await?;
        let now = self.now();
        let outstanding = tee
            .store()
            .outstanding_tee_challenges(&device.uid, unix_ms(now))
            .await?;
        if outstanding >= super::MAX_OUTSTANDING_CHALLENGES {
            return Err(TeeRefusal::TooManyChallenges(device.uid).into());
        }
        let mut challenge = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut challenge);
        let expires_at = now + CHALLENGE_TTL;
        let record = TeeChallenge {
            nonce: hex::encode(challenge),
            uid: device.uid.clone(),
            created_at_ms: unix_ms(now),
            expires_at_ms: unix_ms(expires_at),
            used_at_ms: None,
            serial: None,
            tpm_key: None,
            tpm_secret_sealed: None,
        };
        tee.store()
            .create_tee_challenge(&record, &format!("tee-device:{uid}"))
            .await?;
        Ok(TeeQuery {
            challenge: challenge.to_vec(),
            expires_at,
        })
    }

    /// The TAM's Update: the newest version of `profile` sealed to `uid`. A device without a
    /// TPM gets it under its SK_TEE, or `None` when it reports that version installed already.
    /// A TPM device (registered with its EK) must offer its TPM device key: it always gets a
    /// fresh Update, sealed under a new secret the authority delivers by MakeCredential to its
    /// EK bound to that key, and the challenge is bound to the key (so its enrollment must be
    /// for that key, with proof the TPM released the secret). The delivery is audited.
    pub async fn tee_update(
        &self,
        uid: &str,
        profile: &str,
        installed_version: Option<i64>,
        tpm: Option<&TpmKeyOffer>,
    ) -> Result<Option<TaUpdate>, AuthorityError> {
        check_uid(uid)?;
        let tee = self.tee()?;
        let device = tee.device(uid).await?;
        let current = tee.current(profile).await?;
        let bundle = TaBundle {
            format: BUNDLE_FORMAT.into(),
            uid: uid.into(),
            profile: current.name.clone(),
            version: current.version,
            csr_key: B64.encode(tee.csr_key(&current, uid)?),
            identity_fields: current.identity_fields.clone(),
            key_algorithm: current.key_algorithm.clone(),
            ca_certificates: vec![
                B64.encode(self.ca().cert_der()),
                B64.encode(self.ca().root_der()),
            ],
        };
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let actor = format!("tee-device:{uid}");
        let Some(ek_public) = &device.ek_public else {
            if installed_version == Some(current.version) {
                return Ok(None);
            }
            let (_, device_key) = tee.device_key(uid).await?;
            let sealed = seal_bundle(&device_key, &bundle, nonce)
                .map_err(|e| AuthorityError::Ca(e.to_string()))?;
            tee.store()
                .record_ta_delivery(
                    uid,
                    &current.name,
                    current.version,
                    None,
                    unix_ms(self.now()),
                    &actor,
                )
                .await?;
            return Ok(Some(TaUpdate {
                bundle: sealed,
                credential: None,
            }));
        };
        let offer = tpm.ok_or_else(|| TeeRefusal::TpmKeyMissing(uid.into()))?;
        let key = Public::parse(&offer.key_public)
            .map_err(|e| TeeRefusal::TpmKey(format!("tpm_key: {e}")))?;
        check_device_key(&key).map_err(|e| TeeRefusal::TpmKey(e.to_string()))?;
        let p256 = matches!(
            key.key,
            KeyParams::Ecc {
                curve: EccCurve::P256,
                ..
            }
        );
        if !p256 || current.key_algorithm != "p256" {
            return Err(TeeRefusal::TpmKey(format!(
                "TA profile {:?} generates {} keys and this device key is {}: a TPM device's TA profile uses p256",
                current.name,
                current.key_algorithm,
                key.describe()
            ))
            .into());
        }
        let ek = Public::parse(ek_public)
            .map_err(|e| AuthorityError::Ca(format!("the registered EK of {uid}: {e}")))?;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let credential = make_credential(&ek, &key.name(), &secret, &mut rand::rngs::OsRng)
            .map_err(|e| AuthorityError::Ca(format!("sealing to the TPM of {uid}: {e}")))?;
        let sealed =
            seal_bundle(&secret, &bundle, nonce).map_err(|e| AuthorityError::Ca(e.to_string()))?;
        let nonce_hex = hex::encode(&offer.challenge);
        let binding = TpmBinding {
            secret_sealed: tee.seal_activation_secret(&nonce_hex, &secret)?,
            nonce: nonce_hex,
            key_public: offer.key_public.clone(),
        };
        let bound = tee
            .store()
            .record_ta_delivery(
                uid,
                &current.name,
                current.version,
                Some(&binding),
                unix_ms(self.now()),
                &actor,
            )
            .await?;
        if !bound {
            return Err(TeeRefusal::TpmBinding(
                "the QueryResponse names a challenge that is unknown, used, expired or another device's: ask the TAM for a new QueryRequest".into(),
            )
            .into());
        }
        Ok(Some(TaUpdate {
            bundle: sealed,
            credential: Some(credential),
        }))
    }

    /// Checks the challenge, the profile version and the CSR's MAC, reads the identity fields,
    /// and issues under the TA profile's certificate profile (consuming the challenge in the
    /// same transaction). Nothing is stored unless every check passed.
    pub async fn tee_enroll(
        &self,
        request: &TeeEnrollRequest,
    ) -> Result<TeeEnrolled, AuthorityError> {
        check_uid(&request.uid)?;
        let tee = self.tee()?;
        let now = self.now();
        let challenge_hex = hex::encode(&request.challenge);
        let challenge = tee
            .store()
            .tee_challenge(&challenge_hex)
            .await?
            .ok_or(TeeRefusal::ChallengeUnknown)?;
        if challenge.uid != request.uid {
            return Err(TeeRefusal::ChallengeOtherDevice.into());
        }
        if challenge.used_at_ms.is_some() {
            return Err(TeeRefusal::ChallengeUsed.into());
        }
        if challenge.expires_at_ms <= unix_ms(now) {
            return Err(TeeRefusal::ChallengeExpired.into());
        }
        let device = tee.device(&request.uid).await?;
        let version = tee
            .accepted_version(&request.profile, request.version)
            .await?;
        let csr_key = tee.csr_key(&version, &request.uid)?;
        verify_csr_mac(
            &csr_key,
            &CsrMacInput {
                uid: &request.uid,
                profile: &request.profile,
                version: request.version,
                challenge: &request.challenge,
                csr_der: &request.csr,
            },
            &request.mac,
        )
        .map_err(|_| TeeRefusal::Mac)?;
        let profile = self
            .profile(&version.certificate_profile)
            .ok_or_else(|| AuthorityError::UnknownProfile(version.certificate_profile.clone()))?;
        let checked = CsrCheck::new(profile).check(&request.csr)?;
        if key_type(&version.key_algorithm) != Some(checked.key_type) {
            return Err(TeeRefusal::Identity(format!(
                "the CSR's key is not a {} key, which the TA profile generates",
                version.key_algorithm
            ))
            .into());
        }
        let identity = read_identity(&version.identity_fields, &checked, &request.uid)
            .map_err(TeeRefusal::Identity)?;
        let mut checks: Vec<String> = CHECKS.iter().map(ToString::to_string).collect();
        let key_storage = if device.ek_public.is_some() {
            check_tpm_binding(tee, &challenge, request, &checked.spki_der)?;
            checks.extend(TPM_CHECKS.iter().map(ToString::to_string));
            "tpm"
        } else {
            "software"
        };
        let evidence = TeeAttestation {
            serial: String::new(),
            uid: device.uid.clone(),
            model: device.model.clone(),
            profile: version.name.clone(),
            version: version.version,
            challenge: challenge_hex,
            key_storage: key_storage.into(),
            identity,
            checks,
            verified_at_ms: unix_ms(now),
        };
        let method = EnrollMethod::Tee(Box::new(evidence));
        let level = method.max_level().min(profile.level);
        let issued = self
            .issue(IssueRequest {
                csr_der: request.csr.clone(),
                profile: version.certificate_profile.clone(),
                method,
                validity: None,
                label: None,
            })
            .await?;
        Ok(TeeEnrolled {
            issued,
            level,
            issuing_der: self.ca().cert_der().to_vec(),
        })
    }

    /// The TEE evidence a certificate was issued on.
    pub async fn tee_attestation(
        &self,
        serial: &str,
    ) -> Result<Option<TeeAttestation>, AuthorityError> {
        Ok(self.store().tee_attestation(serial).await?)
    }
}

/// A TPM device's enrollment: the TA was delivered to its TPM for this challenge, the TPM
/// released the secret (the activation proof verifies) and the CSR is for the bound key.
fn check_tpm_binding(
    tee: &super::TeeRegistry,
    challenge: &TeeChallenge,
    request: &TeeEnrollRequest,
    csr_spki_der: &[u8],
) -> Result<(), AuthorityError> {
    let (Some(key), Some(sealed)) = (&challenge.tpm_key, &challenge.tpm_secret_sealed) else {
        return Err(TeeRefusal::TpmBinding(
            "no TA was delivered to this device's TPM for this challenge: send the QueryResponse with the challenge and tpm_key first".into(),
        )
        .into());
    };
    let secret = tee.open_activation_secret(&challenge.nonce, sealed)?;
    let proof = request
        .activation
        .as_deref()
        .ok_or(TeeRefusal::ActivationProof)?;
    verify_activation_proof(
        &secret,
        &CsrMacInput {
            uid: &request.uid,
            profile: &request.profile,
            version: request.version,
            challenge: &request.challenge,
            csr_der: &request.csr,
        },
        proof,
    )
    .map_err(|_| TeeRefusal::ActivationProof)?;
    let public = Public::parse(key).map_err(|e| AuthorityError::Ca(format!("a bound key: {e}")))?;
    if !spki_matches(&public, csr_spki_der) {
        return Err(TeeRefusal::TpmBinding(
            "the CSR's key is not the TPM device key the TA was sealed to".into(),
        )
        .into());
    }
    Ok(())
}
