//! A local forwarding proxy: plain HTTP in (for applications that cannot do mTLS, or should not
//! see the key), forwarded over TLS with the device's client certificate to one upstream.
//! Bodies stream in both directions; upstream connections are pooled and kept alive.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, HOST};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use inkan_client::HttpTarget;
use rustls::ClientConfig;
use tokio::net::TcpListener;

use crate::AgentError;

/// Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Forwards requests to one `https://` upstream with a TLS client configuration (which carries
/// the client certificate and key, e.g. a TPM key).
pub struct ForwardProxy {
    upstream: HttpTarget,
    client: Client<HttpsConnector<HttpConnector>, Incoming>,
}

impl ForwardProxy {
    /// A proxy to `upstream` (`https://HOST:PORT[/BASE]`) using `tls`.
    pub fn new(upstream: &str, tls: Arc<ClientConfig>) -> Result<Self, AgentError> {
        let target = HttpTarget::parse(upstream)?;
        if !target.secure {
            return Err(AgentError::Url(format!(
                "{upstream} (the upstream must be https://)"
            )));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        connector.enforce_http(false);
        // hyper-rustls sets ALPN itself (and refuses a configuration that already has it).
        let mut tls = (*tls).clone();
        tls.alpn_protocols.clear();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(connector);
        Ok(Self {
            upstream: target,
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .build(connector),
        })
    }

    /// Forwards one request; answers 502 when the upstream cannot be reached.
    pub async fn forward(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        match self.try_forward(request).await {
            Ok(response) => response,
            Err(reason) => {
                tracing::warn!("upstream {}: {reason}", self.upstream_authority());
                text(
                    StatusCode::BAD_GATEWAY,
                    &format!(
                        "inkan agent proxy: upstream {} failed: {reason}\n",
                        self.upstream_authority()
                    ),
                )
            }
        }
    }

    async fn try_forward(&self, request: Request<Incoming>) -> Result<Response<ProxyBody>, String> {
        let (mut parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri: Uri = format!(
            "https://{}{}{}",
            self.upstream_authority(),
            self.upstream.base_path,
            path
        )
        .parse()
        .map_err(|e| format!("bad request target: {e}"))?;
        parts.uri = uri;
        // Each hop has its own HTTP version: the upstream hop is always ours, HTTP/1.1.
        parts.version = http::Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        let host = HeaderValue::from_str(&self.upstream_authority()).map_err(|e| e.to_string())?;
        parts.headers.insert(HOST, host);
        let response = self
            .client
            .request(Request::from_parts(parts, body))
            .await
            .map_err(|e| describe_client_error(&e))?;
        let (mut parts, body) = response.into_parts();
        // An HTTP/1.0 upstream must not turn the client's keep-alive connection into 1.0.
        parts.version = http::Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, body.boxed()))
    }

    fn upstream_authority(&self) -> String {
        if self.upstream.host.contains(':') {
            format!("[{}]:{}", self.upstream.host, self.upstream.port)
        } else {
            format!("{}:{}", self.upstream.host, self.upstream.port)
        }
    }
}

/// Serves `proxy` on `listener` (HTTP/1.1 with keep-alive) until `shutdown` completes; open
/// connections finish their current request.
pub async fn serve_proxy(
    listener: TcpListener,
    proxy: Arc<ForwardProxy>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let proxy = proxy.clone();
                let service = hyper::service::service_fn(move |request| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, std::convert::Infallible>(proxy.forward(request).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("client connection: {e}");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {}
    }
    Ok(())
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

fn text(status: StatusCode, body: &str) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The innermost cause of a client error (the TLS alert or connect error, not "client error").
fn describe_client_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        message = inner.to_string();
        source = inner.source();
    }
    message
}
