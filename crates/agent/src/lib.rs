//! inkan-agent: the device side. Today: an EST client (RFC 7030) over rustls with keep-alive
//! connections; key backends, renewal and the key service build on it.
#![warn(missing_docs)]

mod error;
mod est_client;
mod https;

pub use error::AgentError;
pub use est_client::{EstClient, EstCredentials};
pub use https::{client_tls_config, HttpConnection, HttpTarget};
