use serde::{Deserialize, Serialize};

use crate::{CertificateStatus, DeviceStatus, ProductStatus};

/// A certificate about to be recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCertificate {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The issuing CA's id.
    pub issuer_id: String,
    /// Subject text.
    pub subject: String,
    /// SANs as display strings (`DNS:…`, `IP:…`).
    pub sans: Vec<String>,
    /// SHA-256 of the subject public key info, hex.
    pub spki_sha256: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// Profile name.
    pub profile: String,
    /// Enrollment method.
    pub method: String,
    /// What the requester proved, as JSON.
    pub evidence: serde_json::Value,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Who asked (for the audit event).
    pub actor: String,
    /// The certificate the requester authenticated with, if any (for cascading revocation).
    pub bootstrap_serial: Option<String>,
    /// The registered device this certificate is for (recorded in the device's certificate
    /// list in the same transaction).
    pub device_id: Option<String>,
    /// TPM evidence: its activation is consumed, and the evidence stored, in the same
    /// transaction as the certificate.
    pub tpm: Option<crate::TpmAttestation>,
    /// TEE evidence: its challenge is consumed, and the evidence stored, in the same
    /// transaction as the certificate.
    pub tee: Option<crate::TeeAttestation>,
    /// A linked device's login approval: consumed in the same transaction as the certificate.
    pub approval: Option<crate::ApprovalUse>,
    /// The assurance level the certificate carries (its policy OID), if any.
    pub level: Option<i64>,
}

/// The outcome of recording one certificate of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Committed with its audit event.
    Recorded,
    /// Not recorded: the serial exists already; sign again with a new serial.
    DuplicateSerial,
    /// Not recorded: the TPM activation, TEE challenge or login approval was used by another
    /// enrollment meanwhile, expired, or (an approval) its device was unlinked.
    ActivationUnavailable,
}

/// A recorded certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The issuing CA's id.
    pub issuer_id: String,
    /// Subject text.
    pub subject: String,
    /// SANs as display strings.
    pub sans: Vec<String>,
    /// SHA-256 of the subject public key info, hex.
    pub spki_sha256: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// Profile name.
    pub profile: String,
    /// Enrollment method.
    pub method: String,
    /// Evidence JSON.
    pub evidence: serde_json::Value,
    /// Status.
    pub status: CertificateStatus,
    /// Unix seconds, when revoked.
    pub revoked_at: Option<i64>,
    /// RFC 5280 reason name, when revoked.
    pub revocation_reason: Option<String>,
    /// The certificate, DER.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// Unix milliseconds when recorded.
    pub created_at_ms: i64,
    /// The audit event that recorded it.
    pub audit_seq: i64,
    /// The certificate it was enrolled with, if any.
    pub bootstrap_serial: Option<String>,
    /// The assurance level it carries; None if it has none, or was recorded before levels
    /// were kept.
    pub level: Option<i64>,
}

/// Filters for listing certificates.
#[derive(Clone, Debug, Default)]
pub struct CertificateQuery {
    /// Only this profile.
    pub profile: Option<String>,
    /// Only this status.
    pub status: Option<CertificateStatus>,
    /// Only this enrollment method.
    pub method: Option<String>,
    /// Only this assurance level.
    pub level: Option<i64>,
    /// Only certificates with a subject attribute or SAN value starting with this (compared
    /// lowercased; see [`crate::search_names`]).
    pub name: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<i64>,
    /// Keyset cursor: only certificates recorded before the one whose audit event is this
    /// (the `audit_seq` of the last row of the previous page).
    pub before_audit_seq: Option<i64>,
}

/// Counts of certificates, for an overview (see
/// [`crate::CertificateStore::certificate_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CertificateStats {
    /// Every certificate recorded.
    pub total: i64,
    /// Revoked ones.
    pub revoked: i64,
    /// Recorded since the asked time.
    pub issued_since: i64,
    /// Valid ones expiring within the asked window.
    pub expiring: i64,
}

/// A certificate and the audit event that recorded it, for cross-checking the two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedRef {
    /// Serial (hex).
    pub serial: String,
    /// The `certificate.issued` event's seq; also the cursor of the next page.
    pub audit_seq: i64,
}

/// A CA certificate known to the authority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerRecord {
    /// SHA-256 fingerprint of the certificate, hex.
    pub id: String,
    /// `root` or `issuing`.
    pub role: String,
    /// Subject text.
    pub subject: String,
    /// Unix seconds.
    pub not_after: i64,
    /// DER.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// One entry of the revocation feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationRecord {
    /// Position in the feed: increases with every revocation.
    pub seq: i64,
    /// Serial of the revoked certificate.
    pub serial: String,
    /// Its issuer's id.
    pub issuer_id: String,
    /// When it was revoked, Unix seconds.
    pub revoked_at: i64,
    /// RFC 5280 reason name.
    pub reason: String,
}

/// What a revocation did to the certificate asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Newly revoked.
    Revoked(RevocationRecord),
    /// It was revoked before; the first time and reason stand.
    AlreadyRevoked(RevocationRecord),
    /// No certificate with that serial.
    NotFound,
}

/// The result of [`crate::CertificateStore::revoke`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokeResult {
    /// The certificate asked for.
    pub outcome: RevokeOutcome,
    /// Certificates revoked with it because they were enrolled with it (`cascade`).
    pub cascaded: Vec<RevocationRecord>,
}

/// A revoked, unexpired certificate as a CRL lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial (hex).
    pub serial: String,
    /// Unix seconds.
    pub revoked_at: i64,
    /// RFC 5280 reason name.
    pub reason: String,
}

/// The last CRL published for an issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlRecord {
    /// Issuer id.
    pub issuer_id: String,
    /// CRL number.
    pub number: i64,
    /// Unix seconds.
    pub this_update: i64,
    /// Unix seconds.
    pub next_update: i64,
    /// The CRL, DER.
    pub der: Vec<u8>,
}

/// A product line whose ProductCert bootstraps device certificates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRecord {
    /// Random id (hex).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Device attribute names the product allows (`serial`, `mac`, …).
    pub attributes: Vec<String>,
    /// At most this many devices, if set.
    pub max_devices: Option<i64>,
    /// Validity of device certificates, seconds.
    pub device_validity_secs: i64,
    /// Whether devices may register.
    pub status: ProductStatus,
    /// Serial of the ProductCert.
    pub cert_serial: Option<String>,
    /// Whether devices may register with a key derived from the product's PSK group key.
    #[serde(default)]
    pub psk: bool,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// A registered device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Random local id (hex); the DeviceCert's common name.
    pub id: String,
    /// Its product.
    pub product_id: String,
    /// Identity attributes (kept here, not in the certificate).
    pub attributes: serde_json::Value,
    /// SHA-256 of the device key.
    pub spki_sha256: String,
    /// The registration id a PSK device registered with (its key derives from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_id: Option<String>,
    /// Whether it may register again and renew.
    pub status: DeviceStatus,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub last_seen_ms: i64,
}

/// Keyset cursor of the device list (newest first): the last device of the previous page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCursor {
    /// Its `created_at_ms`.
    pub created_at_ms: i64,
    /// Its id.
    pub id: String,
}

impl From<&DeviceRecord> for DeviceCursor {
    fn from(d: &DeviceRecord) -> Self {
        Self {
            created_at_ms: d.created_at_ms,
            id: d.id.clone(),
        }
    }
}

/// The outcome of registering a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// A new device.
    Registered(DeviceRecord),
    /// The same product and key registered before (a retry): that device.
    Existing(DeviceRecord),
    /// The product's device cap is reached.
    CapReached(i64),
    /// The key belongs to a device of another product.
    KeyInUse,
    /// The product is disabled.
    ProductDisabled,
    /// The key belongs to a device of this product that has been disabled.
    DeviceDisabled,
    /// The PSK registration id belongs to another device of this product (another key).
    RegistrationIdInUse,
    /// No product has the device's product id.
    UnknownProduct,
}

/// A DeviceCert as the registry knows it, whichever CA issued it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCertificate {
    /// Serial (hex).
    pub serial: String,
    /// The device.
    pub device_id: String,
    /// `local`, or the EST URL of the authority that issued it.
    pub issuer: String,
    /// Unix seconds.
    pub not_after: i64,
    /// The certificate.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}
