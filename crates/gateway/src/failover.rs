//! Failover: the route's upstreams in round-robin order, healthy ones first; a failing one is
//! skipped for a while and the request tried on the next, when repeating it is harmless.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, Uri};
use axum::response::Response;

use crate::error::GatewayError;
use crate::headers::is_idempotent;
use crate::proxy::Gateway;
use crate::response::from_upstream;
use crate::routes::Route;

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// A request ready for an upstream: its headers rewritten, its body buffered.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path_and_query: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a Bytes,
}

/// Sends the request to the route's upstreams until one answers; names the upstream that
/// answered or failed last.
pub(crate) async fn send(
    gw: &Gateway,
    route: &Route,
    request: &Outgoing<'_>,
) -> (Result<Response, GatewayError>, Option<String>) {
    let method = request.method;
    for index in route.upstream_order() {
        let upstream = &route.config.upstreams[index];
        let Ok(uri) = format!(
            "{}{}",
            upstream.trim_end_matches('/'),
            request.path_and_query
        )
        .parse::<Uri>() else {
            return (Err(GatewayError::MalformedTarget), None);
        };
        let mut forwarded = Request::builder()
            .method(method.clone())
            .uri(uri)
            .version(http::Version::HTTP_11)
            .body(Body::from(request.body.clone()))
            .unwrap_or_default();
        *forwarded.headers_mut() = request.headers.clone();
        match tokio::time::timeout(UPSTREAM_TIMEOUT, gw.client.request(forwarded)).await {
            Ok(Ok(response)) => {
                route.mark_up(index);
                return (Ok(from_upstream(response)), Some(upstream.clone()));
            }
            Ok(Err(e)) => {
                gw.metrics.upstream_failed();
                route.mark_down(index);
                // A request that may have reached the upstream is sent again only if
                // repeating it is harmless.
                if !e.is_connect() && !is_idempotent(method) {
                    tracing::warn!(upstream, error = %e, "upstream failed after the request was sent; not retrying a {method} request");
                    return (Err(GatewayError::UpstreamFailed), Some(upstream.clone()));
                }
                tracing::warn!(upstream, error = %e, "upstream failed; trying the next one");
            }
            Err(_) => {
                gw.metrics.upstream_failed();
                route.mark_down(index);
                if !is_idempotent(method) {
                    tracing::warn!(
                        upstream,
                        "upstream timed out; not retrying a {method} request"
                    );
                    return (Err(GatewayError::UpstreamTimeout), Some(upstream.clone()));
                }
                tracing::warn!(upstream, "upstream timed out; trying the next one");
            }
        }
    }
    (Err(GatewayError::NoUpstream), None)
}
