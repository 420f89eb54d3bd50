//! Group commit: one writer task takes every certificate waiting to be recorded and commits them
//! in one transaction; each requester waits for the commit that holds its row.

use std::sync::Arc;

use inkan_store::{NewCertificate, RecordOutcome, Store};
use tokio::sync::{mpsc, oneshot};

use crate::{AuthorityError, Metrics};

/// The largest batch committed at once.
const MAX_BATCH: usize = 1024;

type Reply = oneshot::Sender<Result<RecordOutcome, inkan_store::StoreError>>;

/// A handle to the writer task.
#[derive(Clone)]
pub(crate) struct Committer {
    tx: mpsc::Sender<(NewCertificate, Reply)>,
}

impl Committer {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        clock: fn() -> time::OffsetDateTime,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(store, rx, clock, metrics));
        Self { tx }
    }

    /// Records `cert` and returns once its transaction has committed.
    pub(crate) async fn record(
        &self,
        cert: NewCertificate,
    ) -> Result<RecordOutcome, AuthorityError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send((cert, reply))
            .await
            .map_err(|_| AuthorityError::ShuttingDown)?;
        match wait.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(e)) => Err(AuthorityError::Store(e)),
            Err(_) => Err(AuthorityError::ShuttingDown),
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<(NewCertificate, Reply)>,
    clock: fn() -> time::OffsetDateTime,
    metrics: Arc<Metrics>,
) {
    let mut certs = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while let Some((cert, reply)) = rx.recv().await {
        certs.push(cert);
        replies.push(reply);
        while certs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((cert, reply)) => {
                    certs.push(cert);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let result = store.record_issued(&certs, crate::unix_ms(clock())).await;
        metrics.committed("certificates", certs.len(), started.elapsed());
        match result {
            Ok(outcomes) => {
                for (cert, outcome) in certs.iter().zip(&outcomes) {
                    if *outcome == RecordOutcome::Recorded {
                        metrics.issued(&cert.method, &cert.profile);
                    }
                }
                for (reply, outcome) in replies.drain(..).zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                metrics.store_failed(&e);
                tracing::error!(error = %e, batch = certs.len(), "group commit failed");
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(e.for_batch()));
                }
            }
        }
        certs.clear();
    }
}
