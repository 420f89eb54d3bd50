//! A device's first boot: register with the authority (`POST /v1/devices`) using its product's
//! bootstrap credential — the shared ProductCert over mTLS, or a PSK-signed token — and receive
//! its own DeviceCert for a key made on the device.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode};
use inkan_attest::PskToken;
use inkan_client::{client_tls_config, HttpConnection, HttpTarget};
use inkan_pki::{build_csr, certs_from_pem, GeneratedKey};
use rand::RngCore;
use serde::Deserialize;

use crate::AgentError;

/// How the unit proves it belongs to its product.
pub enum Bootstrap {
    /// The ProductCert chain (leaf first, DER) and its PKCS#8 key.
    ProductCert {
        /// ProductCert then issuing CA.
        chain: Vec<Vec<u8>>,
        /// Its key, PKCS#8 DER.
        key_pkcs8: Vec<u8>,
    },
    /// A key derived from the product's PSK group key for this unit's registration id.
    Psk {
        /// Product id or name.
        product: String,
        /// The registration id the key was derived for.
        registration_id: String,
        /// HMAC-SHA256(group key, registration id).
        device_key: Vec<u8>,
    },
}

impl Bootstrap {
    /// A ProductCert from a PKCS#12 bundle.
    pub fn from_pkcs12(bundle: &[u8], passphrase: &str) -> Result<Self, AgentError> {
        let opened = inkan_pki::pkcs12_decode(bundle, passphrase)?;
        Ok(Self::ProductCert {
            chain: opened.chain,
            key_pkcs8: opened.key_pkcs8,
        })
    }

    /// A ProductCert from PEM files' contents (certificate chain, PKCS#8 key).
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Self, AgentError> {
        let chain = certs_from_pem(chain_pem.as_bytes())?;
        if chain.is_empty() {
            return Err(AgentError::Protocol(
                "the bootstrap certificate file holds no certificate".into(),
            ));
        }
        let key = GeneratedKey::from_pem(key_pem, None)?;
        Ok(Self::ProductCert {
            chain,
            key_pkcs8: key.pkcs8_der().to_vec(),
        })
    }
}

/// What the authority returned for a registration.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The device's id in the registry (its certificate's common name).
    pub device_id: String,
    /// The DeviceCert's serial.
    pub serial: String,
    /// DeviceCert then issuing CA, DER.
    pub chain: Vec<Vec<u8>>,
}

#[derive(Deserialize)]
struct RegisterResponse {
    device: DeviceField,
    serial: String,
    device_cert_chain: String,
}

#[derive(Deserialize)]
struct DeviceField {
    id: String,
}

/// Registers the unit whose key is `device_key` with the authority at `authority`
/// (`https://host:port`), trusting `roots`. `device_info` (serial, MAC, …) is kept in the
/// registry, never in the certificate. A retry with the same key returns the same device.
pub async fn register_device(
    authority: &str,
    roots: &[Vec<u8>],
    bootstrap: &Bootstrap,
    device_key: &GeneratedKey,
    device_info: serde_json::Map<String, serde_json::Value>,
) -> Result<Registered, AgentError> {
    // The CSR names nothing that identifies the unit: an inkan authority names the device by
    // its random id; a separate CA (the registry's EST issuer) keeps this key-derived name.
    let name = format!(
        "device-{}",
        &inkan_pki::sha256_hex(&device_key.public_key_der())[..16]
    );
    let csr = build_csr(device_key, &name, &[])?;
    let body = serde_json::to_vec(&serde_json::json!({
        "device_info": device_info,
        "csr": base64::engine::general_purpose::STANDARD.encode(csr),
    }))
    .map_err(|e| AgentError::Protocol(e.to_string()))?;
    let mut headers = vec![("content-type", "application/json".to_string())];
    let identity = match bootstrap {
        Bootstrap::ProductCert { chain, key_pkcs8 } => Some((chain.clone(), key_pkcs8.clone())),
        Bootstrap::Psk {
            product,
            registration_id,
            device_key,
        } => {
            let mut nonce = [0u8; 18];
            rand::rngs::OsRng.fill_bytes(&mut nonce);
            let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(nonce);
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            headers.push((
                "authorization",
                PskToken::sign(
                    device_key,
                    product,
                    registration_id,
                    now,
                    &nonce,
                    "POST",
                    "/v1/devices",
                    &body,
                ),
            ));
            None
        }
    };
    let tls = client_tls_config(roots, identity)?;
    let (status, _, response) = post(authority, tls, &headers, body).await?;
    if status != StatusCode::CREATED {
        return Err(AgentError::Status {
            status: status.as_u16(),
            message: problem_detail(&response),
        });
    }
    let parsed: RegisterResponse = serde_json::from_slice(&response)
        .map_err(|e| AgentError::Protocol(format!("registration response: {e}")))?;
    Ok(Registered {
        device_id: parsed.device.id,
        serial: parsed.serial,
        chain: certs_from_pem(parsed.device_cert_chain.as_bytes())?,
    })
}

async fn post(
    url: &str,
    tls: Arc<rustls::ClientConfig>,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<(StatusCode, http::HeaderMap, Bytes), AgentError> {
    let target = HttpTarget::parse(url)?;
    let mut connection = HttpConnection::connect(&target, tls).await?;
    Ok(connection
        .send(Method::POST, "/v1/devices", headers, Bytes::from(body))
        .await?)
}

/// The `detail` of a problem+json body, or the body itself.
fn problem_detail(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}
