use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode};
use inkan_pki::certs_only_decode;
use rustls::ClientConfig;

use crate::{ClientError, HttpConnection, HttpTarget};

/// How an EST client authenticates besides TLS.
#[derive(Clone, Debug)]
pub enum EstCredentials {
    /// Only the TLS client certificate (if the TLS config has one).
    None,
    /// HTTP Basic with a label's enrollment secret.
    Secret {
        /// User name sent (the server ignores it; libest clients send one).
        user: String,
        /// The secret.
        secret: String,
    },
}

/// An EST client over one keep-alive connection.
pub struct EstClient {
    connection: HttpConnection,
    label: Option<String>,
    credentials: EstCredentials,
}

impl EstClient {
    /// Connects to the EST server at `url` (`https://host:port`).
    pub async fn connect(
        url: &str,
        tls: Arc<ClientConfig>,
        label: Option<String>,
        credentials: EstCredentials,
    ) -> Result<Self, ClientError> {
        let target = HttpTarget::parse(url)?;
        Ok(Self {
            connection: HttpConnection::connect(&target, tls).await?,
            label,
            credentials,
        })
    }

    fn path(&self, operation: &str) -> String {
        match &self.label {
            Some(label) => format!("/.well-known/est/{label}/{operation}"),
            None => format!("/.well-known/est/{operation}"),
        }
    }

    /// `cacerts`: the CA certificates (as a set; order them by issuer yourself).
    pub async fn cacerts(&mut self) -> Result<Vec<Vec<u8>>, ClientError> {
        let path = self.path("cacerts");
        let (status, _, body) = self
            .connection
            .send(Method::GET, &path, &[], Bytes::new())
            .await?;
        decode_pkcs7(status, &body)
    }

    /// `simpleenroll`: a new certificate for the DER CSR.
    pub async fn simpleenroll(&mut self, csr_der: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.enroll("simpleenroll", csr_der).await
    }

    /// `simplereenroll`: renews the certificate presented as TLS client certificate.
    pub async fn simplereenroll(&mut self, csr_der: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.enroll("simplereenroll", csr_der).await
    }

    async fn enroll(&mut self, operation: &str, csr_der: &[u8]) -> Result<Vec<u8>, ClientError> {
        let path = self.path(operation);
        let body = base64::engine::general_purpose::STANDARD.encode(csr_der);
        let mut headers = vec![
            ("content-type", "application/pkcs10".to_string()),
            ("content-transfer-encoding", "base64".to_string()),
        ];
        if let EstCredentials::Secret { user, secret } = &self.credentials {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
            headers.push(("authorization", format!("Basic {token}")));
        }
        let (status, _, body) = self
            .connection
            .send(Method::POST, &path, &headers, Bytes::from(body))
            .await?;
        decode_pkcs7(status, &body)?
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::Protocol("the response holds no certificate".into()))
    }
}

fn decode_pkcs7(status: StatusCode, body: &[u8]) -> Result<Vec<Vec<u8>>, ClientError> {
    if !status.is_success() {
        return Err(ClientError::Status {
            status: status.as_u16(),
            message: String::from_utf8_lossy(body).trim().to_string(),
        });
    }
    let clean: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|_| ClientError::Protocol("the EST response is not base64".into()))?;
    Ok(certs_only_decode(&der)?)
}
