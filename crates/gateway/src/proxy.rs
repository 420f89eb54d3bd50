//! The request path: route, identity, requirements, revocation, headers, upstream.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderName, HeaderValue, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use http_body_util::{BodyExt, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use inkan_http::PeerCertificates;
use time::OffsetDateTime;

use crate::assertion::AssertionSigner;
use crate::headers::{
    host_name, is_idempotent, prepare_headers, request_host, AddressRanges, Forwarding, HOP_BY_HOP,
};
use crate::identity::{ClientIdentity, IdentityVerifier};
use crate::metrics::Metrics;
use crate::routes::{find, Route};
use crate::{ClientCertMode, GatewayConfig, RevokedSet};

/// Request bodies are buffered up to this size, so a request can be retried on another upstream.
const MAX_BODY: usize = 8 * 1024 * 1024;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// What a configuration reload replaces: routes (with their upstream pools) and trusted CAs.
struct Routing {
    routes: Vec<Route>,
    verifier: IdentityVerifier,
    trusted_proxies: AddressRanges,
}

impl Routing {
    fn new(config: &GatewayConfig) -> Result<Self, String> {
        Ok(Self {
            routes: config.routes.iter().cloned().map(Route::new).collect(),
            verifier: IdentityVerifier::from_files(&config.client_ca, config.policy_arc.clone())?,
            trusted_proxies: AddressRanges::parse(&config.trusted_proxies)?,
        })
    }
}

/// The gateway's state: routing (swappable), revocation set, upstream client, metrics.
pub struct Gateway {
    routing: RwLock<Arc<Routing>>,
    revoked: Arc<RevokedSet>,
    client: Client<HttpsConnector<HttpConnector>, Body>,
    metrics: Metrics,
    assertion: Option<AssertionSigner>,
    body_timeout: Duration,
}

impl Gateway {
    /// Builds the gateway from its configuration and a revocation set.
    pub fn new(config: &GatewayConfig, revoked: Arc<RevokedSet>) -> Result<Self, String> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(upstream_tls(config)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        Ok(Self {
            routing: RwLock::new(Arc::new(Routing::new(config)?)),
            revoked,
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .build(connector),
            metrics: Metrics::default(),
            body_timeout: config.limits.body_timeout,
            assertion: match &config.assertion_key {
                Some(path) => {
                    let pem = std::fs::read_to_string(path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    let key = inkan_pki::GeneratedKey::from_pem(&pem, None)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    Some(AssertionSigner::from_pkcs8(key.pkcs8_der())?)
                }
                None => None,
            },
        })
    }

    /// Swaps in the routes and client CAs of a new configuration; requests in flight finish on
    /// the old ones, open connections stay open. On error nothing changes.
    pub fn reload(&self, config: &GatewayConfig) -> Result<(), String> {
        let routing = Arc::new(Routing::new(config)?);
        let mut current = self
            .routing
            .write()
            .map_err(|_| "routing lock poisoned".to_string())?;
        *current = routing;
        Ok(())
    }

    /// Prometheus text for `/metrics`.
    pub fn metrics_text(&self) -> String {
        self.metrics
            .render(self.revoked.len(), self.revoked.feed_age_seconds())
    }

    fn routing(&self) -> Option<Arc<Routing>> {
        self.routing.read().ok().map(|r| r.clone())
    }
}

/// TLS for `https://` upstreams: the configured anchors, else the client CA roots.
fn upstream_tls(config: &GatewayConfig) -> Result<rustls::ClientConfig, String> {
    let files = if config.upstream_ca.is_empty() {
        &config.client_ca
    } else {
        &config.upstream_ca
    };
    let mut roots = rustls::RootCertStore::empty();
    for file in files {
        let pem = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for der in
            inkan_pki::certs_from_pem(&pem).map_err(|e| format!("{}: {e}", file.display()))?
        {
            roots
                .add(der.into())
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The admin router: Prometheus text at `/metrics`.
pub fn metrics_router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(|State(gw): State<Arc<Gateway>>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    gw.metrics_text(),
                )
            }),
        )
        .with_state(gateway)
}

/// The gateway as an axum router: every request goes through [`handle`].
pub fn gateway_router(gateway: Arc<Gateway>) -> Router {
    let body_timeout = gateway.body_timeout;
    Router::new()
        .fallback(handle)
        .layer(axum::middleware::from_fn_with_state(
            body_timeout,
            inkan_http::body_deadline::enforce,
        ))
        .with_state(gateway)
}

/// Why a request is not forwarded: a status and a short reason for the client.
struct Refusal(StatusCode, String);

impl Refusal {
    fn new(status: StatusCode, message: &str) -> Self {
        Self(status, message.to_string())
    }

    fn into_response(self) -> Response {
        refuse(self.0, &self.1)
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

async fn handle(
    State(gw): State<Arc<Gateway>>,
    Extension(peer): Extension<PeerCertificates>,
    ConnectInfo(client_addr): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let (outcome, identity, upstream, route, host) =
        match request_host(request.headers(), request.uri()) {
            Ok(host) => {
                let host = host.unwrap_or_default();
                let (outcome, identity, upstream, route) =
                    route_request(&gw, &peer, client_addr, &host, request).await;
                (outcome, identity, upstream, route, host)
            }
            Err(e) => {
                let refused = refuse(StatusCode::BAD_REQUEST, &e.to_string());
                (refused, None, None, None, String::new())
            }
        };
    let status = outcome.status();
    gw.metrics.record(
        route.as_deref().unwrap_or("-"),
        status.as_u16(),
        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
    );
    tracing::info!(
        target: "inkan::access",
        client = %client_addr,
        subject = identity.as_ref().map_or("-", |i| i.subject.as_str()),
        serial = identity.as_ref().map_or("-", |i| i.serial.as_str()),
        %method,
        host,
        path,
        upstream = upstream.as_deref().unwrap_or("-"),
        status = status.as_u16(),
        bytes = outcome.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("-"),
        ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    outcome
}

type Outcome = (
    Response,
    Option<Arc<ClientIdentity>>,
    Option<String>,
    Option<String>,
);

/// Routes a request; also names the route matched (for metrics).
async fn route_request(
    gw: &Gateway,
    peer: &PeerCertificates,
    client_addr: SocketAddr,
    host: &str,
    request: Request<Body>,
) -> Outcome {
    let Some(routing) = gw.routing() else {
        let refused = refuse(StatusCode::INTERNAL_SERVER_ERROR, "routing unavailable");
        return (refused, None, None, None);
    };
    let Some(route) = find(&routing.routes, host_name(host), request.uri().path()) else {
        let refused = refuse(StatusCode::NOT_FOUND, "no route for this host and path");
        return (refused, None, None, None);
    };
    let name = Some(route.config.path.clone());
    let (response, identity, upstream) =
        forward(gw, &routing, route, peer, (client_addr, host), request).await;
    (response, identity, upstream, name)
}

/// Checks the client against the route and forwards to one of its upstreams.
async fn forward(
    gw: &Gateway,
    routing: &Routing,
    route: &Route,
    peer: &PeerCertificates,
    (client_addr, host): (SocketAddr, &str),
    request: Request<Body>,
) -> (Response, Option<Arc<ClientIdentity>>, Option<String>) {
    let identity = match check_identity(gw, routing, route, peer) {
        Ok(identity) => identity,
        Err(refusal) => return (refusal.into_response(), None, None),
    };
    if let Err(refusal) = check_requirements(route, identity.as_deref()) {
        return (refusal.into_response(), identity, None);
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if inkan_http::body_deadline::is_timeout(&*e) => {
            let refused = refuse(StatusCode::REQUEST_TIMEOUT, &e.to_string());
            return (refused, identity, None);
        }
        Err(_) => {
            return (
                refuse(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
                identity,
                None,
            )
        }
    };
    let mut headers = parts.headers.clone();
    let forwarding = Forwarding {
        client: client_addr.ip(),
        host: (!host.is_empty()).then_some(host),
        from_trusted_proxy: routing.trusted_proxies.contains(client_addr.ip()),
    };
    prepare_headers(&mut headers, identity.as_deref(), &forwarding);
    if let (Some(signer), Some(id)) = (&gw.assertion, identity.as_deref()) {
        let audience = host;
        if let Some(jws) = signer
            .sign(id, audience, OffsetDateTime::now_utc().unix_timestamp())
            .and_then(|j| HeaderValue::from_str(&j).ok())
        {
            headers.insert(HeaderName::from_static("x-inkan-assertion"), jws);
        }
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    for index in route.upstream_order() {
        let upstream = &route.config.upstreams[index];
        let Ok(uri) =
            format!("{}{}", upstream.trim_end_matches('/'), path_and_query).parse::<Uri>()
        else {
            return (
                refuse(StatusCode::BAD_REQUEST, "malformed request target"),
                identity,
                None,
            );
        };
        let mut forwarded = Request::builder()
            .method(parts.method.clone())
            .uri(uri)
            .version(http::Version::HTTP_11)
            .body(Body::from(body.clone()))
            .unwrap_or_default();
        *forwarded.headers_mut() = headers.clone();
        match tokio::time::timeout(UPSTREAM_TIMEOUT, gw.client.request(forwarded)).await {
            Ok(Ok(response)) => {
                route.mark_up(index);
                let (mut parts, body) = response.into_parts();
                for name in HOP_BY_HOP {
                    parts.headers.remove(name);
                }
                return (
                    Response::from_parts(parts, Body::new(body)),
                    identity,
                    Some(upstream.clone()),
                );
            }
            Ok(Err(e)) => {
                gw.metrics.upstream_failed();
                route.mark_down(index);
                // A request that may have reached the upstream is sent again only if
                // repeating it is harmless.
                if !e.is_connect() && !is_idempotent(&parts.method) {
                    tracing::warn!(upstream, error = %e, "upstream failed after the request was sent; not retrying a {} request", parts.method);
                    let refused = refuse(StatusCode::BAD_GATEWAY, "the upstream failed");
                    return (refused, identity, Some(upstream.clone()));
                }
                tracing::warn!(upstream, error = %e, "upstream failed; trying the next one");
            }
            Err(_) => {
                gw.metrics.upstream_failed();
                route.mark_down(index);
                if !is_idempotent(&parts.method) {
                    tracing::warn!(
                        upstream,
                        "upstream timed out; not retrying a {} request",
                        parts.method
                    );
                    let refused = refuse(StatusCode::GATEWAY_TIMEOUT, "the upstream timed out");
                    return (refused, identity, Some(upstream.clone()));
                }
                tracing::warn!(upstream, "upstream timed out; trying the next one");
            }
        }
    }
    (
        refuse(
            StatusCode::BAD_GATEWAY,
            "no upstream of this route is reachable",
        ),
        identity,
        None,
    )
}

/// The verified client, if the route looks at certificates; a refusal otherwise.
fn check_identity(
    gw: &Gateway,
    routing: &Routing,
    route: &Route,
    peer: &PeerCertificates,
) -> Result<Option<Arc<ClientIdentity>>, Refusal> {
    let mode = route.config.client_cert;
    if mode == ClientCertMode::Off {
        return Ok(None);
    }
    if peer.0.is_empty() {
        return if mode == ClientCertMode::Required {
            Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "this route needs a client certificate from a trusted CA",
            ))
        } else {
            Ok(None)
        };
    }
    let identity = routing
        .verifier
        .verify(&peer.0, OffsetDateTime::now_utc())
        .map_err(|why| {
            Refusal::new(
                StatusCode::UNAUTHORIZED,
                &format!("client certificate not accepted: {why}"),
            )
        })?;
    if gw.revoked.is_stale() {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "revocation status is unknown (the authority's feed is unreachable); try again later",
        ));
    }
    if gw.revoked.is_revoked(&identity.serial) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "the client certificate has been revoked",
        ));
    }
    Ok(Some(identity))
}

fn check_requirements(route: &Route, identity: Option<&ClientIdentity>) -> Result<(), Refusal> {
    let config = &route.config;
    let needs_identity = config.min_level.is_some()
        || !config.allow_subjects.is_empty()
        || !config.allow_serials.is_empty()
        || !config.allow_products.is_empty()
        || !config.allow_devices.is_empty();
    let Some(identity) = identity else {
        return if needs_identity {
            Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "this route needs a client certificate",
            ))
        } else {
            Ok(())
        };
    };
    if let Some(min) = config.min_level {
        let level = identity.level.unwrap_or(0);
        if level < min {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                &format!("assurance level {level} is below this route's minimum of {min}"),
            ));
        }
    }
    if !config.allow_subjects.is_empty() && !config.allow_subjects.contains(&identity.subject) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "this subject may not use this route",
        ));
    }
    if !config.allow_serials.is_empty()
        && !config
            .allow_serials
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&identity.serial))
    {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "this certificate may not use this route",
        ));
    }
    let listed = |allowed: &[String], value: &Option<String>| {
        allowed.is_empty()
            || value
                .as_ref()
                .is_some_and(|v| allowed.iter().any(|a| a == v))
    };
    if !listed(&config.allow_products, &identity.product) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "devices of this product may not use this route",
        ));
    }
    if !listed(&config.allow_devices, &identity.device) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "this device may not use this route",
        ));
    }
    Ok(())
}
