//! Forwarding one request: authenticate the client for the route, check its requirements,
//! buffer the body, rewrite the headers, then hand it to [`crate::failover`].

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use time::OffsetDateTime;

use crate::auth::{Connection, Target};
use crate::error::{AuthRefusal, GatewayError};
use crate::failover::{send, Outgoing};
use crate::headers::{prepare_headers, Forwarding};
use crate::identity::ClientIdentity;
use crate::policy::{check_identity, check_requirements};
use crate::proxy::{Gateway, Routing};
use crate::routes::Route;
use crate::AuthMethod;

/// Request bodies are buffered up to this size, so a request can be retried on another upstream.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// A request's outcome, with what the access log names.
pub(crate) struct Forwarded {
    /// The answer for the client.
    pub(crate) response: Response,
    /// The verified client, if any.
    pub(crate) identity: Option<Arc<ClientIdentity>>,
    /// The upstream that answered (or failed last), if one was tried.
    pub(crate) upstream: Option<String>,
}

impl Forwarded {
    fn refused(error: GatewayError, identity: Option<Arc<ClientIdentity>>) -> Self {
        Self {
            response: error.into_response(),
            identity,
            upstream: None,
        }
    }
}

/// Checks the client against the route and forwards to one of its upstreams.
pub(crate) async fn forward(
    gw: &Gateway,
    routing: &Routing,
    route: &Route,
    connection: &Connection<'_>,
    host: &str,
    request: Request<Body>,
) -> Forwarded {
    let (parts, body) = request.into_parts();
    let now = OffsetDateTime::now_utc();
    let config = &route.config;
    let target = Target {
        request: &parts,
        route: config,
    };
    let found = match config.client_cert {
        crate::ClientCertMode::Off => crate::auth::Credential::Absent,
        _ => routing
            .authenticators
            .authenticate(&target, connection, now),
    };
    let identity = match check_identity(config.client_cert, found) {
        Ok(identity) => identity,
        Err(AuthRefusal::NoCertificate) if config.auth.contains(&AuthMethod::Card) => {
            let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            return Forwarded {
                response: crate::cards::login_needed(&parts.method, target),
                identity: None,
                upstream: None,
            };
        }
        Err(refusal) => return Forwarded::refused(refusal.into(), None),
    };
    if let Err(unmet) = check_requirements(config, identity.as_deref()) {
        return Forwarded::refused(unmet.into(), identity);
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if inkan_http::body_deadline::is_timeout(&*e) => {
            return Forwarded::refused(GatewayError::BodyTimeout(e.to_string()), identity);
        }
        Err(_) => return Forwarded::refused(GatewayError::BodyTooLarge, identity),
    };
    let mut headers = parts.headers.clone();
    let forwarding = Forwarding {
        client: connection.client.ip(),
        host: (!host.is_empty()).then_some(host),
        from_trusted_proxy: routing.trusted_proxies.contains(connection.client.ip()),
    };
    prepare_headers(&mut headers, identity.as_deref(), &forwarding);
    if let (Some(signer), Some(id)) = (&gw.assertion, identity.as_deref()) {
        let audience = host;
        if let Some(jws) = signer
            .sign(id, audience, now.unix_timestamp())
            .and_then(|j| HeaderValue::from_str(&j).ok())
        {
            headers.insert(HeaderName::from_static("x-inkan-assertion"), jws);
        }
    }
    let outgoing = Outgoing {
        method: &parts.method,
        path_and_query: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        headers: &headers,
        body: &body,
    };
    let (result, upstream) = send(gw, route, &outgoing).await;
    Forwarded {
        response: result.unwrap_or_else(IntoResponse::into_response),
        identity,
        upstream,
    }
}
