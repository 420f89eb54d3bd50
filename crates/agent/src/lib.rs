//! inkan-agent: the device side. An EST client (RFC 7030) over rustls with keep-alive
//! connections, a local forwarding proxy that adds the device's TLS client certificate, and (with
//! the `tpm` feature) a TPM 2.0 key backend with TPM-attested enrollment.
#![warn(missing_docs)]

mod error;
mod est_client;
mod https;
mod proxy;
#[cfg(feature = "tpm")]
pub mod tpm;

pub use error::AgentError;
pub use est_client::{EstClient, EstCredentials};
pub use https::{client_tls_config, client_tls_config_with_resolver, HttpConnection, HttpTarget};
pub use proxy::{serve_proxy, ForwardProxy};
