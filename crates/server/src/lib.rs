//! inkan-server: the authority's HTTPS surface (EST today; `/v1`, OCSP and CRL build on it).
//!
//! [`serve`] runs the accept loop on a listener the caller bound (so tests can use port 0),
//! terminates TLS with rustls, and drains connections when `shutdown` resolves.
#![warn(missing_docs)]

mod admin_auth;
mod api;
mod body_refusal;
mod client_cert;
mod console;
mod eat_api;
mod error_table;
mod est;
mod est_error;
mod est_issuer;
#[doc(hidden)]
pub mod fuzz_api;
mod link_api;
mod openapi;
mod problem;
mod query;
mod registry_api;
mod revocation_routes;
mod routes;
mod tee_api;
mod tls;
mod tpm_api;
mod v1_errors;

pub use axum::Router;
pub use client_cert::{PeerCertificates, VerifiedClient};
pub use est_issuer::EstIssuer;
pub use inkan_http::{serve, serve_plain, ConnectionLimits};
pub use routes::{admin_router, plain_router, router};
pub use tls::server_tls_config;
