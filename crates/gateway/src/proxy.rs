//! The gateway: its state (swappable on reload), its routers, and the entry of every request
//! (host, route, access log); [`crate::forward`] does the rest.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Request};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use inkan_http::PeerCertificates;

use crate::assertion::AssertionSigner;
use crate::auth::{Authenticators, Connection};
use crate::cards::CardLogins;
use crate::error::GatewayError;
use crate::forward::{forward, Forwarded};
use crate::headers::{host_name, request_host, AddressRanges};
use crate::identity::IdentityVerifier;
use crate::metrics::Metrics;
use crate::routes::{find, Route};
use crate::{GatewayConfig, RevokedSet};

/// What a configuration reload replaces: routes (with their upstream pools), the
/// authenticators with their trusted CAs, and the trusted proxies.
pub(crate) struct Routing {
    pub(crate) routes: Vec<Route>,
    pub(crate) authenticators: Authenticators,
    pub(crate) trusted_proxies: AddressRanges,
}

impl Routing {
    fn new(
        config: &GatewayConfig,
        revoked: Arc<RevokedSet>,
        cards: Option<Arc<CardLogins>>,
    ) -> Result<Self, GatewayError> {
        let verifier = IdentityVerifier::from_files(&config.client_ca, config.policy_arc.clone())?;
        Ok(Self {
            routes: config.routes.iter().cloned().map(Route::new).collect(),
            authenticators: Authenticators::new(verifier, revoked, cards),
            trusted_proxies: AddressRanges::parse(&config.trusted_proxies)
                .map_err(GatewayError::Config)?,
        })
    }
}

/// The gateway's state: routing (swappable), revocation set, upstream client, metrics.
pub struct Gateway {
    routing: RwLock<Arc<Routing>>,
    revoked: Arc<RevokedSet>,
    cards: Option<Arc<CardLogins>>,
    pub(crate) client: Client<HttpsConnector<HttpConnector>, Body>,
    pub(crate) metrics: Metrics,
    pub(crate) assertion: Option<AssertionSigner>,
    body_timeout: Duration,
}

impl Gateway {
    /// Builds the gateway from its configuration and a revocation set; `cards` checks the
    /// logins of `auth = ["card"]` routes (needed when the configuration has such routes).
    pub fn new(
        config: &GatewayConfig,
        revoked: Arc<RevokedSet>,
        cards: Option<CardLogins>,
    ) -> Result<Self, GatewayError> {
        let cards = cards.map(Arc::new);
        if config.cards.is_some() && cards.is_none() {
            return Err(GatewayError::Config(
                "[cards] is configured but its segments were not opened".into(),
            ));
        }
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
            routing: RwLock::new(Arc::new(Routing::new(
                config,
                revoked.clone(),
                cards.clone(),
            )?)),
            revoked,
            cards,
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .build(connector),
            metrics: Metrics::default(),
            body_timeout: config.limits.body_timeout,
            assertion: match &config.assertion_key {
                Some(path) => {
                    let pem =
                        std::fs::read_to_string(path).map_err(|e| GatewayError::file(path, e))?;
                    let key = inkan_pki::GeneratedKey::from_pem(&pem, None)
                        .map_err(|e| GatewayError::file(path, e))?;
                    Some(
                        AssertionSigner::from_pkcs8(key.pkcs8_der())
                            .map_err(|e| GatewayError::file(path, e))?,
                    )
                }
                None => None,
            },
        })
    }

    /// Swaps in the routes and client CAs of a new configuration; requests in flight finish on
    /// the old ones, open connections stay open. On error nothing changes.
    pub fn reload(&self, config: &GatewayConfig) -> Result<(), GatewayError> {
        if config.cards.is_some() && self.cards.is_none() {
            return Err(GatewayError::Config(
                "[cards] cannot be added on reload: restart the gateway".into(),
            ));
        }
        let routing = Arc::new(Routing::new(
            config,
            self.revoked.clone(),
            self.cards.clone(),
        )?);
        let mut current = self.routing.write().map_err(|_| GatewayError::Poisoned)?;
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
fn upstream_tls(config: &GatewayConfig) -> Result<rustls::ClientConfig, GatewayError> {
    let files = if config.upstream_ca.is_empty() {
        &config.client_ca
    } else {
        &config.upstream_ca
    };
    let mut roots = rustls::RootCertStore::empty();
    for file in files {
        let pem = std::fs::read(file).map_err(|e| GatewayError::file(file, e))?;
        for der in inkan_pki::certs_from_pem(&pem).map_err(|e| GatewayError::file(file, e))? {
            roots
                .add(der.into())
                .map_err(|e| GatewayError::file(file, e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Tls(e.to_string()))?
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

async fn handle(
    State(gw): State<Arc<Gateway>>,
    Extension(peer): Extension<PeerCertificates>,
    ConnectInfo(client_addr): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let connection = Connection {
        peer: &peer,
        client: client_addr,
    };
    let (outcome, route, host) = match request_host(request.headers(), request.uri()) {
        Ok(host) => {
            let host = host.unwrap_or_default();
            let (outcome, route) = route_request(&gw, &connection, &host, request).await;
            (outcome, route, host)
        }
        Err(e) => (refused(GatewayError::Host(e)), None, String::new()),
    };
    let Forwarded {
        response,
        identity,
        upstream,
    } = outcome;
    let status = response.status();
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
        bytes = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("-"),
        ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    response
}

fn refused(error: GatewayError) -> Forwarded {
    Forwarded {
        response: error.into_response(),
        identity: None,
        upstream: None,
    }
}

/// Routes a request; also names the route matched (for metrics).
async fn route_request(
    gw: &Gateway,
    connection: &Connection<'_>,
    host: &str,
    request: Request<Body>,
) -> (Forwarded, Option<String>) {
    let Some(routing) = gw.routing() else {
        return (refused(GatewayError::RoutingUnavailable), None);
    };
    if let (Some(cards), true) = (
        &gw.cards,
        request.uri().path().starts_with(crate::cards::PREFIX),
    ) {
        let response = cards
            .handle(
                gw,
                &routing.routes,
                host_name(host),
                connection.client.ip(),
                request,
            )
            .await;
        return (
            Forwarded {
                response,
                identity: None,
                upstream: None,
            },
            Some(crate::cards::PREFIX.to_string()),
        );
    }
    let Some(route) = find(&routing.routes, host_name(host), request.uri().path()) else {
        return (refused(GatewayError::NoRoute), None);
    };
    let name = Some(route.config.path.clone());
    let forwarded = forward(gw, &routing, route, connection, host, request).await;
    (forwarded, name)
}
