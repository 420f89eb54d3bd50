//! inkan-store: where the authority keeps what it must not lose.
//!
//! The store is split by aggregate: [`CertificateStore`] (issued certificates, issuers,
//! revocation, CRLs), [`RegistryStore`] (products, devices, PSK nonces, device certificates),
//! [`AuditStore`], [`SecretStore`] (EST secrets, admin tokens), [`TpmStore`] and [`TeeStore`]; [`Store`] is
//! all of them, and is what the rest of inkan holds (`Arc<dyn Store>`). Backends hold SQL and
//! locking only: the rules (the registration cap, which certificates a revocation cascades to)
//! are passed in by the caller and called inside the backend's transaction. Each backend owns
//! its migrations and runs them at open; [`open`] picks the backend from the URL scheme:
//! SQLite (one file, the embedded default) or PostgreSQL (several replicas on one database).
//! The audit chain's hashing and checking are pure functions in [`audit`].
//!
//! Adding an operation: one method in the aggregate's trait file, one implementation in each
//! backend's file of that aggregate (`sqlite/<aggregate>.rs`, `postgres/<aggregate>.rs`), one
//! case in [`conformance`].
#![warn(missing_docs)]

pub mod audit;
mod card_logins;
mod certificates;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod copy;
mod error;
mod link;
mod model;
mod options;
mod postgres;
mod registry;
mod rows;
mod secrets;
mod segments;
mod sqlite;
mod status;
mod tee;
mod tpm;

use std::sync::Arc;

pub use audit::{AuditBreak, AuditEvent, AuditStore, ChainVerifier, NewAuditEvent};
pub use card_logins::{
    address_subject, card_subject, AttemptLimits, AttemptRecord, CardLogin, CardLoginStore,
    FailureOutcome, LoginFailure, RegisteredCard, SegmentUser, LOCKED_UNTIL_UNLOCKED,
};
pub use certificates::{search_names, CascadeRule, CertificateStore, Enrolled, Revocation};
pub use copy::{copy_to_postgres, CopiedTable, CopyReport};
pub use error::StoreError;
pub use link::{
    Account, Anchor, ApprovalUse, Delegation, LinkOutcome, LinkRequest, LinkStore, LinkedDevice,
    Login,
};
pub use model::{
    CertificateQuery, CertificateRecord, CertificateStats, CrlRecord, DeviceCertificate,
    DeviceCursor, DeviceRecord, IssuedRef, IssuerRecord, NewCertificate, ProductRecord,
    RecordOutcome, RegisterOutcome, RevocationRecord, RevokeOutcome, RevokeResult, RevokedEntry,
};
pub use options::DatabaseOptions;
pub use postgres::PgStore;
pub use registry::{
    Admission, NewRegistration, RegistrationFacts, RegistrationRule, RegistryStore,
};
pub use secrets::{AdminTokenEntry, EstSecretEntry, SecretStore};
pub use segments::{RevokedCard, SaltGenerationRecord, SegmentRecord, SegmentStore};
pub use sqlite::SqliteStore;
pub use status::{CertificateStatus, DeviceStatus, ProductStatus};
pub use tee::{TaProfile, TeeAttestation, TeeChallenge, TeeDevice, TeeModel, TeeStore, TpmBinding};
pub use tpm::{TpmActivation, TpmAttestation, TpmStore};

/// Everything the authority persists: every aggregate's store. Implemented for every type that
/// implements them all.
pub trait Store:
    CertificateStore
    + RegistryStore
    + AuditStore
    + SecretStore
    + TpmStore
    + TeeStore
    + LinkStore
    + SegmentStore
    + CardLoginStore
{
}

impl<T> Store for T where
    T: CertificateStore
        + RegistryStore
        + AuditStore
        + SecretStore
        + TpmStore
        + TeeStore
        + LinkStore
        + SegmentStore
        + CardLoginStore
{
}

/// Opens the store named by `url`: `sqlite:PATH` (created if missing) or
/// `postgres://USER@HOST:PORT/DATABASE?…` (see [`PgStore::open`]), running pending migrations.
pub async fn open(url: &str, options: &DatabaseOptions) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.trim_start_matches("//");
        return Ok(Arc::new(
            SqliteStore::open(std::path::Path::new(path)).await?,
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::open(url, options).await?));
    }
    Err(StoreError::Config(format!(
        "unsupported database URL {:?}: use sqlite:PATH or postgres://USER@HOST:PORT/DATABASE",
        redact(url)
    )))
}

/// `url` without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
