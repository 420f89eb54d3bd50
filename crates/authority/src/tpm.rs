//! TPM 2.0 enrollment: credential activation binds an AK to an EK the authority trusts; a
//! TPM2_Certify by that AK over the activation's nonce binds the device key; the certificate is
//! delivered encrypted under a key derived from the activation secret.

use std::collections::HashSet;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use inkan_attest::{
    check_ak, check_ek, make_credential, verify_certify, verify_ek_certificate, AttestError,
    CertifyCheck, Check, Public,
};
use inkan_pki::{certs_from_pem, der_to_pem, sha256_hex, CsrCheck};
use inkan_store::{TpmActivation, TpmAttestation};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::{unix_ms, Authority, AuthorityError, EnrollMethod, IssueRequest, Issued, TpmConfig};

/// The most unused, unexpired activations one EK may hold: the request needs only a public EK
/// certificate, so it must not grow the database without bound.
pub const MAX_OUTSTANDING_ACTIVATIONS: i64 = 8;

/// HKDF info of the delivery key.
const DELIVERY_INFO: &[u8] = b"inkan tpm delivery v1";

/// EK CAs and allow-listed EK publics, loaded once at start.
#[derive(Clone, Debug, Default)]
pub struct TpmTrust {
    anchors: Vec<Vec<u8>>,
    allowed: HashSet<String>,
}

impl TpmTrust {
    /// Reads the configured EK CA files.
    pub fn load(config: &TpmConfig) -> Result<Self, AuthorityError> {
        let mut anchors = Vec::new();
        for path in &config.ek_roots {
            let pem = std::fs::read(path).map_err(|e| AuthorityError::io(path, e))?;
            let certs = certs_from_pem(&pem).map_err(|e| {
                AuthorityError::Config(format!("tpm.ek_roots {}: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(AuthorityError::Config(format!(
                    "tpm.ek_roots {}: no certificate in the file",
                    path.display()
                )));
            }
            anchors.extend(certs);
        }
        Ok(Self {
            anchors,
            allowed: config
                .ek_allow
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
        })
    }
}

/// `POST /v1/tpm/activations`, decoded.
#[derive(Clone, Debug)]
pub struct TpmActivationRequest {
    /// DER EK certificate (optional when the EK is allow-listed).
    pub ek_certificate: Option<Vec<u8>>,
    /// The EK's TPMT_PUBLIC.
    pub ek_public: Vec<u8>,
    /// The AK's TPMT_PUBLIC.
    pub ak_public: Vec<u8>,
}

/// What the TPM needs for TPM2_ActivateCredential, and the nonce TPM2_Certify must carry.
#[derive(Clone, Debug)]
pub struct TpmActivationResponse {
    /// 32 hex characters.
    pub activation_id: String,
    /// TPM2B_ID_OBJECT without its outer size.
    pub credential_blob: Vec<u8>,
    /// TPM2B_ENCRYPTED_SECRET without its outer size.
    pub encrypted_secret: Vec<u8>,
    /// 32 random bytes.
    pub nonce: Vec<u8>,
    /// When the activation stops being usable.
    pub expires_at: OffsetDateTime,
}

/// `POST /v1/tpm/enrollments`, decoded.
#[derive(Clone, Debug)]
pub struct TpmEnrollRequest {
    /// From the activation response.
    pub activation_id: String,
    /// What TPM2_ActivateCredential returned.
    pub secret: Vec<u8>,
    /// TPMS_ATTEST from TPM2_Certify.
    pub attest: Vec<u8>,
    /// TPMT_SIGNATURE over `attest` by the AK.
    pub signature: Vec<u8>,
    /// The device key's TPMT_PUBLIC.
    pub key_public: Vec<u8>,
    /// DER PKCS#10 signed by the device key.
    pub csr: Vec<u8>,
}

/// The certificate chain, encrypted for the TPM that activated the credential.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// AES-GCM nonce, 12 bytes.
    pub nonce: Vec<u8>,
    /// AES-256-GCM ciphertext (with tag) of the PEM chain, leaf first.
    pub ciphertext: Vec<u8>,
}

/// A TPM enrollment's result.
#[derive(Clone, Debug)]
pub struct TpmEnrolled {
    /// The recorded certificate.
    pub issued: Issued,
    /// Its chain, encrypted.
    pub delivery: Delivery,
}

impl Authority {
    /// Checks the EK (certificate chain or allow list) and the AK, and seals a fresh secret to
    /// them with TPM2_MakeCredential. The activation is stored (audited) before it is returned.
    pub async fn tpm_activate(
        &self,
        request: &TpmActivationRequest,
    ) -> Result<TpmActivationResponse, AuthorityError> {
        let now = self.now();
        let ek = Public::parse(&request.ek_public).map_err(|e| e.in_field("ek_public"))?;
        let ak = Public::parse(&request.ak_public).map_err(|e| e.in_field("ak_public"))?;
        check_ek(&ek)?;
        let ek_public_sha256 = sha256_hex(&request.ek_public);
        let is_allowed = self.tpm_trust().allowed.contains(&ek_public_sha256);
        let ek_cert = match &request.ek_certificate {
            Some(der) => match verify_ek_certificate(der, &self.tpm_trust().anchors, &ek, now) {
                Ok(cert) => Some(cert),
                Err(_) if is_allowed => None,
                Err(e) => return Err(e.into()),
            },
            None if is_allowed => None,
            None => {
                return Err(AttestError::Refused {
                    check: Check::EkChain,
                    why: "no ek_certificate, and the EK public is not in tpm.ek_allow".into(),
                }
                .into())
            }
        };
        check_ak(&ak)?;
        let outstanding = self
            .store()
            .outstanding_tpm_activations(&ek_public_sha256, unix_ms(now))
            .await?;
        if outstanding >= MAX_OUTSTANDING_ACTIVATIONS {
            return Err(AuthorityError::TooManyActivations(outstanding));
        }

        let mut secret = [0u8; 32];
        let mut nonce = [0u8; 32];
        let mut id = [0u8; 16];
        let mut rng = rand::rngs::OsRng;
        rng.fill_bytes(&mut secret);
        rng.fill_bytes(&mut nonce);
        rng.fill_bytes(&mut id);
        let credential = make_credential(&ek, &ak.name(), &secret, &mut rng)?;
        let ttl = time::Duration::try_from(self.config().tpm.activation_ttl)
            .map_err(|e| AuthorityError::Config(format!("tpm.activation_ttl: {e}")))?;
        let expires_at = now + ttl;
        let activation = TpmActivation {
            id: hex::encode(id),
            ek_cert_sha256: ek_cert.as_ref().map(|c| c.sha256.clone()),
            ek_issuer: ek_cert.as_ref().map(|c| c.issuer.clone()),
            ek_public_sha256,
            ak_name: hex::encode(ak.name()),
            ak_public: request.ak_public.clone(),
            secret_sha256: hex::encode(Sha256::digest(secret)),
            nonce: nonce.to_vec(),
            created_at_ms: unix_ms(now),
            expires_at_ms: unix_ms(expires_at),
            used_at_ms: None,
            serial: None,
        };
        self.store()
            .create_tpm_activation(
                &activation,
                &format!("tpm-ek:{}", activation.ek_public_sha256),
            )
            .await?;
        Ok(TpmActivationResponse {
            activation_id: activation.id,
            credential_blob: credential.credential_blob,
            encrypted_secret: credential.encrypted_secret,
            nonce: nonce.to_vec(),
            expires_at,
        })
    }

    /// Checks the activation secret and the certification of the CSR's key, issues a level-3
    /// certificate under the `tpm` profile (consuming the activation in the same transaction)
    /// and encrypts its chain for the TPM. Nothing is stored unless every check passed.
    pub async fn tpm_enroll(
        &self,
        request: &TpmEnrollRequest,
    ) -> Result<TpmEnrolled, AuthorityError> {
        let now = self.now();
        let id = &request.activation_id;
        let activation = self
            .store()
            .tpm_activation(id)
            .await?
            .ok_or_else(|| AuthorityError::ActivationUnknown(id.clone()))?;
        if activation.used_at_ms.is_some() {
            return Err(AuthorityError::ActivationUsed(id.clone()));
        }
        if activation.expires_at_ms <= unix_ms(now) {
            return Err(AuthorityError::ActivationExpired(id.clone()));
        }
        let presented = Sha256::digest(&request.secret);
        let stored = hex::decode(&activation.secret_sha256).unwrap_or_default();
        if !bool::from(presented.as_slice().ct_eq(&stored)) {
            return Err(AttestError::Refused {
                check: Check::CredentialActivated,
                why: "the secret is not the one sealed to this TPM's EK and AK".into(),
            }
            .into());
        }
        let ak = Public::parse(&activation.ak_public).map_err(|e| e.in_field("ak_public"))?;
        let key = Public::parse(&request.key_public).map_err(|e| e.in_field("key_public"))?;
        let profile = self
            .profile("tpm")
            .ok_or_else(|| AuthorityError::UnknownProfile("tpm".into()))?;
        let checked = CsrCheck::new(profile).check(&request.csr)?;
        let certified = verify_certify(&CertifyCheck {
            ak: &ak,
            key: &key,
            attest: &request.attest,
            signature: &request.signature,
            nonce: &activation.nonce,
            csr_spki_der: &checked.spki_der,
        })?;
        let evidence = TpmAttestation {
            serial: String::new(),
            activation_id: id.clone(),
            ek_cert_sha256: activation.ek_cert_sha256.clone(),
            ek_issuer: activation.ek_issuer.clone(),
            ek_public_sha256: activation.ek_public_sha256.clone(),
            ak_name: activation.ak_name.clone(),
            key_name: hex::encode(&certified.key_name),
            checks: Check::ENROLLMENT
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            verified_at_ms: unix_ms(now),
        };
        let issued = self
            .issue(IssueRequest {
                csr_der: request.csr.clone(),
                profile: "tpm".into(),
                method: EnrollMethod::Tpm(Box::new(evidence)),
                validity: None,
                label: None,
            })
            .await?;
        let chain = format!(
            "{}{}",
            der_to_pem("CERTIFICATE", &issued.der),
            der_to_pem("CERTIFICATE", self.ca().cert_der())
        );
        let delivery = seal_delivery(&request.secret, id, chain.as_bytes())?;
        Ok(TpmEnrolled { issued, delivery })
    }
}

fn delivery_cipher(secret: &[u8], activation_id: &str) -> Result<Aes256Gcm, AuthorityError> {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(activation_id.as_bytes()), secret)
        .expand(DELIVERY_INFO, &mut key)
        .map_err(|e| AuthorityError::Ca(format!("delivery key: {e}")))?;
    Aes256Gcm::new_from_slice(&key).map_err(|e| AuthorityError::Ca(format!("delivery key: {e}")))
}

fn seal_delivery(
    secret: &[u8],
    activation_id: &str,
    plaintext: &[u8],
) -> Result<Delivery, AuthorityError> {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ciphertext = delivery_cipher(secret, activation_id)?
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .map_err(|e| AuthorityError::Ca(format!("delivery encryption: {e}")))?;
    Ok(Delivery {
        nonce: nonce.to_vec(),
        ciphertext,
    })
}

/// Opens a [`Delivery`] with the activation secret (what the device does; used in tests).
pub fn open_delivery(
    secret: &[u8],
    activation_id: &str,
    delivery: &Delivery,
) -> Result<Vec<u8>, AuthorityError> {
    if delivery.nonce.len() != 12 {
        return Err(crate::Rejection::DeliveryNonce.into());
    }
    delivery_cipher(secret, activation_id)?
        .decrypt(
            Nonce::from_slice(&delivery.nonce),
            delivery.ciphertext.as_slice(),
        )
        .map_err(|_| crate::Rejection::DeliverySecret.into())
}

#[cfg(test)]
mod tests;
