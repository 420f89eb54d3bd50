//! Group commit for device registrations: one writer task registers every device waiting in one
//! transaction (each cap check sees the registrations before it), with the first certificate
//! each admitted device comes with; each requester waits for the commit that holds its device.

use std::sync::Arc;

use inkan_store::{NewRegistration, RecordOutcome, RegisterOutcome, Store};
use tokio::sync::{mpsc, oneshot};

use crate::{AuthorityError, Metrics};

/// The largest batch committed at once.
const MAX_BATCH: usize = 256;

/// A device's outcome, and its certificate's if it came with one and was admitted.
pub(crate) type Registered = (RegisterOutcome, Option<RecordOutcome>);

type Reply = oneshot::Sender<Result<Registered, inkan_store::StoreError>>;

/// A handle to the registration writer task.
#[derive(Clone)]
pub(crate) struct Registrar {
    tx: mpsc::Sender<(NewRegistration, Reply)>,
}

impl Registrar {
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

    /// Registers the device (and records its certificate if it is admitted) and returns once
    /// the transaction has committed.
    pub(crate) async fn register(
        &self,
        registration: NewRegistration,
    ) -> Result<Registered, AuthorityError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send((registration, reply))
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
    mut rx: mpsc::Receiver<(NewRegistration, Reply)>,
    clock: fn() -> time::OffsetDateTime,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while let Some((item, reply)) = rx.recv().await {
        batch.push(item);
        replies.push(reply);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok((item, reply)) => {
                    batch.push(item);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let result = store
            .register_devices_issuing(&batch, &crate::rules::admit_device, crate::unix_ms(clock()))
            .await;
        metrics.committed("registrations", batch.len(), started.elapsed());
        match result {
            Ok(outcomes) => {
                for (registration, (outcome, cert)) in batch.iter().zip(&outcomes) {
                    metrics.registered(outcome_name(outcome));
                    if let (Some(cert), Some(RecordOutcome::Recorded)) =
                        (&registration.certificate, cert)
                    {
                        metrics.issued(&cert.method, &cert.profile);
                    }
                }
                for (reply, outcome) in replies.drain(..).zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                metrics.store_failed(&e);
                tracing::error!(error = %e, batch = batch.len(), "registration commit failed");
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(e.for_batch()));
                }
            }
        }
        batch.clear();
    }
}

/// The metrics label of a registration's outcome.
fn outcome_name(outcome: &RegisterOutcome) -> &'static str {
    match outcome {
        RegisterOutcome::Registered(_) => "registered",
        RegisterOutcome::Existing(_) => "existing",
        RegisterOutcome::CapReached(_) => "cap_reached",
        RegisterOutcome::KeyInUse => "key_in_use",
        RegisterOutcome::ProductDisabled => "product_disabled",
        RegisterOutcome::DeviceDisabled => "device_disabled",
        RegisterOutcome::RegistrationIdInUse => "registration_id_in_use",
        RegisterOutcome::UnknownProduct => "unknown_product",
    }
}
