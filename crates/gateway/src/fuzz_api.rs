//! Entry points for the fuzz targets in `fuzz/`: what the gateway does with client-sent headers
//! before forwarding. Not a stable API; nothing else uses it.

use std::net::SocketAddr;

use axum::http::{HeaderMap, Uri};

pub use crate::identity::ClientIdentity;
use crate::routes::{find, Route};
use crate::RouteConfig;

/// Hop-by-hop headers, never forwarded.
pub const HOP_BY_HOP: [&str; 8] = crate::headers::HOP_BY_HOP;

/// Rewrites a client's headers as forwarding does for a client that is no trusted proxy.
pub fn prepare_headers(
    headers: &mut HeaderMap,
    identity: Option<&ClientIdentity>,
    client: SocketAddr,
) {
    let forwarding = crate::headers::Forwarding {
        client: client.ip(),
        host: None,
        from_trusted_proxy: false,
    };
    crate::headers::prepare_headers(headers, identity, &forwarding);
}

/// The host name a request is routed by (without its port); empty when the request is refused
/// for its host (two `Host` headers, or one contradicting the target).
pub fn request_host(headers: &HeaderMap, uri: &Uri) -> String {
    crate::headers::request_host(headers, uri)
        .ok()
        .flatten()
        .map(|host| crate::headers::host_name(&host).to_string())
        .unwrap_or_default()
}

/// A route table to match requests against.
pub struct RouteTable(Vec<Route>);

impl RouteTable {
    /// Routes from their configurations.
    pub fn new(configs: Vec<RouteConfig>) -> Self {
        Self(configs.into_iter().map(Route::new).collect())
    }

    /// The path prefix of the route a host and path select, if any.
    pub fn find(&self, host: &str, path: &str) -> Option<String> {
        find(&self.0, host, path).map(|r| r.config.path.clone())
    }
}

#[cfg(test)]
mod tests;
