use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::ClientError;

/// Where an HTTP(S) service is: scheme, host, port and base path.
#[derive(Clone, Debug)]
pub struct HttpTarget {
    /// Whether to use TLS (`https://`).
    pub secure: bool,
    /// Host to connect to.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Base path without a trailing slash (may be empty).
    pub base_path: String,
}

impl HttpTarget {
    /// Parses `https://HOST[:PORT][/PATH]` (or `http://` for plain HTTP).
    pub fn parse(url: &str) -> Result<Self, ClientError> {
        let uri: Uri = url.parse().map_err(|_| ClientError::Url(url.into()))?;
        let secure = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(ClientError::Url(url.into())),
        };
        let host = uri.host().ok_or_else(|| ClientError::Url(url.into()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Self {
            secure,
            host,
            port: uri.port_u16().unwrap_or(if secure { 443 } else { 80 }),
            base_path: uri.path().trim_end_matches('/').to_string(),
        })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A rustls client configuration trusting `roots` (DER), optionally presenting a client
/// certificate chain with its PKCS#8 key.
pub fn client_tls_config(
    roots: &[Vec<u8>],
    identity: Option<(Vec<Vec<u8>>, Vec<u8>)>,
) -> Result<Arc<ClientConfig>, ClientError> {
    let builder = client_config_builder(roots)?;
    let mut config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(
                chain.into_iter().map(CertificateDer::from).collect(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
            .map_err(|e| ClientError::Tls(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A rustls client configuration trusting `roots` (DER) whose client certificate and key come
/// from `resolver` (for keys rustls cannot load, such as a TPM key).
pub fn client_tls_config_with_resolver(
    roots: &[Vec<u8>],
    resolver: Arc<dyn ResolvesClientCert>,
) -> Result<Arc<ClientConfig>, ClientError> {
    let mut config = client_config_builder(roots)?.with_client_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn client_config_builder(
    roots: &[Vec<u8>],
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>, ClientError> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store
            .add(CertificateDer::from(root.clone()))
            .map_err(|e| ClientError::Tls(format!("bad trust anchor: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(store))
}

/// HTTP/1.1 over an established stream; the connection is driven by a background task.
async fn http1_handshake<IO>(io: IO) -> Result<SendRequest<Full<Bytes>>, String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One keep-alive HTTP/1.1 connection, over TLS for `https://` targets.
pub struct HttpConnection {
    target: HttpTarget,
    sender: SendRequest<Full<Bytes>>,
}

impl HttpConnection {
    /// Connects (and completes the TLS handshake for `https://`).
    pub async fn connect(target: &HttpTarget, tls: Arc<ClientConfig>) -> Result<Self, ClientError> {
        let fail = |reason: String| ClientError::Connect {
            target: target.authority(),
            reason,
        };
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| fail(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let sender = if target.secure {
            let name =
                ServerName::try_from(target.host.clone()).map_err(|e| fail(e.to_string()))?;
            let stream = TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| fail(format!("TLS handshake failed: {e}")))?;
            http1_handshake(stream).await.map_err(fail)?
        } else {
            http1_handshake(tcp).await.map_err(fail)?
        };
        Ok(Self {
            target: target.clone(),
            sender,
        })
    }

    async fn request(
        &mut self,
        method: http::Method,
        path: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let mut uri = format!("{}{}", self.target.base_path, path);
        if uri.is_empty() {
            uri.push('/');
        }
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::HOST, self.target.authority());
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.sender
            .ready()
            .await
            .map_err(|e| ClientError::Protocol(format!("connection closed: {e}")))?;
        self.sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Protocol(format!("request failed: {e}")))
    }

    /// Sends a request and returns the status and the body as a stream (for server-sent events).
    pub async fn open(
        &mut self,
        method: http::Method,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<(StatusCode, hyper::body::Incoming), ClientError> {
        let response = self.request(method, path, headers, Bytes::new()).await?;
        Ok((response.status(), response.into_body()))
    }

    /// Sends one request to `path` (appended to the base path) and reads the whole response.
    pub async fn send(
        &mut self,
        method: http::Method,
        path: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), ClientError> {
        let response = self.request(method, path, headers, body).await?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| ClientError::Protocol(format!("reading the response failed: {e}")))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }
}
