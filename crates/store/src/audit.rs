//! The audit chain: each event's hash covers its fields and the previous event's hash, so any
//! edit, insertion or deletion in the middle of the log breaks every later link.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// The audit log. Every audited write of the other aggregates appends to the same chain in its
/// own transaction; appends are serialised by the chain head.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends one event on its own.
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<AuditEvent, StoreError>;

    /// Audit events with `seq > after`, in order, at most `limit`.
    async fn audit_events(&self, after: i64, limit: i64) -> Result<Vec<AuditEvent>, StoreError>;
}

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// What happened, dotted: `certificate.issued`, `est.secret.set`, …
    pub kind: String,
    /// Who did it.
    pub actor: String,
    /// What it happened to (a serial, a label, …).
    pub subject: String,
    /// Details, JSON.
    pub data: serde_json::Value,
}

impl NewAuditEvent {
    /// An event of `kind` by `actor` about `subject`.
    pub fn new(
        at_ms: i64,
        kind: impl Into<String>,
        actor: impl Into<String>,
        subject: impl Into<String>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            at_ms,
            kind: kind.into(),
            actor: actor.into(),
            subject: subject.into(),
            data,
        }
    }
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Kind.
    pub kind: String,
    /// Actor.
    pub actor: String,
    /// Subject.
    pub subject: String,
    /// Details as stored JSON text (hashed byte for byte).
    pub data: String,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

impl AuditEvent {
    /// Seals a new event at `seq` after `prev_hash`.
    pub fn seal(event: &NewAuditEvent, seq: i64, prev_hash: &str) -> Self {
        let data = event.data.to_string();
        let hash = event_hash(
            prev_hash,
            seq,
            event.at_ms,
            &event.kind,
            &event.actor,
            &event.subject,
            &data,
        );
        Self {
            seq,
            at_ms: event.at_ms,
            kind: event.kind.clone(),
            actor: event.actor.clone(),
            subject: event.subject.clone(),
            data,
            prev_hash: prev_hash.to_string(),
            hash,
        }
    }

    fn recomputed_hash(&self) -> String {
        event_hash(
            &self.prev_hash,
            self.seq,
            self.at_ms,
            &self.kind,
            &self.actor,
            &self.subject,
            &self.data,
        )
    }
}

/// SHA-256 over the length-prefixed fields, hex.
pub fn event_hash(
    prev_hash: &str,
    seq: i64,
    at_ms: i64,
    kind: &str,
    actor: &str,
    subject: &str,
    data: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(b"inkan-audit-v1");
    for field in [
        prev_hash.as_bytes(),
        kind.as_bytes(),
        actor.as_bytes(),
        subject.as_bytes(),
        data.as_bytes(),
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    h.update(seq.to_be_bytes());
    h.update(at_ms.to_be_bytes());
    hex::encode(h.finalize())
}

/// Where and why the chain is broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditBreak {
    /// The first event that does not check out (or the expected seq of a missing one).
    pub seq: i64,
    /// What is wrong.
    pub reason: String,
}

/// Checks events one by one, in order.
#[derive(Debug)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
        }
    }
}

impl ChainVerifier {
    /// Checks the next event.
    pub fn push(&mut self, event: &AuditEvent) -> Result<(), AuditBreak> {
        let fail = |reason: &str| AuditBreak {
            seq: event.seq,
            reason: reason.into(),
        };
        if event.seq != self.next_seq {
            return Err(AuditBreak {
                seq: self.next_seq,
                reason: format!(
                    "event {} is missing (the next stored event is {})",
                    self.next_seq, event.seq
                ),
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(fail(
                "its prev_hash does not match the previous event's hash",
            ));
        }
        if event.recomputed_hash() != event.hash {
            return Err(fail("its content was changed after it was written"));
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&event.hash);
        Ok(())
    }

    /// How many events checked out.
    pub fn verified(&self) -> i64 {
        self.next_seq - 1
    }

    /// The hash of the last verified event.
    pub fn head(&self) -> &str {
        &self.prev_hash
    }
}

pub(crate) mod events;

#[cfg(test)]
mod tests;
