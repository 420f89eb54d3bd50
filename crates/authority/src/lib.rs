//! inkan-authority: the issuance pipeline and everything around it that is not HTTP.
//!
//! Every enrollment method ends in [`Authority::issue`]: a CSR plus verified evidence goes
//! through the one authorization decision ([`decide`]: which profile, names and level this
//! evidence may have), is signed by the issuing CA, recorded durably (group commit) with its
//! audit event, and only then returned.
#![warn(missing_docs)]

mod audit_check;
mod bootstrap;
mod card_login;
mod committer;
mod config;
mod credentials;
mod crl_publisher;
mod data_dir;
mod delegation;
mod device_page;
mod error;
mod est_secret;
mod issuer;
mod linking;
mod metrics;
mod ocsp_service;
mod pipeline;
mod policy;
mod registrar;
mod registry;
mod rejection;
mod revocation;
mod revocation_feed;
mod rules;
mod sealing;
mod segments;
mod server_identity;
mod tee;
mod tpm;

pub use audit_check::{verify_audit, AuditReport};
pub use bootstrap::{NewProduct, ProductParams, Registrant, PSK_WINDOW_SECS};
pub use card_login::{CardLoginAttempt, CardLoginError, CardSession, LockAlert, ADDRESS_LOCK};
pub use config::{
    Config, DeviceIssuerConfig, EstConfig, EstLabel, HttpListen, PkiConfig, RevocationConfig,
    ServerConfig, TpmConfig, DEFAULT_HTTP_PORT,
};
pub use credentials::{Credentials, CONSOLE_LINK};
pub use crl_publisher::{CrlPublisher, RootCrl};
pub use data_dir::{
    replace_file, CaInitOptions, CaPaths, DataDir, RootCrlState, ROOT_CRL_VALIDITY,
};
pub use delegation::{DelegationRequest, MAX_DELEGATED_APPROVALS, MAX_DELEGATION};
pub use device_page::{BadCursor, DevicePage, PageCursor};
pub use error::AuthorityError;
pub use est_secret::{generate_secret, hash_secret, SecretVerifier};
pub use issuer::{DeviceCertRequest, InProcessIssuer, IssuedDeviceCert, Issuer};
pub use linking::{
    AccountDetails, AccountRegistry, LinkPreview, LinkRefusal, LinkStart, LoginStarted,
    LoginStatus, PresentedKey, LINK_TTL, LOGIN_TTL, MAX_OPEN_LINK_REQUESTS, MAX_OPEN_LOGINS,
    SIGNATURE_SKEW_SECS,
};
pub use metrics::{Gauges, Metrics};
pub use ocsp_service::OcspService;
pub use pipeline::{Authority, IssueRequest, Issued};
pub use policy::{
    decide, is_inkan_identifier, read_identity, reserved_profile, DeputyApproval, EnrollMethod,
    Grant, LinkedLogin, PolicyInput, PresentedCert, Refusal, ADMIN_MAX_LEVEL, IDENTITY_FIELDS,
    INKAN_URN, SHARED_SECRET_MAX_LEVEL, TPM_MAX_LEVEL,
};
pub use registry::Registry;
pub use rejection::Rejection;
pub use revocation::revoke;
pub use revocation_feed::RevocationFeed;
pub use rules::{admit_device, cascade_to};
pub use sealing::SealingKey;
pub use segments::{IssuedPin, SegmentSettings, Segments, DEFAULT_LIFETIME as SEGMENT_LIFETIME};
pub use server_identity::ServerIdentity;
pub use tee::{
    parse_ek_public, LocationVerdict, NewTaProfile, RegisteredTeeDevice, TaUpdate,
    TeeEnrollRequest, TeeEnrolled, TeeQuery, TeeRefusal, TeeRegistry, TpmKeyOffer,
};
pub use tpm::{
    open_delivery, Delivery, TpmActivationRequest, TpmActivationResponse, TpmEnrollRequest,
    TpmEnrolled, TpmTrust,
};

/// Milliseconds since the Unix epoch for `t`.
pub fn unix_ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
