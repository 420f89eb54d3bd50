//! inkan-client: the client side of inkan's protocols, shared by the device agent, the
//! authority's EST issuer and the gateway's revocation feed follower. One keep-alive HTTP/1.1
//! connection over rustls ([`HttpConnection`]), client TLS configurations
//! ([`client_tls_config`]) and an EST client (RFC 7030, [`EstClient`]).
//!
//! ```
//! use inkan_client::HttpTarget;
//! let target = HttpTarget::parse("https://ca.example:8443/base/").unwrap();
//! assert_eq!((target.host.as_str(), target.port, target.base_path.as_str()), ("ca.example", 8443, "/base"));
//! // Only http:// and https:// URLs are targets.
//! assert!(HttpTarget::parse("ftp://ca.example").is_err());
//! ```
#![warn(missing_docs)]

mod error;
mod est_client;
mod https;

pub use error::ClientError;
pub use est_client::{EstClient, EstCredentials};
pub use https::{client_tls_config, client_tls_config_with_resolver, HttpConnection, HttpTarget};
