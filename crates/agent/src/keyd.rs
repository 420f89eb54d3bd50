//! The key service's enrollment: it plays the trusted app of a TA profile (docs/tee.md). It
//! asks the TAM for its TA (TEEP QueryRequest → QueryResponse → Update → Success/Error), opens
//! the bundle, generates the certificate key, builds the CSR with the identity fields the
//! profile asks for, MACs it over the TAM's challenge, enrolls, and installs the certificate
//! only if it chains to the CA key the bundle carries and certifies its own key.
//!
//! Two kinds of unit ([`UnitSecret`]):
//! - with an SK_TEE from the factory, the bundle opens with it and the key is a 0600 file: a
//!   software TA, not a TEE;
//! - with a TPM (registered by its EK), the key is created in the TPM first, the Update is
//!   sealed to that TPM and bound to that key, and only TPM2_ActivateCredential recovers the
//!   bundle's key; the enrollment proves it with an activation proof.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode};
use inkan_attest::{activation_proof, csr_mac, open_bundle, CsrMacInput, SealedBundle, TaBundle};
use inkan_client::{client_tls_config, HttpConnection, HttpTarget};
use inkan_pki::{
    build_csr_with_serial, certs_from_pem, der_to_pem, verify_chain, ChainUsage, GeneratedKey,
    KeyAlgorithm,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::AgentError;

mod client;
mod service;
mod signer;
mod tpm_unit;

pub use client::call;
pub use service::{bind, serve, Owner};
pub use signer::KeydSigningKey;
pub use tpm_unit::{StoredTpmKey, TpmUnit, TPM_KEY_FILE};

/// What makes this unit itself: the secret its TA is sealed to.
#[derive(Clone)]
pub enum UnitSecret {
    /// SK_TEE, provisioned at the factory.
    DeviceKey([u8; 32]),
    /// The unit's TPM, registered by its EK.
    Tpm(TpmUnit),
}

/// What to enroll, and where.
#[derive(Clone)]
pub struct KeydOptions {
    /// The authority's base URL (`https://HOST:PORT`).
    pub authority: String,
    /// Trust anchors (DER) for the authority's TLS certificate.
    pub roots: Vec<Vec<u8>>,
    /// This device's UID.
    pub uid: String,
    /// The secret the unit's TA is sealed to.
    pub unit: UnitSecret,
    /// The TA profile to run.
    pub profile: String,
    /// The identity the device reports, as (field, value): `serial`, `mac`, `imei`.
    pub identity: Vec<(String, String)>,
    /// State directory: `ta-bundle.json` (sealed), `device.key` (0600), `device.pem`, `ca.pem`.
    pub dir: PathBuf,
}

impl std::fmt::Debug for KeydOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeydOptions")
            .field("authority", &self.authority)
            .field("uid", &self.uid)
            .field("profile", &self.profile)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// An installed certificate.
#[derive(Clone, Debug, Serialize)]
pub struct KeydEnrollment {
    /// Serial (hex).
    pub serial: String,
    /// Its assurance level.
    pub level: u8,
    /// The TA profile and version that enrolled it.
    pub profile: String,
    /// The version.
    pub version: i64,
    /// Where the chain was written.
    pub certificate: PathBuf,
    /// Where the key was written.
    pub key: PathBuf,
    /// Where the key lives: `software` or `tpm`.
    pub key_storage: &'static str,
}

#[derive(Deserialize)]
struct QueryRequest {
    challenge: String,
}

#[derive(Deserialize, Serialize)]
struct BundleWire {
    uid: String,
    profile: String,
    version: i64,
    alg: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Deserialize)]
struct CredentialWire {
    credential_blob: String,
    encrypted_secret: String,
}

#[derive(Deserialize)]
struct Enrolled {
    serial: String,
    level: u8,
    chain: String,
}

/// Runs the whole exchange and installs the certificate.
pub async fn enroll(options: &KeydOptions) -> Result<KeydEnrollment, AgentError> {
    let target = HttpTarget::parse(&options.authority)?;
    let tls = client_tls_config(&options.roots, None)?;
    let mut connection = HttpConnection::connect(&target, tls).await?;
    std::fs::create_dir_all(&options.dir).map_err(|e| file_error(&options.dir, e))?;

    let query: QueryRequest = post(
        &mut connection,
        "/v1/tee/tam",
        &json!({"type": "hello", "uid": options.uid}),
    )
    .await?
    .ok_or_else(|| AgentError::Protocol("the TAM sent no QueryRequest".into()))?;
    let challenge = decode("challenge", &query.challenge)?;
    match &options.unit {
        UnitSecret::DeviceKey(device_key) => {
            enroll_software(&mut connection, options, device_key, &challenge).await
        }
        UnitSecret::Tpm(tpm) => enroll_tpm(&mut connection, options, tpm, &challenge).await,
    }
}

/// A unit with an SK_TEE: the bundle may be cached (TEEP's installed version), the key is a
/// 0600 file.
async fn enroll_software(
    connection: &mut HttpConnection,
    options: &KeydOptions,
    device_key: &[u8; 32],
    challenge: &[u8],
) -> Result<KeydEnrollment, AgentError> {
    let bundle_path = options.dir.join("ta-bundle.json");
    let installed =
        read_sealed(&bundle_path).filter(|b| b.profile == options.profile && b.uid == options.uid);
    let update: Option<Value> = post(
        connection,
        "/v1/tee/tam",
        &json!({
            "type": "query-response",
            "uid": options.uid,
            "requested_tc": options.profile,
            "installed_version": installed.as_ref().map(|b| b.version),
        }),
    )
    .await?;
    let wire = match update {
        Some(update) => serde_json::from_value::<BundleWire>(update["bundle"].clone())
            .map_err(|e| AgentError::Protocol(format!("the TAM's Update: {e}")))?,
        None => installed.ok_or_else(|| {
            AgentError::Protocol("the TAM sent no TA and none is installed".into())
        })?,
    };
    let bundle = match open_wire(device_key, &wire) {
        Ok(bundle) => bundle,
        Err(e) => {
            report(connection, options, Some(&e.to_string())).await;
            return Err(e);
        }
    };
    let json = serde_json::to_vec_pretty(&wire).map_err(|e| AgentError::Protocol(e.to_string()))?;
    write_file(&bundle_path, &json, 0o600)?;
    report(connection, options, None).await;

    let algorithm = match bundle.key_algorithm.as_str() {
        "p256" => KeyAlgorithm::P256,
        "p384" => KeyAlgorithm::P384,
        other => {
            return Err(AgentError::Protocol(format!(
                "the TA asks for key algorithm {other:?}, which this key service does not make"
            )))
        }
    };
    let key = GeneratedKey::generate(algorithm)?;
    let (serial, sans) = identity_names(&bundle, &options.identity)?;
    let csr = build_csr_with_serial(&key, &options.uid, serial.as_deref(), &sans)?;
    let (enrolled, chain, ca) = submit(connection, options, &bundle, challenge, &csr, None).await?;
    check_returned(&chain, &ca, &key.public_key_der())?;
    let key_path = options.dir.join("device.key");
    write_file(&key_path, key.to_pem(None)?.as_bytes(), 0o600)?;
    let _ = std::fs::remove_file(options.dir.join(TPM_KEY_FILE));
    install(
        options, enrolled, &bundle, &chain, &ca, key_path, "software",
    )
}

/// A unit with a TPM: a new key in the TPM, an Update sealed to the TPM and bound to that key,
/// and the CSR signed in the TPM with an activation proof beside its MAC.
async fn enroll_tpm(
    connection: &mut HttpConnection,
    options: &KeydOptions,
    tpm: &TpmUnit,
    challenge: &[u8],
) -> Result<KeydEnrollment, AgentError> {
    let (key_public, key) = tpm.create_key()?;
    let update: Value = post(
        connection,
        "/v1/tee/tam",
        &json!({
            "type": "query-response",
            "uid": options.uid,
            "requested_tc": options.profile,
            "challenge": B64.encode(challenge),
            "tpm_key": B64.encode(&key_public),
        }),
    )
    .await?
    .ok_or_else(|| AgentError::Protocol("the TAM sent no Update to this TPM unit".into()))?;
    let wire = serde_json::from_value::<BundleWire>(update["bundle"].clone())
        .map_err(|e| AgentError::Protocol(format!("the TAM's Update: {e}")))?;
    let credential = serde_json::from_value::<CredentialWire>(update["credential"].clone())
        .map_err(|e| {
            AgentError::Protocol(format!(
                "the TAM's Update carries no credential for this TPM ({e}): is the unit registered with its EK?"
            ))
        })?;
    let opened = tpm
        .activate(
            &key,
            &decode("credential_blob", &credential.credential_blob)?,
            &decode("encrypted_secret", &credential.encrypted_secret)?,
        )
        .and_then(|secret| {
            let secret: [u8; 32] = secret
                .try_into()
                .map_err(|_| AgentError::Protocol("the activated secret is not 32 bytes".into()))?;
            Ok((open_wire(&secret, &wire)?, secret))
        });
    let (bundle, secret) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            report(connection, options, Some(&e.to_string())).await;
            return Err(e);
        }
    };
    report(connection, options, None).await;
    if bundle.key_algorithm != "p256" {
        return Err(AgentError::Protocol(format!(
            "the TA asks for key algorithm {:?}; this unit's TPM keys are p256",
            bundle.key_algorithm
        )));
    }
    let (serial, sans) = identity_names(&bundle, &options.identity)?;
    let (csr, spki) = tpm.csr(&key, &options.uid, serial.as_deref(), &sans)?;
    let (enrolled, chain, ca) =
        submit(connection, options, &bundle, challenge, &csr, Some(&secret)).await?;
    check_returned(&chain, &ca, &spki)?;
    key.write(&options.dir)?;
    let _ = std::fs::remove_file(options.dir.join("device.key"));
    let key_path = options.dir.join(TPM_KEY_FILE);
    install(options, enrolled, &bundle, &chain, &ca, key_path, "tpm")
}

/// Sends the MAC'd CSR (with the activation proof of a TPM unit); returns the answer, the
/// returned chain and the bundle's CA certificates.
async fn submit(
    connection: &mut HttpConnection,
    options: &KeydOptions,
    bundle: &TaBundle,
    challenge: &[u8],
    csr: &[u8],
    activation_secret: Option<&[u8; 32]>,
) -> Result<(Enrolled, Vec<Vec<u8>>, Vec<Vec<u8>>), AgentError> {
    let csr_key = bundle
        .csr_key()
        .map_err(|e| AgentError::Protocol(e.to_string()))?;
    let input = CsrMacInput {
        uid: &options.uid,
        profile: &bundle.profile,
        version: bundle.version,
        challenge,
        csr_der: csr,
    };
    let mut request = json!({
        "uid": options.uid,
        "profile": bundle.profile,
        "version": bundle.version,
        "challenge": B64.encode(challenge),
        "csr": B64.encode(csr),
        "mac": B64.encode(csr_mac(&csr_key, &input)),
    });
    if let Some(secret) = activation_secret {
        request["activation"] = json!(B64.encode(activation_proof(secret, &input)));
    }
    let enrolled: Enrolled = post(connection, "/v1/tee/enrollments", &request)
        .await?
        .ok_or_else(|| AgentError::Protocol("the enrollment answered no certificate".into()))?;
    let chain = certs_from_pem(enrolled.chain.as_bytes())?;
    let ca = bundle
        .ca_certificates_der()
        .map_err(|e| AgentError::Protocol(e.to_string()))?;
    Ok((enrolled, chain, ca))
}

/// Writes the checked chain and the CA roots beside the key.
fn install(
    options: &KeydOptions,
    enrolled: Enrolled,
    bundle: &TaBundle,
    chain: &[Vec<u8>],
    ca: &[Vec<u8>],
    key_path: PathBuf,
    key_storage: &'static str,
) -> Result<KeydEnrollment, AgentError> {
    let cert_path = options.dir.join("device.pem");
    let chain_pem: String = chain.iter().map(|c| der_to_pem("CERTIFICATE", c)).collect();
    write_file(&cert_path, chain_pem.as_bytes(), 0o644)?;
    let roots_pem: String = ca
        .iter()
        .skip(1)
        .map(|c| der_to_pem("CERTIFICATE", c))
        .collect();
    write_file(&options.dir.join("ca.pem"), roots_pem.as_bytes(), 0o644)?;
    Ok(KeydEnrollment {
        serial: enrolled.serial,
        level: enrolled.level,
        profile: bundle.profile.clone(),
        version: bundle.version,
        certificate: cert_path,
        key: key_path,
        key_storage,
    })
}

/// The names a trusted app writes besides CN = UID: the serial as serialNumber, the MAC and
/// IMEI as URNs; exactly the fields the TA profile asks for.
fn identity_names(
    bundle: &TaBundle,
    identity: &[(String, String)],
) -> Result<(Option<String>, Vec<String>), AgentError> {
    let value = |field: &str| {
        identity
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                AgentError::Protocol(format!(
                    "the TA profile asks for the device's {field}: pass --identity {field}=… (or a source for it)"
                ))
            })
    };
    let mut serial = None;
    let mut sans = Vec::new();
    for field in &bundle.identity_fields {
        match field.as_str() {
            "serial" => serial = Some(value("serial")?),
            "mac" => sans.push(format!(
                "urn:dev:mac:{}",
                value("mac")?.replace([':', '-'], "").to_ascii_lowercase()
            )),
            "imei" => sans.push(format!("urn:gsma:imei:{}", value("imei")?)),
            other => {
                return Err(AgentError::Protocol(format!(
                    "the TA profile asks for identity field {other:?}, which this key service cannot read"
                )))
            }
        }
    }
    Ok((serial, sans))
}

/// Installs nothing unless the leaf chains to the bundle's CA key and certifies our own key.
pub fn check_returned(
    chain: &[Vec<u8>],
    ca: &[Vec<u8>],
    own_spki: &[u8],
) -> Result<(), AgentError> {
    let leaf = chain
        .first()
        .ok_or_else(|| AgentError::Protocol("the enrollment returned no certificate".into()))?;
    let (issuing, roots) = ca
        .split_first()
        .ok_or_else(|| AgentError::Protocol("the TA bundle names no CA".into()))?;
    verify_chain(
        leaf,
        std::slice::from_ref(issuing),
        roots,
        ChainUsage::ClientAuth,
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| {
        AgentError::Protocol(format!(
            "refusing to install: the returned certificate does not chain to the TA's CA key ({e})"
        ))
    })?;
    let info = inkan_pki::CertificateInfo::parse(leaf)?;
    if info.spki_sha256 != inkan_pki::sha256_hex(own_spki) {
        return Err(AgentError::Protocol(
            "refusing to install: the returned certificate is for another key".into(),
        ));
    }
    Ok(())
}

fn open_wire(device_key: &[u8; 32], wire: &BundleWire) -> Result<TaBundle, AgentError> {
    if wire.alg != "A256GCM" {
        return Err(AgentError::Protocol(format!(
            "TA bundle algorithm {:?}, expected A256GCM",
            wire.alg
        )));
    }
    let sealed = SealedBundle {
        uid: wire.uid.clone(),
        profile: wire.profile.clone(),
        version: wire.version,
        nonce: decode("nonce", &wire.nonce)?,
        ciphertext: decode("ciphertext", &wire.ciphertext)?,
    };
    open_bundle(device_key, &sealed).map_err(|e| AgentError::Protocol(e.to_string()))
}

fn read_sealed(path: &Path) -> Option<BundleWire> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Tells the TAM whether the Update was installed (TEEP Success / Error); best effort.
async fn report(connection: &mut HttpConnection, options: &KeydOptions, error: Option<&str>) {
    let message = match error {
        None => json!({"type": "success", "uid": options.uid}),
        Some(e) => json!({"type": "error", "uid": options.uid, "err_msg": e}),
    };
    if let Err(e) = post::<Value>(connection, "/v1/tee/tam", &message).await {
        tracing::warn!(error = %e, "could not report to the TAM");
    }
}

async fn post<Resp: for<'de> Deserialize<'de>>(
    connection: &mut HttpConnection,
    path: &str,
    request: &Value,
) -> Result<Option<Resp>, AgentError> {
    let body = serde_json::to_vec(request).map_err(|e| AgentError::Protocol(e.to_string()))?;
    let (status, _, body) = connection
        .send(
            Method::POST,
            path,
            &[("content-type", "application/json".to_string())],
            Bytes::from(body),
        )
        .await?;
    if status == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    if status != StatusCode::CREATED && status != StatusCode::OK {
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        let message = parsed
            .as_ref()
            .and_then(|v| v.get("detail").or_else(|| v.get("title")))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        return Err(AgentError::Status {
            status: status.as_u16(),
            message,
        });
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| AgentError::Protocol(format!("{path}: bad response: {e}")))
}

fn decode(field: &str, text: &str) -> Result<Vec<u8>, AgentError> {
    B64.decode(text)
        .map_err(|_| AgentError::Protocol(format!("{field} is not base64")))
}

pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AgentError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| file_error(&tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))
}

pub(crate) fn file_error(path: &Path, e: std::io::Error) -> AgentError {
    AgentError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}
