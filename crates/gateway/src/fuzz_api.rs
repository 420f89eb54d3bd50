//! Entry points for the fuzz targets in `fuzz/`: what the gateway does with client-sent headers
//! before forwarding. Not a stable API; nothing else uses it.

use std::net::SocketAddr;

use axum::http::{HeaderMap, Uri};

pub use crate::identity::ClientIdentity;
use crate::routes::{find, Route};
use crate::RouteConfig;

/// Hop-by-hop headers, never forwarded.
pub const HOP_BY_HOP: [&str; 8] = crate::proxy::HOP_BY_HOP;

/// Strips hop-by-hop and client-sent `X-Inkan-*` headers and adds `identity`'s, as forwarding does.
pub fn prepare_headers(
    headers: &mut HeaderMap,
    identity: Option<&ClientIdentity>,
    client: SocketAddr,
) {
    crate::proxy::prepare_headers(headers, identity, client);
}

/// The host a request names, as routing sees it.
pub fn request_host(headers: &HeaderMap, uri: &Uri) -> String {
    crate::proxy::request_host(headers, uri)
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
