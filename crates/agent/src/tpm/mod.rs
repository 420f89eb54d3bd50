//! TPM 2.0 key backend (cargo feature `tpm`): the endorsement key and its certificate, an
//! attestation key, credential activation, a device key created and certified inside the TPM, and
//! signatures made by that key (for CSRs and for TLS client authentication).
//!
//! Every TPM call goes through one [`Tpm`], which owns the ESAPI context behind a mutex: a TPM
//! (or a TCTI connection to one) serves one command at a time anyway.

mod enroll;
mod key;
mod signer;

use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use tss_esapi::abstraction::{ak, ek, AsymmetricAlgorithmSelection};
use tss_esapi::attributes::SessionAttributesBuilder;
use tss_esapi::constants::{CapabilityType, SessionType};
use tss_esapi::handles::{AuthHandle, KeyHandle, PersistentTpmHandle, SessionHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, SignatureSchemeAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    CapabilityData, Data, EncryptedSecret, IdObject, Public, SignatureScheme, SymmetricDefinition,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::traits::Marshall;
use tss_esapi::Context;

pub use enroll::{
    build_csr, enroll, open_delivery_parts, parse_handle, TpmEnrollOptions, TpmEnrollment,
    TpmKeyInfo,
};
pub use key::{
    device_key_template, ec_point, ecdsa_der, DeviceKey, KeyFiles, DEFAULT_KEY_HANDLE, SRK_HANDLE,
};
pub use signer::TpmSigningKey;

use crate::AgentError;

/// NV index of the RSA 2048 EK certificate (TCG EK Credential Profile, low range).
pub const EK_CERT_NV_RSA2048: u32 = 0x01c0_0002;
/// NV index of the ECC NIST P-256 EK certificate (TCG EK Credential Profile, low range).
pub const EK_CERT_NV_ECC_P256: u32 = 0x01c0_000a;

/// A TPM opened through a TCTI; the ESAPI context is guarded by a mutex.
pub struct Tpm {
    context: Mutex<Context>,
    tcti: String,
}

impl std::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tpm").field("tcti", &self.tcti).finish()
    }
}

/// The endorsement key (created from the TCG default template that matches the EK certificate
/// found in NV) and that certificate.
#[derive(Debug)]
pub struct Endorsement {
    /// Transient handle of the EK.
    pub handle: KeyHandle,
    /// The EK's public area.
    pub public: Public,
    /// The EK certificate (DER) from NV, if the manufacturer provisioned one.
    pub certificate: Option<Vec<u8>>,
}

/// A restricted ECDSA P-256 signing key under the EK, used to certify the device key.
#[derive(Debug)]
pub struct AttestationKey {
    /// Transient handle of the AK.
    pub handle: KeyHandle,
    /// The AK's public area.
    pub public: Public,
}

/// What TPM2_Certify returned, marshalled as the wire contract wants.
#[derive(Debug, Clone)]
pub struct Certification {
    /// TPMS_ATTEST bytes.
    pub attest: Vec<u8>,
    /// TPMT_SIGNATURE bytes.
    pub signature: Vec<u8>,
}

impl Tpm {
    /// The TCTI used when none is given: `$TPM2TOOLS_TCTI`, else `$TCTI`, else the kernel's
    /// resource manager `device:/dev/tpmrm0`.
    pub fn default_tcti() -> String {
        ["TPM2TOOLS_TCTI", "TCTI"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "device:/dev/tpmrm0".to_string())
    }

    /// Opens the TPM behind `tcti` (`device:/dev/tpmrm0`, `swtpm:host=H,port=P`,
    /// `mssim:…`, `tabrmd:bus_type=session`).
    pub fn open(tcti: &str) -> Result<Self, AgentError> {
        let conf = TctiNameConf::from_str(tcti).map_err(|e| {
            AgentError::Tpm(format!(
                "bad TCTI {tcti:?} ({e}): use device:/dev/tpmrm0, swtpm:host=HOST,port=PORT or tabrmd:bus_type=system"
            ))
        })?;
        let context = Context::new(conf).map_err(|e| {
            AgentError::Tpm(format!(
                "cannot open the TPM at {tcti:?} ({e}): check the TCTI (--tcti) and that this user may use the TPM"
            ))
        })?;
        Ok(Self {
            context: Mutex::new(context),
            tcti: tcti.to_string(),
        })
    }

    /// The TCTI this TPM was opened with.
    pub fn tcti(&self) -> &str {
        &self.tcti
    }

    /// Runs `f` on the locked context; `what` names the operation in the error.
    pub(crate) fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Context) -> tss_esapi::Result<T>,
    ) -> Result<T, AgentError> {
        let mut context = self.lock()?;
        f(&mut context).map_err(|e| AgentError::Tpm(format!("{what}: {e}")))
    }

    fn lock(&self) -> Result<MutexGuard<'_, Context>, AgentError> {
        self.context
            .lock()
            .map_err(|_| AgentError::Tpm("the TPM context lock is poisoned".into()))
    }

    /// Creates the EK. With an ECC P-256 EK certificate in NV the EK is the ECC P-256 default
    /// template's key, else the RSA 2048 one (whose certificate may be missing, for TPMs whose EK
    /// the authority allow-lists by public key).
    pub fn endorsement(&self) -> Result<Endorsement, AgentError> {
        let ecc = self.nv_certificate(EK_CERT_NV_ECC_P256)?;
        let (algorithm, certificate) = match ecc {
            Some(cert) => (
                AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256),
                Some(cert),
            ),
            None => (
                AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
                self.nv_certificate(EK_CERT_NV_RSA2048)?,
            ),
        };
        let (handle, public) = self.with("creating the endorsement key", |ctx| {
            let handle = ek::create_ek_object_2(ctx, algorithm, None)?;
            let (public, _, _) = ctx.read_public(handle)?;
            Ok((handle, public))
        })?;
        Ok(Endorsement {
            handle,
            public,
            certificate,
        })
    }

    /// The certificate in NV index `index`, trimmed to its DER length, if the index is defined.
    pub fn nv_certificate(&self, index: u32) -> Result<Option<Vec<u8>>, AgentError> {
        if !self.is_handle_defined(index)? {
            return Ok(None);
        }
        let raw = self.with("reading the EK certificate from NV", |ctx| {
            let handle = tss_esapi::handles::NvIndexTpmHandle::new(index)?;
            let auth = ctx.execute_without_session(|c| {
                c.tr_from_tpm_public(TpmHandle::NvIndex(handle)).map(|h| {
                    tss_esapi::interface_types::resource_handles::NvAuth::NvIndex(h.into())
                })
            })?;
            ctx.execute_with_nullauth_session(|c| {
                tss_esapi::abstraction::nv::read_full(c, auth, handle)
            })
        })?;
        Ok(Some(der_prefix(&raw).ok_or_else(|| {
            AgentError::Tpm(format!("NV index {index:#010x} holds no DER certificate"))
        })?))
    }

    /// Whether an NV index or persistent handle is in use (by TPM2_GetCapability, which needs
    /// no authorization and makes no noise when it is absent).
    pub fn is_handle_defined(&self, handle: u32) -> Result<bool, AgentError> {
        self.with("listing TPM handles", |ctx| {
            let (data, _) = ctx.get_capability(CapabilityType::Handles, handle, 1)?;
            Ok(match data {
                CapabilityData::Handles(list) => list
                    .iter()
                    .any(|h| tss_esapi::tss2_esys::TPM2_HANDLE::from(*h) == handle),
                _ => false,
            })
        })
    }

    /// Creates and loads a restricted ECDSA P-256/SHA-256 signing key under the EK.
    pub fn attestation_key(&self, ek: &Endorsement) -> Result<AttestationKey, AgentError> {
        self.with("creating the attestation key", |ctx| {
            let created = ak::create_ak_2(
                ctx,
                ek.handle,
                HashingAlgorithm::Sha256,
                AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256),
                SignatureSchemeAlgorithm::EcDsa,
                None,
                None,
            )?;
            let handle = ak::load_ak(
                ctx,
                ek.handle,
                None,
                created.out_private,
                created.out_public.clone(),
            )?;
            Ok(AttestationKey {
                handle,
                public: created.out_public,
            })
        })
    }

    /// TPM2_ActivateCredential: recovers the secret the authority sealed to this EK for the
    /// loaded object `activated` (the AK, or a TEE unit's device key). `credential_blob` and
    /// `encrypted_secret` are the wire forms of the contract (TPM2B buffers without their outer
    /// size).
    pub fn activate_credential(
        &self,
        ek: &Endorsement,
        activated: KeyHandle,
        credential_blob: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<Vec<u8>, AgentError> {
        let blob = IdObject::try_from(credential_blob.to_vec())
            .map_err(|e| AgentError::Protocol(format!("credential_blob: {e}")))?;
        let secret = EncryptedSecret::try_from(encrypted_secret.to_vec())
            .map_err(|e| AgentError::Protocol(format!("encrypted_secret: {e}")))?;
        self.with("activating the credential", |ctx| {
            // The default EK templates authorize use by PolicySecret(TPM_RH_ENDORSEMENT).
            let session = ctx
                .start_auth_session(
                    None,
                    None,
                    None,
                    SessionType::Policy,
                    SymmetricDefinition::AES_128_CFB,
                    HashingAlgorithm::Sha256,
                )?
                .ok_or(tss_esapi::Error::WrapperError(
                    tss_esapi::WrapperErrorKind::WrongValueFromTpm,
                ))?;
            let (attributes, mask) = SessionAttributesBuilder::new().build();
            ctx.tr_sess_set_attributes(session, attributes, mask)?;
            ctx.execute_with_temporary_object(SessionHandle::from(session).into(), |ctx, _| {
                ctx.execute_with_nullauth_session(|c| {
                    c.policy_secret(
                        PolicySession::try_from(session)?,
                        AuthHandle::Endorsement,
                        Default::default(),
                        Default::default(),
                        Default::default(),
                        None,
                    )
                })?;
                ctx.execute_with_sessions((Some(AuthSession::Password), Some(session), None), |c| {
                    c.activate_credential(activated, ek.handle, blob, secret)
                })
            })
        })
        .map(|digest| digest.value().to_vec())
    }

    /// TPM2_Certify of `key` by the AK over `qualifying_data` (the authority's nonce).
    pub fn certify(
        &self,
        key: &DeviceKey,
        ak: &AttestationKey,
        qualifying_data: &[u8],
    ) -> Result<Certification, AgentError> {
        let data = Data::try_from(qualifying_data.to_vec())
            .map_err(|e| AgentError::Protocol(format!("nonce: {e}")))?;
        let (attest, signature) = self.with("certifying the device key", |ctx| {
            ctx.execute_with_sessions(
                (
                    Some(AuthSession::Password),
                    Some(AuthSession::Password),
                    None,
                ),
                |c| c.certify(key.handle.into(), ak.handle, data, SignatureScheme::Null),
            )
        })?;
        let marshal = |r: tss_esapi::Result<Vec<u8>>| {
            r.map_err(|e| AgentError::Tpm(format!("marshalling the certification: {e}")))
        };
        Ok(Certification {
            attest: marshal(attest.marshall())?,
            signature: marshal(signature.marshall())?,
        })
    }

    /// TPM2_MakeCredential with a public EK: what the authority computes, done by the TPM as a
    /// public-key operation (for tests and tools). Returns the wire forms of `credential_blob`
    /// and `encrypted_secret`.
    pub fn make_credential(
        &self,
        ek_public: &Public,
        credential: &[u8],
        ak_name: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), AgentError> {
        let credential = tss_esapi::structures::Digest::try_from(credential.to_vec())
            .map_err(|e| AgentError::Tpm(format!("credential: {e}")))?;
        let name = tss_esapi::structures::Name::try_from(ak_name.to_vec())
            .map_err(|e| AgentError::Tpm(format!("name: {e}")))?;
        let public = ek_public.clone();
        self.with("making a credential", |ctx| {
            let ek = ctx.execute_without_session(|c| {
                c.load_external_public(
                    public,
                    tss_esapi::interface_types::resource_handles::Hierarchy::Null,
                )
            })?;
            let made = ctx.execute_without_session(|c| c.make_credential(ek, credential, name));
            ctx.flush_context(ek.into())?;
            let (blob, secret) = made?;
            Ok((blob.value().to_vec(), secret.value().to_vec()))
        })
    }

    /// Flushes a transient object (EK, AK) when it is no longer needed.
    pub fn flush(&self, handle: KeyHandle) -> Result<(), AgentError> {
        self.with("flushing a transient object", |ctx| {
            ctx.flush_context(handle.into())
        })
    }

    /// The persistent handle value as tss-esapi wants it.
    pub(crate) fn persistent(handle: u32) -> Result<PersistentTpmHandle, AgentError> {
        PersistentTpmHandle::new(handle).map_err(|_| {
            AgentError::Tpm(format!(
                "{handle:#010x} is not a persistent handle: use 0x81000000..=0x81ffffff"
            ))
        })
    }
}

/// TPMT_PUBLIC bytes of a public area (the wire form of `ek_public`, `ak_public`, `key_public`).
pub fn marshal_public(public: &Public) -> Result<Vec<u8>, AgentError> {
    public
        .marshall()
        .map_err(|e| AgentError::Tpm(format!("marshalling a public area: {e}")))
}

/// The TPM name of a public area: nameAlg (SHA-256) ‖ SHA-256(TPMT_PUBLIC).
pub fn name_of(public: &Public) -> Result<Vec<u8>, AgentError> {
    let bytes = marshal_public(public)?;
    let mut name = vec![0x00, 0x0b];
    name.extend_from_slice(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref());
    Ok(name)
}

/// The leading DER element of `bytes` (NV indices are often larger than the certificate).
fn der_prefix(bytes: &[u8]) -> Option<Vec<u8>> {
    use der::{Decode, Encode, Reader};
    let mut reader = der::SliceReader::new(bytes).ok()?;
    let header = der::Header::decode(&mut reader).ok()?;
    let header_len = usize::try_from(u32::from(header.encoded_len().ok()?)).ok()?;
    let body_len = usize::try_from(u32::from(header.length)).ok()?;
    let _ = reader.position();
    bytes
        .get(..header_len.checked_add(body_len)?)
        .map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests;
