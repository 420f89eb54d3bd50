//! inkan-authority: the issuance pipeline and everything around it that is not HTTP.
//!
//! Every enrollment method ends in [`Authority::issue`]: a CSR plus verified evidence is checked
//! against its profile, signed by the issuing CA, recorded durably (group commit) with its audit
//! event, and only then returned.
#![warn(missing_docs)]

mod committer;
mod config;
mod crl_publisher;
mod data_dir;
mod error;
mod est_secret;
mod issuer;
mod ocsp_service;
mod pipeline;
mod registrar;
mod registry;
mod revocation_feed;
mod server_identity;
mod tpm;

pub use config::{
    Config, DeviceIssuerConfig, EstConfig, HttpListen, PkiConfig, RevocationConfig, ServerConfig,
    TpmConfig, DEFAULT_HTTP_PORT,
};
pub use crl_publisher::{CrlPublisher, RootCrl};
pub use data_dir::{
    replace_file, CaInitOptions, CaPaths, DataDir, RootCrlState, ROOT_CRL_VALIDITY,
};
pub use error::AuthorityError;
pub use est_secret::{generate_secret, hash_secret, SecretVerifier};
pub use issuer::{DeviceCertRequest, InProcessIssuer, IssuedDeviceCert, Issuer};
pub use ocsp_service::OcspService;
pub use pipeline::{Authority, EnrollMethod, IssueRequest, Issued, RenewalOf};
pub use registry::{enable_product_psk, psk_device_key, NewProduct, Registrant, PSK_WINDOW_SECS};
pub use revocation_feed::RevocationFeed;
pub use server_identity::ServerIdentity;
pub use tpm::{
    open_delivery, Delivery, TpmActivationRequest, TpmActivationResponse, TpmEnrollRequest,
    TpmEnrolled, TpmTrust,
};

/// Milliseconds since the Unix epoch for `t`.
pub fn unix_ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
