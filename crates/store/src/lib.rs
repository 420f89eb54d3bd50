//! inkan-store: where the authority keeps what it must not lose.
//!
//! The [`Store`] trait is the only way the rest of inkan reaches the database; each backend
//! owns its migrations and runs them at open. [`open`] picks the backend from the URL scheme.
//! The audit chain's hashing and checking are pure functions in [`audit`].
#![warn(missing_docs)]

pub mod audit;
mod error;
mod model;
mod sqlite;
mod tpm;

use std::sync::Arc;

use async_trait::async_trait;

pub use audit::{AuditBreak, AuditEvent, ChainVerifier, NewAuditEvent};
pub use error::StoreError;
pub use model::{
    CertificateQuery, CertificateRecord, CertificateStatus, CrlRecord, DeviceCertificate,
    DeviceRecord, IssuerRecord, NewCertificate, ProductRecord, RecordOutcome, RegisterOutcome,
    RevocationRecord, RevokeOutcome, RevokeResult, RevokedEntry,
};
pub use sqlite::SqliteStore;
pub use tpm::{TpmActivation, TpmAttestation};

/// Everything the authority persists. Implementations must make each method atomic.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Records a batch of issued certificates and one audit event each, in one transaction.
    /// A certificate whose serial already exists is skipped and reported as
    /// [`RecordOutcome::DuplicateSerial`]; the others are committed together.
    async fn record_issued(
        &self,
        batch: &[NewCertificate],
        at_ms: i64,
    ) -> Result<Vec<RecordOutcome>, StoreError>;

    /// One certificate by serial (lowercase hex).
    async fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError>;

    /// Certificates, newest first.
    async fn list_certificates(
        &self,
        query: &CertificateQuery,
    ) -> Result<Vec<CertificateRecord>, StoreError>;

    /// Registers an issuer (idempotent by id) with an audit event the first time.
    async fn register_issuer(&self, issuer: &IssuerRecord, actor: &str) -> Result<(), StoreError>;

    /// All registered issuers.
    async fn issuers(&self) -> Result<Vec<IssuerRecord>, StoreError>;

    /// Sets (creates or replaces) the EST secret of a label, audited.
    async fn set_est_secret(
        &self,
        label: &str,
        phc: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// The argon2 PHC string of a label's EST secret.
    async fn est_secret(&self, label: &str) -> Result<Option<String>, StoreError>;

    /// Appends one audit event on its own.
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<AuditEvent, StoreError>;

    /// Audit events with `seq > after`, in order, at most `limit`.
    async fn audit_events(&self, after: i64, limit: i64) -> Result<Vec<AuditEvent>, StoreError>;

    /// Revokes a certificate (durably, audited, idempotent: a second call keeps the first time
    /// and reason). With `cascade`, certificates enrolled with it are revoked too, recursively.
    async fn revoke(
        &self,
        serial: &str,
        reason: &str,
        revoked_at: i64,
        actor: &str,
        cascade: bool,
    ) -> Result<RevokeResult, StoreError>;

    /// Revocations with `seq > after`, in order, at most `limit`.
    async fn revocations_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RevocationRecord>, StoreError>;

    /// The sequence number of the newest revocation (0 when there is none).
    async fn latest_revocation_seq(&self) -> Result<i64, StoreError>;

    /// Revoked certificates of an issuer that are still unexpired at `now` (Unix seconds).
    async fn revoked_entries(
        &self,
        issuer_id: &str,
        now: i64,
    ) -> Result<Vec<RevokedEntry>, StoreError>;

    /// The last CRL saved for an issuer.
    async fn crl(&self, issuer_id: &str) -> Result<Option<CrlRecord>, StoreError>;

    /// Saves a CRL unless one with a number at least as high is stored; returns whether saved.
    async fn save_crl(&self, crl: &CrlRecord) -> Result<bool, StoreError>;

    /// Stores a new admin token by its SHA-256 (hex), audited.
    async fn create_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// The name of the admin token with this SHA-256, if it exists.
    async fn admin_token(&self, token_sha256: &str) -> Result<Option<String>, StoreError>;

    /// Creates a product with its ProductCert (`cert`, recorded like [`Store::record_issued`])
    /// and, with `psk_group_key`, PSK registration on: all audited, in one transaction.
    /// `false`, and nothing written, when the name or id is taken by another product.
    async fn create_product(
        &self,
        product: &ProductRecord,
        cert: &NewCertificate,
        psk_group_key: Option<&str>,
        actor: &str,
    ) -> Result<bool, StoreError>;

    /// A product by id or name.
    async fn product(&self, id_or_name: &str) -> Result<Option<ProductRecord>, StoreError>;

    /// The product whose ProductCert has this serial.
    async fn product_by_cert(&self, serial: &str) -> Result<Option<ProductRecord>, StoreError>;

    /// All products, oldest first.
    async fn products(&self) -> Result<Vec<ProductRecord>, StoreError>;

    /// Enables or disables a product (audited).
    async fn set_product_status(
        &self,
        product_id: &str,
        status: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Registers a device atomically against the product's cap; idempotent per (product, key).
    async fn register_device(
        &self,
        device: &DeviceRecord,
        actor: &str,
    ) -> Result<RegisterOutcome, StoreError>;

    /// Registers several devices (each with the actor to audit) in one transaction, in order,
    /// with the same rules as [`Store::register_device`]; one outcome per device.
    async fn register_devices(
        &self,
        batch: &[(DeviceRecord, String)],
    ) -> Result<Vec<RegisterOutcome>, StoreError>;

    /// One device by id.
    async fn device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError>;

    /// Devices, newest first, optionally of one product.
    async fn devices(
        &self,
        product_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeviceRecord>, StoreError>;

    /// Turns PSK registration on (`Some(group key hex)`) or off for a product (audited).
    async fn set_product_psk(
        &self,
        product_id: &str,
        group_key_hex: Option<&str>,
        actor: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// The product's PSK group key (hex), if PSK registration is on.
    async fn product_psk_key(&self, product_id: &str) -> Result<Option<String>, StoreError>;

    /// Records a PSK token nonce until `expires_ms`; `false` if it was seen before (a replay).
    /// Expired nonces are dropped on the way.
    async fn consume_psk_nonce(
        &self,
        product_id: &str,
        nonce: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Enables or disables a device (audited); `false` if it already had that status.
    async fn set_device_status(
        &self,
        device_id: &str,
        status: &str,
        actor: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Records that a device received a certificate (durable before the device sees it) and
    /// marks the device as seen.
    async fn record_device_certificate(&self, cert: &DeviceCertificate) -> Result<(), StoreError>;

    /// The certificates a device received, newest first.
    async fn device_certificates(
        &self,
        device_id: &str,
    ) -> Result<Vec<DeviceCertificate>, StoreError>;

    /// (serial, audit_seq) of certificates with rowid-order position > `after`, at most
    /// `limit`; the cursor is the last item's position.
    async fn issued_audit_refs(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, i64)>, StoreError>;

    /// Stores a new TPM credential activation (audited).
    async fn create_tpm_activation(
        &self,
        activation: &TpmActivation,
        actor: &str,
    ) -> Result<(), StoreError>;

    /// One TPM activation by id.
    async fn tpm_activation(&self, id: &str) -> Result<Option<TpmActivation>, StoreError>;

    /// The TPM evidence a certificate was issued on.
    async fn tpm_attestation(&self, serial: &str) -> Result<Option<TpmAttestation>, StoreError>;
}

/// Opens the store named by `url`: `sqlite:PATH` (created if missing).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.trim_start_matches("//");
        return Ok(Arc::new(
            SqliteStore::open(std::path::Path::new(path)).await?,
        ));
    }
    Err(StoreError::Config(format!(
        "unsupported database URL {url:?}: use sqlite:PATH"
    )))
}
