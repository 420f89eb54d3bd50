//! The device key: an unrestricted ECDSA P-256 signing key created inside the TPM under the
//! storage root key, persisted at a handle, and used for CSR and TLS signatures.

use std::path::Path;

use tss_esapi::attributes::ObjectAttributesBuilder;
use tss_esapi::constants::tss::{TPM2_RH_NULL, TPM2_ST_HASHCHECK};
use tss_esapi::handles::{KeyHandle, ObjectHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::dynamic_handles::Persistent;
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::{Hierarchy, Provision};
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{
    Digest, EccPoint, EccScheme, HashScheme, KeyDerivationFunctionScheme, Private, Public,
    PublicBuilder, PublicEccParametersBuilder, Signature, SignatureScheme,
    SymmetricDefinitionObject,
};
use tss_esapi::tss2_esys::TPMT_TK_HASHCHECK;

use super::{marshal_public, Tpm};
use crate::AgentError;

/// Default persistent handle of the device key.
pub const DEFAULT_KEY_HANDLE: u32 = 0x8100_0101;
/// Persistent handle of the storage root key (the TCG provisioning guidance's SRK handle); an
/// SRK already there is reused, else an ECC P-256 SRK is created and persisted there.
pub const SRK_HANDLE: u32 = 0x8100_0001;

/// A device key loaded in the TPM (transient until [`DeviceKey::persist`]).
#[derive(Debug)]
pub struct DeviceKey {
    /// Its handle (transient, or persistent once persisted).
    pub handle: KeyHandle,
    /// The public area.
    pub public: Public,
    /// The private blob (wrapped by the SRK; only this TPM can load it). Absent for a key opened
    /// from a persistent handle.
    pub private: Option<Private>,
}

/// The TPM2B forms of a key for third-party tools (`tpm2_encodeobject -u key.pub -r key.priv`).
#[derive(Debug, Clone)]
pub struct KeyFiles {
    /// TPM2B_PUBLIC.
    pub public: Vec<u8>,
    /// TPM2B_PRIVATE.
    pub private: Vec<u8>,
}

impl DeviceKey {
    /// The uncompressed EC point `04 ‖ x ‖ y` (32-byte coordinates).
    pub fn ec_point(&self) -> Result<Vec<u8>, AgentError> {
        ec_point(&self.public)
    }

    /// The key's public and private blobs in tpm2-tools' file format.
    pub fn files(&self) -> Result<KeyFiles, AgentError> {
        let private = self
            .private
            .as_ref()
            .ok_or_else(|| AgentError::Tpm("no private blob for a key opened by handle".into()))?;
        Ok(KeyFiles {
            public: tpm2b(&marshal_public(&self.public)?)?,
            private: tpm2b(private.value())?,
        })
    }
}

impl Tpm {
    /// Creates (and loads) a new device key under the SRK: ECC P-256, ECDSA/SHA-256,
    /// fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | sign, not restricted.
    pub fn create_device_key(&self) -> Result<DeviceKey, AgentError> {
        let srk = self.storage_root_key()?;
        let template = device_key_template()?;
        self.with("creating the device key", |ctx| {
            let created = ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.create(srk, template, None, None, None, None)
            })?;
            let handle = ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.load(srk, created.out_private.clone(), created.out_public.clone())
            })?;
            Ok(DeviceKey {
                handle,
                public: created.out_public,
                private: Some(created.out_private),
            })
        })
    }

    /// Makes `key` persistent at `handle` (TPM2_EvictControl, owner authorization) and points
    /// `key.handle` at the persistent object.
    pub fn persist(&self, key: &mut DeviceKey, handle: u32) -> Result<(), AgentError> {
        let persistent = Persistent::Persistent(Self::persistent(handle)?);
        if self.is_handle_defined(handle)? {
            return Err(handle_in_use(handle));
        }
        let transient = key.handle;
        let new = self.with("persisting the device key", |ctx| {
            let new = ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.evict_control(Provision::Owner, transient.into(), persistent)
            })?;
            ctx.flush_context(transient.into())?;
            Ok(new)
        })?;
        key.handle = KeyHandle::from(new);
        Ok(())
    }

    /// Opens the persisted device key at `handle` and checks it is an ECC P-256 signing key.
    pub fn open_key(&self, handle: u32) -> Result<DeviceKey, AgentError> {
        let persistent = Self::persistent(handle)?;
        if !self.is_handle_defined(handle)? {
            return Err(AgentError::Tpm(format!(
                "no key at {handle:#010x}: enroll first (`inkan agent enroll --tpm`) or pass the right --handle"
            )));
        }
        let (handle, public) = self.with("opening the device key", |ctx| {
            let object = ctx.execute_without_session(|c| {
                c.tr_from_tpm_public(TpmHandle::Persistent(persistent))
            })?;
            let handle = KeyHandle::from(object);
            let (public, _, _) = ctx.read_public(handle)?;
            Ok((handle, public))
        })?;
        let key = DeviceKey {
            handle,
            public,
            private: None,
        };
        key.ec_point()?;
        Ok(key)
    }

    /// Loads a device key from its public area (TPMT_PUBLIC) and its private blob (the
    /// TPM2B_PRIVATE's buffer), both as [`Tpm::create_device_key`] made them, under the SRK.
    /// Flush it when done.
    pub fn load_key(&self, public: &[u8], private: &[u8]) -> Result<DeviceKey, AgentError> {
        use tss_esapi::traits::UnMarshall;
        let public = Public::unmarshall(public)
            .map_err(|e| AgentError::Tpm(format!("the stored key's public area: {e}")))?;
        let private = Private::try_from(private.to_vec())
            .map_err(|e| AgentError::Tpm(format!("the stored key's private blob: {e}")))?;
        let srk = self.storage_root_key()?;
        let handle = self.with("loading the device key", |ctx| {
            ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.load(srk, private.clone(), public.clone())
            })
        })?;
        let key = DeviceKey {
            handle,
            public,
            private: Some(private),
        };
        key.ec_point()?;
        Ok(key)
    }

    /// ECDSA P-256 over SHA-256(`message`) with `key`; the signature DER-encoded (X9.62).
    pub fn sign_sha256(&self, key: KeyHandle, message: &[u8]) -> Result<Vec<u8>, AgentError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, message);
        let digest = Digest::try_from(digest.as_ref().to_vec())
            .map_err(|e| AgentError::Tpm(format!("digest: {e}")))?;
        let signature = self.with("signing with the device key", |ctx| {
            let validation = TPMT_TK_HASHCHECK {
                tag: TPM2_ST_HASHCHECK,
                hierarchy: TPM2_RH_NULL,
                digest: Default::default(),
            }
            .try_into()?;
            ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.sign(
                    key,
                    digest,
                    SignatureScheme::EcDsa {
                        hash_scheme: HashScheme::new(HashingAlgorithm::Sha256),
                    },
                    validation,
                )
            })
        })?;
        match signature {
            Signature::EcDsa(s) => ecdsa_der(s.signature_r().value(), s.signature_s().value()),
            other => Err(AgentError::Tpm(format!(
                "the TPM returned a {:?} signature, not ECDSA",
                other.algorithm()
            ))),
        }
    }

    /// The SRK at [`SRK_HANDLE`], created from the ECC P-256 SRK template and persisted there
    /// when absent (so third-party tools find the same parent).
    fn storage_root_key(&self) -> Result<KeyHandle, AgentError> {
        let persistent = Self::persistent(SRK_HANDLE)?;
        if self.is_handle_defined(SRK_HANDLE)? {
            return self.with("opening the storage root key", |ctx| {
                ctx.execute_without_session(|c| {
                    c.tr_from_tpm_public(TpmHandle::Persistent(persistent))
                })
                .map(KeyHandle::from)
            });
        }
        let template = srk_template()?;
        self.with("creating the storage root key", |ctx| {
            let primary = ctx.execute_with_session(Some(AuthSession::Password), |c| {
                c.create_primary(Hierarchy::Owner, template, None, None, None, None)
            })?;
            let object: ObjectHandle =
                ctx.execute_with_session(Some(AuthSession::Password), |c| {
                    c.evict_control(
                        Provision::Owner,
                        primary.key_handle.into(),
                        Persistent::Persistent(persistent),
                    )
                })?;
            ctx.flush_context(primary.key_handle.into())?;
            Ok(KeyHandle::from(object))
        })
    }
}

/// The device key template (see [`Tpm::create_device_key`]).
pub fn device_key_template() -> Result<Public, AgentError> {
    tss_esapi::utils::create_unrestricted_signing_ecc_public(
        EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)),
        EccCurve::NistP256,
    )
    .map_err(|e| AgentError::Tpm(format!("device key template: {e}")))
}

/// The TCG ECC P-256 SRK template: restricted decryption key, AES-128-CFB, SHA-256 names.
fn srk_template() -> Result<Public, AgentError> {
    let build = || -> tss_esapi::Result<Public> {
        let attributes = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_sensitive_data_origin(true)
            .with_user_with_auth(true)
            .with_no_da(true)
            .with_restricted(true)
            .with_decrypt(true)
            .build()?;
        PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attributes)
            .with_ecc_parameters(
                PublicEccParametersBuilder::new()
                    .with_symmetric(SymmetricDefinitionObject::AES_128_CFB)
                    .with_ecc_scheme(EccScheme::Null)
                    .with_curve(EccCurve::NistP256)
                    .with_key_derivation_function_scheme(KeyDerivationFunctionScheme::Null)
                    .with_is_decryption_key(true)
                    .with_restricted(true)
                    .build()?,
            )
            .with_ecc_unique_identifier(EccPoint::default())
            .build()
    };
    build().map_err(|e| AgentError::Tpm(format!("SRK template: {e}")))
}

/// `04 ‖ x ‖ y` of an ECC P-256 public area.
pub fn ec_point(public: &Public) -> Result<Vec<u8>, AgentError> {
    let Public::Ecc {
        parameters, unique, ..
    } = public
    else {
        return Err(AgentError::Tpm("the key is not an ECC key".into()));
    };
    if parameters.ecc_curve() != EccCurve::NistP256 {
        return Err(AgentError::Tpm("the key is not on NIST P-256".into()));
    }
    let mut point = vec![0x04];
    for coordinate in [unique.x().value(), unique.y().value()] {
        if coordinate.len() > 32 {
            return Err(AgentError::Tpm("bad P-256 coordinate".into()));
        }
        point.extend(std::iter::repeat_n(0u8, 32 - coordinate.len()));
        point.extend_from_slice(coordinate);
    }
    Ok(point)
}

/// ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } from big-endian r and s.
pub fn ecdsa_der(r: &[u8], s: &[u8]) -> Result<Vec<u8>, AgentError> {
    use der::Encode;
    let fail = |e: der::Error| AgentError::Tpm(format!("encoding the signature: {e}"));
    let r = der::asn1::UintRef::new(r).map_err(fail)?;
    let s = der::asn1::UintRef::new(s).map_err(fail)?;
    let length = (r.encoded_len().map_err(fail)? + s.encoded_len().map_err(fail)?).map_err(fail)?;
    let mut out = Vec::with_capacity(72);
    der::Header::new(der::Tag::Sequence, length)
        .map_err(fail)?
        .encode_to_vec(&mut out)
        .map_err(fail)?;
    r.encode_to_vec(&mut out).map_err(fail)?;
    s.encode_to_vec(&mut out).map_err(fail)?;
    Ok(out)
}

/// A TPM2B: 2-byte big-endian size, then the bytes.
fn tpm2b(bytes: &[u8]) -> Result<Vec<u8>, AgentError> {
    let size =
        u16::try_from(bytes.len()).map_err(|_| AgentError::Tpm("TPM2B buffer too large".into()))?;
    let mut out = size.to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    Ok(out)
}

fn handle_in_use(handle: u32) -> AgentError {
    AgentError::Tpm(format!(
        "persistent handle {handle:#010x} is already in use: pass another --handle, or remove the old key with `tpm2_evictcontrol -C o -c {handle:#010x}`"
    ))
}

/// Writes `files` as `key.pub` and `key.priv` in `dir`.
pub(crate) fn write_key_files(dir: &Path, files: &KeyFiles) -> Result<(), AgentError> {
    for (name, bytes) in [("key.pub", &files.public), ("key.priv", &files.private)] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| AgentError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}
