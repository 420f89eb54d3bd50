//! TPM-attested enrollment against the authority (`/v1/tpm/activations`, `/v1/tpm/enrollments`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode};
use inkan_client::{client_tls_config, HttpConnection, HttpTarget};
use serde::{Deserialize, Serialize};

use super::key::write_key_files;
use super::{marshal_public, name_of, KeyFiles, Tpm, TpmSigningKey, SRK_HANDLE};
use crate::AgentError;

/// HKDF info of the delivery key (wire contract §2).
const DELIVERY_INFO: &[u8] = b"inkan tpm delivery v1";

/// What to enroll, and where.
#[derive(Debug, Clone)]
pub struct TpmEnrollOptions {
    /// The authority's base URL (`https://HOST:PORT`).
    pub authority: String,
    /// Trust anchors (DER) for the authority's TLS certificate.
    pub roots: Vec<Vec<u8>>,
    /// Subject common name asked for in the CSR.
    pub common_name: String,
    /// Persistent handle for the device key.
    pub handle: u32,
}

/// The result of an enrollment.
#[derive(Debug, Clone)]
pub struct TpmEnrollment {
    /// Serial of the issued certificate (hex).
    pub serial: String,
    /// Its assurance level.
    pub level: u8,
    /// The certificate chain, PEM, leaf first.
    pub chain_pem: String,
    /// Where the key and its metadata live.
    pub info: TpmKeyInfo,
    /// The key's TPM2B public and private blobs.
    pub files: KeyFiles,
}

/// `tpm-key.json`: where the enrolled key lives, for `inkan agent proxy` and third-party tools.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TpmKeyInfo {
    /// The TCTI used at enrollment.
    pub tcti: String,
    /// Persistent handle of the device key (`0x81000101`).
    pub handle: String,
    /// Persistent handle of its parent, the SRK.
    pub srk_handle: String,
    /// TPM name of the key (hex).
    pub key_name: String,
    /// Serial of the certificate (hex).
    pub serial: String,
    /// Assurance level of the certificate.
    pub level: u8,
}

impl TpmKeyInfo {
    /// The key handle as a number.
    pub fn handle_value(&self) -> Result<u32, AgentError> {
        parse_handle(&self.handle).map_err(AgentError::Protocol)
    }

    /// Reads `tpm-key.json` from `dir`.
    pub fn read(dir: &Path) -> Result<Self, AgentError> {
        let path = dir.join("tpm-key.json");
        let bytes = std::fs::read(&path).map_err(|e| file_error(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| AgentError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }
}

impl TpmEnrollment {
    /// Writes `chain.pem`, `key.pub`, `key.priv` and `tpm-key.json` into `dir` (created if
    /// missing); returns the path of `chain.pem`.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, AgentError> {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        let chain = dir.join("chain.pem");
        std::fs::write(&chain, &self.chain_pem).map_err(|e| file_error(&chain, e))?;
        write_key_files(dir, &self.files)?;
        let info = dir.join("tpm-key.json");
        let json = serde_json::to_vec_pretty(&self.info)
            .map_err(|e| AgentError::Protocol(e.to_string()))?;
        std::fs::write(&info, json).map_err(|e| file_error(&info, e))?;
        Ok(chain)
    }
}

/// Parses a handle written as `0x81000101` (or decimal).
pub fn parse_handle(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("bad TPM handle {text:?}: write it like 0x81000101"))
}

#[derive(Serialize)]
struct ActivationRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    ek_certificate: Option<String>,
    ek_public: String,
    ak_public: String,
}

#[derive(Deserialize)]
struct ActivationResponse {
    activation_id: String,
    credential_blob: String,
    encrypted_secret: String,
    nonce: String,
}

#[derive(Serialize)]
struct EnrollmentRequest {
    activation_id: String,
    secret: String,
    attest: String,
    signature: String,
    key_public: String,
    csr: String,
}

#[derive(Deserialize)]
struct EnrollmentResponse {
    serial: String,
    level: u8,
    delivery: Delivery,
}

#[derive(Deserialize)]
struct Delivery {
    alg: String,
    nonce: String,
    ciphertext: String,
}

/// Runs the whole device side: EK and AK, activation, device key, certification, TPM-signed CSR,
/// enrollment, decryption of the delivered chain; persists the key at `options.handle`.
pub async fn enroll(
    tpm: Arc<Tpm>,
    options: &TpmEnrollOptions,
) -> Result<TpmEnrollment, AgentError> {
    // Fail before asking the authority for anything if the key could not be persisted.
    Tpm::persistent(options.handle)?;
    if tpm.is_handle_defined(options.handle)? {
        return Err(AgentError::Tpm(format!(
            "persistent handle {:#010x} is already in use: pass another --handle, or remove the old key with `tpm2_evictcontrol -C o -c {:#010x}`",
            options.handle, options.handle
        )));
    }
    let ek = tpm.endorsement()?;
    let ak = tpm.attestation_key(&ek)?;
    let target = HttpTarget::parse(&options.authority)?;
    let tls = client_tls_config(&options.roots, None)?;
    let mut connection = HttpConnection::connect(&target, tls).await?;

    let activation: ActivationResponse = post_json(
        &mut connection,
        "/v1/tpm/activations",
        &ActivationRequest {
            ek_certificate: ek.certificate.as_ref().map(|c| B64.encode(c)),
            ek_public: B64.encode(marshal_public(&ek.public)?),
            ak_public: B64.encode(marshal_public(&ak.public)?),
        },
    )
    .await?;
    let secret = tpm.activate_credential(
        &ek,
        ak.handle,
        &decode("credential_blob", &activation.credential_blob)?,
        &decode("encrypted_secret", &activation.encrypted_secret)?,
    )?;
    let nonce = decode("nonce", &activation.nonce)?;
    // TPMs have few transient object slots (three on some): free the EK before the device key.
    tpm.flush(ek.handle)?;

    let mut key = tpm.create_device_key()?;
    let certification = tpm.certify(&key, &ak, &nonce)?;
    tpm.flush(ak.handle)?;
    let signer = TpmSigningKey::new(tpm.clone(), &key)?;
    let csr = build_csr(&signer, &options.common_name)?;

    let enrollment: EnrollmentResponse = post_json(
        &mut connection,
        "/v1/tpm/enrollments",
        &EnrollmentRequest {
            activation_id: activation.activation_id.clone(),
            secret: B64.encode(&secret),
            attest: B64.encode(&certification.attest),
            signature: B64.encode(&certification.signature),
            key_public: B64.encode(marshal_public(&key.public)?),
            csr: B64.encode(&csr),
        },
    )
    .await?;
    let chain_pem = open_delivery(&secret, &activation.activation_id, &enrollment.delivery)?;
    check_chain_key(&chain_pem, &signer.spki_der())?;

    let files = key.files()?;
    tpm.persist(&mut key, options.handle)?;
    Ok(TpmEnrollment {
        serial: enrollment.serial.clone(),
        level: enrollment.level,
        chain_pem,
        info: TpmKeyInfo {
            tcti: tpm.tcti().to_string(),
            handle: format!("{:#010x}", options.handle),
            srk_handle: format!("{SRK_HANDLE:#010x}"),
            key_name: hex_lower(&name_of(&key.public)?),
            serial: enrollment.serial,
            level: enrollment.level,
        },
        files,
    })
}

/// A PKCS#10 request for `common_name`, signed by the TPM key (DER).
pub fn build_csr(signer: &TpmSigningKey, common_name: &str) -> Result<Vec<u8>, AgentError> {
    let mut params = rcgen::CertificateParams::default();
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, common_name);
    params.distinguished_name = name;
    let csr = params
        .serialize_request(signer)
        .map_err(|e| AgentError::Tpm(format!("building the CSR: {e}")))?;
    Ok(csr.der().to_vec())
}

/// Decrypts the delivered chain: AES-256-GCM under HKDF-SHA256(secret, salt = activation id,
/// info = "inkan tpm delivery v1").
pub fn open_delivery_parts(
    secret: &[u8],
    activation_id: &str,
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<String, AgentError> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    use ring::hkdf::{Salt, HKDF_SHA256};
    let refused =
        || AgentError::Protocol("the delivery does not decrypt with the activation secret".into());
    let prk = Salt::new(HKDF_SHA256, activation_id.as_bytes()).extract(secret);
    let okm = prk
        .expand(&[DELIVERY_INFO], &AES_256_GCM)
        .map_err(|_| refused())?;
    let key = LessSafeKey::new(UnboundKey::from(okm));
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| AgentError::Protocol("the delivery nonce is not 12 bytes".into()))?;
    let mut buffer = ciphertext.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::empty(), &mut buffer)
        .map_err(|_| refused())?;
    String::from_utf8(plain.to_vec())
        .map_err(|_| AgentError::Protocol("the delivered chain is not PEM text".into()))
}

fn open_delivery(
    secret: &[u8],
    activation_id: &str,
    delivery: &Delivery,
) -> Result<String, AgentError> {
    if delivery.alg != "A256GCM" {
        return Err(AgentError::Protocol(format!(
            "unknown delivery algorithm {:?}",
            delivery.alg
        )));
    }
    open_delivery_parts(
        secret,
        activation_id,
        &decode("delivery.nonce", &delivery.nonce)?,
        &decode("delivery.ciphertext", &delivery.ciphertext)?,
    )
}

/// The leaf must certify the TPM key (its SubjectPublicKeyInfo appears in the leaf).
fn check_chain_key(chain_pem: &str, spki: &[u8]) -> Result<(), AgentError> {
    let chain = inkan_pki::certs_from_pem(chain_pem.as_bytes())?;
    let leaf = chain
        .first()
        .ok_or_else(|| AgentError::Protocol("the delivered chain holds no certificate".into()))?;
    if leaf.windows(spki.len()).any(|w| w == spki) {
        Ok(())
    } else {
        Err(AgentError::Protocol(
            "the delivered certificate is not for the TPM key".into(),
        ))
    }
}

async fn post_json<Req: Serialize, Resp: for<'de> Deserialize<'de>>(
    connection: &mut HttpConnection,
    path: &str,
    request: &Req,
) -> Result<Resp, AgentError> {
    let body = serde_json::to_vec(request).map_err(|e| AgentError::Protocol(e.to_string()))?;
    let (status, _, body) = connection
        .send(
            Method::POST,
            path,
            &[("content-type", "application/json".to_string())],
            Bytes::from(body),
        )
        .await?;
    if status != StatusCode::CREATED && status != StatusCode::OK {
        let mut message = problem_message(&body);
        if message.is_empty() {
            message = status.canonical_reason().unwrap_or("error").to_string();
        }
        if status == StatusCode::NOT_FOUND && path == "/v1/tpm/activations" {
            message.push_str(
                " — this authority does not offer TPM enrollment: upgrade it, or check --authority",
            );
        }
        return Err(AgentError::Status {
            status: status.as_u16(),
            message,
        });
    }
    serde_json::from_slice(&body)
        .map_err(|e| AgentError::Protocol(format!("{path}: bad response: {e}")))
}

/// The `detail` (or `title`) of a problem+json body, else the body text.
fn problem_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    parsed
        .as_ref()
        .and_then(|v| v.get("detail").or_else(|| v.get("title")))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

fn decode(field: &str, text: &str) -> Result<Vec<u8>, AgentError> {
    B64.decode(text)
        .map_err(|_| AgentError::Protocol(format!("{field} is not base64")))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_error(path: &Path, e: std::io::Error) -> AgentError {
    AgentError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}
