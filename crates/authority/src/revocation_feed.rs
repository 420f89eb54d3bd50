//! Follows the store's revocation feed (including revocations made by other processes, such as
//! `inkan cert revoke`) and fans each one out: OCSP cache, CRL, and live subscribers.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use inkan_store::RevocationRecord;
use tokio::sync::{broadcast, Notify};

use crate::Authority;

/// How often the store is polled for revocations made elsewhere.
const POLL: Duration = Duration::from_millis(200);
const PAGE: i64 = 1000;

/// The live revocation feed.
pub struct RevocationFeed {
    seen: AtomicI64,
    sender: broadcast::Sender<RevocationRecord>,
    wake: Notify,
}

impl RevocationFeed {
    pub(crate) fn new(start_after: i64) -> Arc<Self> {
        let (sender, _) = broadcast::channel(4096);
        Arc::new(Self {
            seen: AtomicI64::new(start_after),
            sender,
            wake: Notify::new(),
        })
    }

    /// New revocations from now on (after [`RevocationFeed::seen`]).
    pub fn subscribe(&self) -> broadcast::Receiver<RevocationRecord> {
        self.sender.subscribe()
    }

    /// The highest feed sequence already fanned out.
    pub fn seen(&self) -> i64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// Look now rather than at the next poll (after a revocation made in this process).
    pub fn kick(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn run(self: Arc<Self>, authority: Weak<Authority>) {
        loop {
            let Some(auth) = authority.upgrade() else {
                return;
            };
            match auth.store().revocations_since(self.seen(), PAGE).await {
                Ok(batch) => {
                    let full = batch.len() as i64 == PAGE;
                    let any = !batch.is_empty();
                    for record in batch {
                        auth.ocsp().invalidate(&record.serial);
                        self.seen.store(record.seq, Ordering::SeqCst);
                        let _ = self.sender.send(record);
                    }
                    if any {
                        auth.crl().invalidate();
                    }
                    drop(auth);
                    if full {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading the revocation feed failed"),
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
