//! The console's pages: one askama template each (`templates/console/`), with the rows they show.
//! Every value is escaped by the templates.

use askama::Template;
use inkan_authority::AuditReport;
use inkan_store::{AuditEvent, CertificateRecord, DeviceRecord, ProductRecord};

/// Renders a page; a template error becomes a plain message (they are compiled, so only a
/// formatting failure could cause one).
pub(super) fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "console template failed");
        "the page could not be rendered\n".into()
    })
}

pub(super) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// A certificate as the pages show it.
pub(super) struct CertRow {
    pub serial: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub profile: String,
    pub method: String,
    pub level: String,
    pub status: String,
    pub revocation_reason: Option<String>,
    pub not_before: String,
    pub not_after: String,
    pub spki_sha256: String,
    pub bootstrap_serial: Option<String>,
}

impl CertRow {
    /// The export cells, in the order of the certificates table's columns.
    pub(super) fn cells(&self) -> Vec<String> {
        vec![
            self.serial.clone(),
            self.subject.clone(),
            self.sans.join(" "),
            self.profile.clone(),
            self.method.clone(),
            self.level.clone(),
            self.status.clone(),
            self.revocation_reason.clone().unwrap_or_default(),
            self.not_before.clone(),
            self.not_after.clone(),
            self.spki_sha256.clone(),
            self.bootstrap_serial.clone().unwrap_or_default(),
        ]
    }
}

impl From<&CertificateRecord> for CertRow {
    fn from(c: &CertificateRecord) -> Self {
        Self {
            serial: c.serial.clone(),
            subject: c.subject.clone(),
            sans: c.sans.clone(),
            profile: c.profile.clone(),
            method: c.method.clone(),
            level: c.level.map(|l| l.to_string()).unwrap_or_default(),
            status: c.status.as_str().to_string(),
            revocation_reason: c.revocation_reason.clone(),
            not_before: rfc3339(c.not_before),
            not_after: rfc3339(c.not_after),
            spki_sha256: c.spki_sha256.clone(),
            bootstrap_serial: c.bootstrap_serial.clone(),
        }
    }
}

/// An audit event as the audit page shows it.
pub(super) struct EventRow {
    pub seq: i64,
    pub at: String,
    pub kind: String,
    pub actor: String,
    pub subject: String,
}

impl From<&AuditEvent> for EventRow {
    fn from(e: &AuditEvent) -> Self {
        Self {
            seq: e.seq,
            at: rfc3339(e.at_ms / 1000),
            kind: e.kind.clone(),
            actor: e.actor.clone(),
            subject: e.subject.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
pub(super) struct Login {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
}

impl Login {
    pub(super) fn new(notice: Option<String>) -> Self {
        Self {
            actor: None,
            csrf: String::new(),
            notice,
        }
    }
}

#[derive(Template)]
#[template(path = "console/overview.html")]
pub(super) struct Overview {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub alerts: Vec<String>,
    pub stats: inkan_store::CertificateStats,
    pub issuer_id: String,
    pub rows: Vec<CertRow>,
}

#[derive(Template)]
#[template(path = "console/certificates.html")]
pub(super) struct Certificates {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub serial: String,
    pub name: String,
    pub profile: String,
    pub method: String,
    pub status: String,
    pub rows: Vec<CertRow>,
    pub next: Option<i64>,
    /// The filters as a query string (for the next page and the exports).
    pub filters: String,
    /// Every enrollment method, and whether it is the one filtered by.
    pub methods: Vec<(&'static str, bool)>,
    /// Every level, and whether it is the one filtered by.
    pub levels: Vec<(i64, bool)>,
}

/// The enrollment methods a certificate can have been issued by.
pub(super) const METHODS: [&str; 9] = [
    "est-secret",
    "client-cert",
    "renewal",
    "bootstrap-cert",
    "psk",
    "admin",
    "tpm2",
    "tee",
    "linked-device",
];

#[derive(Template)]
#[template(path = "console/certificate.html")]
pub(super) struct Certificate {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub attestation: Option<EvidenceView>,
    pub cert: CertRow,
    pub evidence: String,
    pub pem: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
pub(super) struct Audit {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub events: Vec<EventRow>,
    pub report: Option<AuditReport>,
    pub after: i64,
    pub next: Option<i64>,
}

/// A product as the pages show it.
pub(super) struct ProductRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub devices: i64,
    pub max_devices: Option<i64>,
    pub psk: bool,
    pub cert_serial: Option<String>,
    pub created_at: String,
}

impl ProductRow {
    pub(super) fn new(p: &ProductRecord, devices: i64) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            status: p.status.as_str().to_string(),
            devices,
            max_devices: p.max_devices,
            psk: p.psk,
            cert_serial: p.cert_serial.clone(),
            created_at: rfc3339(p.created_at_ms / 1000),
        }
    }
}

/// A device as the product page shows it.
pub(super) struct DeviceRow {
    pub id: String,
    pub status: String,
    pub created_at: String,
    pub last_seen: String,
}

impl From<&DeviceRecord> for DeviceRow {
    fn from(d: &DeviceRecord) -> Self {
        Self {
            id: d.id.clone(),
            status: d.status.as_str().to_string(),
            created_at: rfc3339(d.created_at_ms / 1000),
            last_seen: rfc3339(d.last_seen_ms / 1000),
        }
    }
}

#[derive(Template)]
#[template(path = "console/products.html")]
pub(super) struct Products {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub products: Vec<ProductRow>,
}

#[derive(Template)]
#[template(path = "console/product.html")]
pub(super) struct Product {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub product: ProductRow,
    pub devices: Vec<DeviceRow>,
    pub next: Option<String>,
}

/// An account in the list.
pub(super) struct AccountRow {
    pub id: String,
    pub name: String,
    pub max_devices: i64,
    pub created_at: String,
}

impl From<&inkan_store::Account> for AccountRow {
    fn from(a: &inkan_store::Account) -> Self {
        Self {
            id: a.id.clone(),
            name: a.name.clone(),
            max_devices: a.max_devices,
            created_at: rfc3339(a.created_at_ms / 1000),
        }
    }
}

#[derive(Template)]
#[template(path = "console/accounts.html")]
pub(super) struct Accounts {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub accounts: Vec<AccountRow>,
}

pub(super) struct AnchorRow {
    pub key: String,
    pub serial: String,
    pub added: String,
    pub removed: String,
}

pub(super) struct LinkedRow {
    pub registration: String,
    pub name: String,
    pub linked: String,
    pub unlinked: String,
}

pub(super) struct DelegationRow {
    pub deputy: String,
    pub from: String,
    pub until: String,
    pub used: i64,
    pub max: i64,
    pub ended: String,
}

/// Unix milliseconds as RFC 3339 (empty for none).
pub(super) fn ms(at: Option<i64>) -> String {
    at.map(|ms| rfc3339(ms / 1000)).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "console/account.html")]
pub(super) struct AccountPage {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub account: AccountRow,
    pub anchors: Vec<AnchorRow>,
    pub devices: Vec<LinkedRow>,
    pub delegations: Vec<DelegationRow>,
}

impl AccountPage {
    pub(super) fn new(
        d: &inkan_authority::AccountDetails,
        actor: Option<String>,
        csrf: String,
    ) -> Self {
        Self {
            actor,
            csrf,
            notice: None,
            account: AccountRow::from(&d.account),
            anchors: d
                .anchors
                .iter()
                .map(|a| AnchorRow {
                    key: a.spki_sha256.clone(),
                    serial: a.serial.clone(),
                    added: ms(Some(a.added_at_ms)),
                    removed: ms(a.removed_at_ms),
                })
                .collect(),
            devices: d
                .devices
                .iter()
                .map(|l| LinkedRow {
                    registration: l.registration.clone(),
                    name: l.name.clone(),
                    linked: ms(Some(l.linked_at_ms)),
                    unlinked: ms(l.unlinked_at_ms),
                })
                .collect(),
            delegations: d
                .delegations
                .iter()
                .map(|g| DelegationRow {
                    deputy: g.deputy.clone(),
                    from: ms(Some(g.not_before_ms)),
                    until: ms(Some(g.not_after_ms)),
                    used: g.used,
                    max: g.max_approvals,
                    ended: match (&g.ended_at_ms, &g.end_reason) {
                        (Some(at), Some(why)) => format!("{} ({why})", ms(Some(*at))),
                        (Some(at), None) => ms(Some(*at)),
                        _ => String::new(),
                    },
                })
                .collect(),
        }
    }
}

/// An EST secret's label in the credentials list.
pub(super) struct SecretRow {
    pub label: String,
    pub set_at: String,
}

/// An admin token in the credentials list.
pub(super) struct TokenRow {
    pub id: String,
    pub short: String,
    pub name: String,
    pub created_at: String,
}

/// A secret just made, shown once.
pub(super) struct MadeSecret {
    pub what: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "console/credentials.html")]
pub(super) struct Credentials {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub made: Option<MadeSecret>,
    pub labels: Vec<String>,
    pub secrets: Vec<SecretRow>,
    pub tokens: Vec<TokenRow>,
}

/// A TA profile version in the TEE page.
pub(super) struct TaProfileRow {
    pub name: String,
    pub version: i64,
    pub identity_fields: String,
    pub key_algorithm: String,
    pub certificate_profile: String,
    pub created_at: String,
    pub state: String,
    /// The newest, unrevoked version: the one to rotate or revoke.
    pub current: bool,
}

#[derive(Template)]
#[template(path = "console/tee.html")]
pub(super) struct TeeProfiles {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub profiles: Vec<TaProfileRow>,
}

/// Attestation evidence as a certificate's page shows it: a title and labelled facts.
pub(super) struct EvidenceView {
    pub title: String,
    pub facts: Vec<(String, String)>,
    pub checks: Vec<String>,
}

/// A segment in the list.
pub(super) struct SegmentRow {
    pub name: String,
    pub pin_digits: i64,
    pub use_pmm: bool,
    pub limits: String,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "console/segments.html")]
pub(super) struct Segments {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub segments: Vec<SegmentRow>,
    /// Locked cards and addresses, of every segment.
    pub locked: Vec<AttemptRow>,
}

/// A card or an address with failed logins.
pub(super) struct AttemptRow {
    pub segment: String,
    pub subject: String,
    pub failures: i64,
    pub locked: String,
    pub is_locked: bool,
    pub last_failure: String,
}

/// A PIN just handed out: shown once.
pub(super) struct IssuedPinView {
    pub idm: String,
    pub pin: String,
    pub generation: i64,
    pub valid_until: String,
}

#[derive(Template)]
#[template(path = "console/segment.html")]
pub(super) struct Segment {
    pub actor: Option<String>,
    pub csrf: String,
    pub notice: Option<String>,
    pub segment: SegmentRow,
    pub issued: Option<IssuedPinView>,
    /// (number, from, until, state)
    pub generations: Vec<(i64, String, String, String)>,
    pub attempts: Vec<AttemptRow>,
    /// (IDm, reason, when)
    pub revoked: Vec<(String, String, String)>,
    /// (IDm, holder, when)
    pub cards: Vec<(String, String, String)>,
    /// (name, IDm, when)
    pub users: Vec<(String, String, String)>,
}
