//! The registry's EST-client [`Issuer`]: device certificates come from a separate certificate
//! authority (inkan or any RFC 7030 server), which records them; this registry keeps the device
//! ↔ certificate map.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use inkan_authority::{
    Authority, AuthorityError, DeviceCertRequest, DeviceIssuerConfig, IssuedDeviceCert, Issuer,
};
use inkan_client::{client_tls_config, EstClient, EstCredentials};
use inkan_pki::{certs_from_pem, CertificateInfo, GeneratedKey};
use tokio::sync::Mutex;

/// Issues device certificates through EST `simpleenroll` at another authority.
pub struct EstIssuer {
    url: String,
    label: Option<String>,
    tls: Arc<rustls::ClientConfig>,
    credentials: EstCredentials,
    /// The issuing CA certificate(s) above the leaf, from `cacerts`.
    intermediates: Vec<Vec<u8>>,
    idle: Mutex<Vec<EstClient>>,
}

fn read(path: &Path) -> Result<Vec<u8>, AuthorityError> {
    std::fs::read(path).map_err(|e| AuthorityError::io(path, e))
}

fn config_error(why: impl Into<String>) -> AuthorityError {
    AuthorityError::Config(format!("device_issuer: {}", why.into()))
}

impl EstIssuer {
    /// Connects to the configured authority once (fetching its CA certificates), so a wrong
    /// URL, trust anchor or credential shows at start, not at the first device.
    pub async fn connect(config: &DeviceIssuerConfig) -> Result<Self, AuthorityError> {
        let roots = certs_from_pem(&read(&config.ca_file)?)?;
        if roots.is_empty() {
            return Err(config_error(format!(
                "{} holds no certificate",
                config.ca_file.display()
            )));
        }
        let identity = match (&config.client_cert, &config.client_key) {
            (Some(cert), Some(key)) => {
                let chain = certs_from_pem(&read(cert)?)?;
                let key_pem = String::from_utf8(read(key)?)
                    .map_err(|_| config_error("client_key is not PEM"))?;
                let key = GeneratedKey::from_pem(&key_pem, None)?;
                Some((chain, key.pkcs8_der().to_vec()))
            }
            (None, None) => None,
            _ => return Err(config_error("client_cert and client_key go together")),
        };
        let credentials = match &config.secret_file {
            Some(path) => {
                let text = String::from_utf8(read(path)?)
                    .map_err(|_| config_error("secret_file is not text"))?;
                EstCredentials::Secret {
                    user: "inkan-registry".into(),
                    secret: text.lines().next().unwrap_or("").trim().to_string(),
                }
            }
            None if identity.is_some() => EstCredentials::None,
            None => {
                return Err(config_error(
                    "set secret_file (the label's EST secret) or client_cert + client_key",
                ))
            }
        };
        let tls = client_tls_config(&roots, identity).map_err(|e| config_error(e.to_string()))?;
        let mut client = EstClient::connect(
            &config.est_url,
            tls.clone(),
            config.label.clone(),
            credentials.clone(),
        )
        .await
        .map_err(|e| AuthorityError::Upstream(format!("{}: {e}", config.est_url)))?;
        let cacerts = client
            .cacerts()
            .await
            .map_err(|e| AuthorityError::Upstream(format!("{}: {e}", config.est_url)))?;
        let intermediates = cacerts
            .into_iter()
            .filter(|der| CertificateInfo::parse(der).is_ok_and(|info| info.subject != info.issuer))
            .collect();
        Ok(Self {
            url: config.est_url.clone(),
            label: config.label.clone(),
            tls,
            credentials,
            intermediates,
            idle: Mutex::new(vec![client]),
        })
    }

    async fn client(&self) -> Result<EstClient, AuthorityError> {
        if let Some(client) = self.idle.lock().await.pop() {
            return Ok(client);
        }
        EstClient::connect(
            &self.url,
            self.tls.clone(),
            self.label.clone(),
            self.credentials.clone(),
        )
        .await
        .map_err(|e| AuthorityError::Upstream(format!("{}: {e}", self.url)))
    }
}

#[async_trait]
impl Issuer for EstIssuer {
    async fn issue_device_cert(
        &self,
        authority: &Authority,
        request: DeviceCertRequest,
    ) -> Result<IssuedDeviceCert, AuthorityError> {
        let device_id = request
            .method
            .device_id()
            .ok_or(inkan_authority::Rejection::NotRegisteredDevice)?
            .to_string();
        let mut client = self.client().await?;
        let leaf = match client.simpleenroll(&request.csr_der).await {
            Ok(leaf) => leaf,
            Err(e) => {
                // The connection may be broken: do not reuse it.
                return Err(AuthorityError::Upstream(format!("{}: {e}", self.url)));
            }
        };
        self.idle.lock().await.push(client);
        let info = CertificateInfo::parse(&leaf)?;
        let mut chain = vec![leaf];
        chain.extend(self.intermediates.iter().cloned());
        let issued = IssuedDeviceCert {
            serial: info.serial,
            not_after: info.not_after,
            chain,
        };
        authority
            .record_device_cert(&device_id, &self.name(), &issued)
            .await?;
        Ok(issued)
    }

    fn name(&self) -> String {
        match &self.label {
            Some(label) => format!("{}/.well-known/est/{label}", self.url),
            None => format!("{}/.well-known/est", self.url),
        }
    }
}
