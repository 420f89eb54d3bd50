//! Keeps the issuing CA's CRL current: regenerated after revocations (a burst collapses into a
//! few CRLs: the task gathers revocations for 150 ms, and notifications that arrive during a
//! generation merge into one more run) and when half its validity has passed.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use inkan_pki::{CrlEntry, CrlParams, RevocationReason, Serial};
use inkan_store::CrlRecord;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::AuthorityError;

/// The root CA's CRL as published.
#[derive(Clone, Debug)]
pub struct RootCrl {
    /// DER.
    pub der: Vec<u8>,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
}

/// How long a revocation waits for others before a new CRL is made.
const COALESCE: Duration = Duration::from_millis(150);

/// The current CRL and the task that renews it; also holds the root's CRL, which the root
/// key signs (see `DataDir::root_crl`) and the authority only publishes.
pub struct CrlPublisher {
    current: RwLock<Option<Arc<CrlRecord>>>,
    root: RwLock<Option<Arc<RootCrl>>>,
    wake: Notify,
    validity: Duration,
}

impl CrlPublisher {
    pub(crate) fn new(validity: Duration) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(None),
            root: RwLock::new(None),
            wake: Notify::new(),
            validity,
        })
    }

    /// The CRL in force (DER and metadata), once the first one is generated.
    pub fn current(&self) -> Option<Arc<CrlRecord>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// Publishes the root's CRL (DER), after checking it parses.
    pub fn set_root_crl(&self, der: Vec<u8>) -> Result<(), AuthorityError> {
        let summary = inkan_pki::crl_summary(&der)?;
        if let Ok(mut root) = self.root.write() {
            *root = Some(Arc::new(RootCrl {
                der,
                next_update: summary.next_update,
            }));
        }
        Ok(())
    }

    /// The root's CRL, if one was published.
    pub fn root_crl(&self) -> Option<Arc<RootCrl>> {
        self.root.read().ok().and_then(|r| r.clone())
    }

    /// Asks for a new CRL soon (after a revocation).
    pub fn invalidate(&self) {
        self.wake.notify_one();
    }

    /// Generates one CRL now and makes it current. Several replicas may sign the next number
    /// at the same moment: only one can store it, and a replica whose CRL was not stored signs
    /// again with the number after the stored one, so no two different CRLs ever carry the
    /// same number and every CRL served is the stored one.
    pub(crate) async fn publish(
        &self,
        authority: Arc<crate::Authority>,
    ) -> Result<Arc<CrlRecord>, AuthorityError> {
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let record = Arc::new(self.sign_next(&authority).await?);
            if authority.store().save_crl(&record).await? {
                self.make_current(record.clone());
                return Ok(record);
            }
        }
        // Another replica keeps winning: serve what it stored.
        let stored = authority
            .store()
            .crl(authority.issuer_id())
            .await?
            .ok_or_else(|| AuthorityError::Ca("no CRL was stored".into()))?;
        let stored = Arc::new(stored);
        self.make_current(stored.clone());
        Ok(stored)
    }

    fn make_current(&self, record: Arc<CrlRecord>) {
        if let Ok(mut current) = self.current.write() {
            *current = Some(record);
        }
    }

    /// Signs the CRL after the stored one: every unexpired revoked certificate as of now.
    async fn sign_next(
        &self,
        authority: &Arc<crate::Authority>,
    ) -> Result<CrlRecord, AuthorityError> {
        let now = authority.now();
        let issuer_id = authority.issuer_id().to_string();
        let issuer_id = issuer_id.as_str();
        let store = authority.store().clone();
        let last = store.crl(issuer_id).await?;
        let entries = store
            .revoked_entries(issuer_id, now.unix_timestamp())
            .await?
            .into_iter()
            .map(|e| {
                Ok(CrlEntry {
                    serial: e.serial.parse::<Serial>()?,
                    revoked_at: OffsetDateTime::from_unix_timestamp(e.revoked_at)
                        .map_err(|err| AuthorityError::Ca(err.to_string()))?,
                    reason: e.reason.parse().unwrap_or(RevocationReason::Unspecified),
                })
            })
            .collect::<Result<Vec<_>, AuthorityError>>()?;
        let number = last.map_or(1, |l| l.number + 1);
        let next_update = now + self.validity;
        let params = CrlParams {
            number: u64::try_from(number).unwrap_or(1),
            this_update: now,
            next_update,
            entries,
        };
        // Signing a large CRL is CPU work: keep it off the async workers.
        let signer = authority.clone();
        let der = tokio::task::spawn_blocking(move || signer.ca().sign_crl(&params))
            .await
            .map_err(|e| AuthorityError::Ca(format!("CRL task failed: {e}")))??;
        Ok(CrlRecord {
            issuer_id: issuer_id.to_string(),
            number,
            this_update: now.unix_timestamp(),
            next_update: next_update.unix_timestamp(),
            der,
        })
    }

    /// Runs until the authority is gone: wait for a revocation or for half the validity, then
    /// publish. (The first CRL is published by `Authority::start`.)
    pub(crate) async fn run(self: Arc<Self>, authority: std::sync::Weak<crate::Authority>) {
        let mut wait = self.validity / 2;
        loop {
            tokio::select! {
                () = self.wake.notified() => {
                    // Let a burst gather: one CRL for many revocations, still well within 1 s.
                    tokio::time::sleep(COALESCE).await;
                }
                () = tokio::time::sleep(wait) => {}
            }
            let Some(auth) = authority.upgrade() else {
                return;
            };
            wait = match self.publish(auth).await {
                Ok(record) => {
                    tracing::debug!(number = record.number, "published CRL");
                    self.validity / 2
                }
                Err(e) => {
                    tracing::error!(error = %e, "CRL generation failed; retrying");
                    Duration::from_secs(5)
                }
            };
        }
    }
}
