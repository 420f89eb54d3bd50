//! inkan-gateway: an authenticating reverse proxy. It terminates TLS, verifies client
//! certificates against the configured CAs, checks them against a live revocation set on every
//! request, enforces each route's requirements and forwards the verified identity to upstreams
//! in `X-Inkan-*` headers (after removing any a client sent).
#![warn(missing_docs)]

mod assertion;
mod auth;
mod cards;
mod config;
mod error;
mod failover;
mod forward;
#[doc(hidden)]
pub mod fuzz_api;
mod headers;
mod identity;
mod metrics;
mod policy;
mod proxy;
mod response;
mod revocation;
mod routes;

pub use cards::CardLogins;
pub use config::{
    AuthMethod, CardsConfig, ClientCertMode, GatewayConfig, RouteConfig, TlsFromAuthority,
};
pub use error::{AuthRefusal, GatewayError, Unmet};
pub use headers::HostError;
pub use identity::{CardIdentity, ClientIdentity};
pub use proxy::{gateway_router, metrics_router, Gateway};
pub use revocation::RevokedSet;
