//! The certificates aggregate: issued certificates, issuers, revocation and CRLs.

use async_trait::async_trait;

use crate::{
    CertificateQuery, CertificateRecord, CertificateStatus, CrlRecord, IssuedRef, IssuerRecord,
    NewCertificate, RecordOutcome, RevocationRecord, RevokeResult, RevokedEntry, StoreError,
};

/// The names a certificate is found by (the `name` of [`CertificateQuery`]): each subject
/// attribute value and each SAN value without its type, lowercased, each at most 255 bytes.
pub fn search_names(subject: &str, sans: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    // `subject` is `A=v,B=w` with `,` `+` `"` `\` `<` `>` `;` `=` escaped by a backslash.
    let mut value = String::new();
    let mut in_value = false;
    let mut escaped = false;
    for c in subject.chars().chain(std::iter::once(',')) {
        match (escaped, c) {
            (true, c) => {
                if in_value {
                    value.push(c);
                }
                escaped = false;
            }
            (false, '\\') => escaped = true,
            (false, '=') if !in_value => in_value = true,
            (false, ',') => {
                names.push(std::mem::take(&mut value));
                in_value = false;
            }
            (false, c) if in_value => value.push(c),
            _ => {}
        }
    }
    names.extend(sans.iter().map(|san| {
        san.split_once(':')
            .map_or(san.as_str(), |(_, v)| v)
            .to_string()
    }));
    let mut names: Vec<String> = names
        .into_iter()
        .map(|n| {
            let mut n = n.trim().to_lowercase();
            let mut end = n.len().min(255);
            while !n.is_char_boundary(end) {
                end -= 1;
            }
            n.truncate(end);
            n
        })
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The range of names starting with `prefix` (lowercased): `>= low` and `< high`, bytewise.
pub(crate) fn name_range(prefix: &str) -> (String, String) {
    let low = prefix.trim().to_lowercase();
    let high = format!("{low}\u{10FFFF}");
    (low, high)
}

/// A certificate enrolled with another one (its `bootstrap_serial`): a fact for [`CascadeRule`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolled {
    /// Its serial.
    pub serial: String,
    /// Its status as of the revoking transaction.
    pub status: CertificateStatus,
}

/// Decides, inside the revoking transaction, which certificates enrolled with a revoked one are
/// revoked with it. The rule lives with the caller; the backend only walks and writes.
pub trait CascadeRule: Send + Sync {
    /// The serials among `enrolled` (certificates enrolled with `parent`) to revoke too.
    fn follow(&self, parent: &str, enrolled: &[Enrolled]) -> Vec<String>;
}

impl<F> CascadeRule for F
where
    F: Fn(&str, &[Enrolled]) -> Vec<String> + Send + Sync,
{
    fn follow(&self, parent: &str, enrolled: &[Enrolled]) -> Vec<String> {
        self(parent, enrolled)
    }
}

/// What a revocation is: the certificate, why, when and by whom.
#[derive(Clone, Copy, Debug)]
pub struct Revocation<'a> {
    /// Serial (lowercase hex).
    pub serial: &'a str,
    /// RFC 5280 reason name.
    pub reason: &'a str,
    /// Unix seconds.
    pub revoked_at: i64,
    /// Who revoked it (for the audit event).
    pub actor: &'a str,
}

/// Issued certificates, their issuers, revocations and CRLs. Each method is atomic.
#[async_trait]
pub trait CertificateStore: Send + Sync + 'static {
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

    /// Certificates, newest recorded first (keyset paging by `audit_seq`).
    async fn list_certificates(
        &self,
        query: &CertificateQuery,
    ) -> Result<Vec<CertificateRecord>, StoreError>;

    /// (serial, audit_seq) of certificates with `audit_seq > after`, in `audit_seq` order, at
    /// most `limit`; the cursor of the next page is the last item's `audit_seq`.
    async fn issued_refs(&self, after: i64, limit: i64) -> Result<Vec<IssuedRef>, StoreError>;

    /// Registers an issuer (idempotent by id) with an audit event the first time.
    async fn register_issuer(&self, issuer: &IssuerRecord, actor: &str) -> Result<(), StoreError>;

    /// All registered issuers.
    async fn issuers(&self) -> Result<Vec<IssuerRecord>, StoreError>;

    /// Revokes a certificate (durably, audited, idempotent: a second call keeps the first time
    /// and reason). With a `cascade` rule, the certificates enrolled with each revoked one are
    /// offered to it, recursively, and those it names are revoked in the same transaction.
    ///
    /// Each new revocation is appended to the feed (see [`CertificateStore::revocations_since`]).
    async fn revoke(
        &self,
        revocation: Revocation<'_>,
        cascade: Option<&dyn CascadeRule>,
    ) -> Result<RevokeResult, StoreError>;

    /// The revocation feed: revocations with `seq > after`, in `seq` order, at most `limit`.
    ///
    /// Ordering contract: `seq` is assigned inside the revoking transaction while it holds the
    /// audit-chain head (the one lock every audited write takes), as one more than the highest
    /// `seq` committed so far. So `seq` order is commit order and a reader never sees a `seq`
    /// appear below one it has already read, with any number of concurrent writers: a cursor
    /// (`after` = last `seq` seen) never skips a revocation.
    async fn revocations_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RevocationRecord>, StoreError>;

    /// The sequence number of the newest revocation (0 when there is none).
    async fn latest_revocation_seq(&self) -> Result<i64, StoreError>;

    /// Counts for an overview: all certificates, the revoked ones, those recorded since
    /// `since_ms`, and the valid ones that expire before `expiring_before` (Unix s) and after
    /// `now` (Unix s).
    async fn certificate_stats(
        &self,
        since_ms: i64,
        now: i64,
        expiring_before: i64,
    ) -> Result<crate::CertificateStats, StoreError>;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_subject_values_and_san_values_lowercased() {
        let names = search_names(
            "CN=Meter-7,O=Acme\\, Inc.,serialNumber=SN1",
            &["DNS:meter-7.Fleet.example".into(), "IP:10.0.0.7".into()],
        );
        assert_eq!(
            names,
            [
                "10.0.0.7",
                "acme, inc.",
                "meter-7",
                "meter-7.fleet.example",
                "sn1"
            ]
        );
        assert!(search_names("", &[]).is_empty());
    }

    #[test]
    fn a_prefix_range_holds_exactly_the_names_that_start_with_it() {
        let (low, high) = name_range(" Meter ");
        for inside in ["meter", "meter-7", "meterz\u{10FFFE}"] {
            assert!(inside >= low.as_str() && inside < high.as_str(), "{inside}");
        }
        for outside in ["metep", "metes", "mete"] {
            assert!(
                !(outside >= low.as_str() && outside < high.as_str()),
                "{outside}"
            );
        }
    }
}
