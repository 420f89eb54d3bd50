//! Verifies the audit log: recomputes the hash chain from the first event and cross-checks every
//! issued certificate against its `certificate.issued` event. One service for `inkan audit
//! verify` and the console.

use std::collections::HashMap;

use inkan_store::{ChainVerifier, Store};

use crate::AuthorityError;

const PAGE: i64 = 5000;

/// What a verification found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditReport {
    /// Whether the chain and the certificates check out.
    pub ok: bool,
    /// Events whose hashes were recomputed.
    pub events_verified: i64,
    /// Certificates cross-checked against their events.
    pub certificates_checked: u64,
    /// The hash of the last verified event.
    pub head: String,
    /// What is wrong, when something is.
    pub problem: Option<String>,
}

/// Verifies the whole audit log of `store`.
pub async fn verify_audit(store: &dyn Store) -> Result<AuditReport, AuthorityError> {
    let mut verifier = ChainVerifier::default();
    let mut issued: HashMap<i64, String> = HashMap::new();
    let mut problem: Option<String> = None;
    let mut after = 0;
    'pages: loop {
        let events = store.audit_events(after, PAGE).await?;
        let Some(last) = events.last() else { break };
        after = last.seq;
        for event in &events {
            if let Err(b) = verifier.push(event) {
                problem = Some(format!("audit log broken at event {}: {}", b.seq, b.reason));
                break 'pages;
            }
            if event.kind == "certificate.issued" {
                issued.insert(event.seq, event.subject.clone());
            }
        }
    }
    let mut certificates = 0u64;
    if problem.is_none() {
        let mut cursor = 0;
        'certs: loop {
            let refs = store.issued_refs(cursor, PAGE).await?;
            let Some(last) = refs.last() else { break };
            cursor = last.audit_seq;
            for r in &refs {
                certificates += 1;
                if issued.get(&r.audit_seq) != Some(&r.serial) {
                    problem = Some(format!(
                        "certificate {} has no matching certificate.issued event (expected at event {})",
                        r.serial, r.audit_seq
                    ));
                    break 'certs;
                }
            }
        }
    }
    Ok(AuditReport {
        ok: problem.is_none(),
        events_verified: verifier.verified(),
        certificates_checked: certificates,
        head: verifier.head().to_string(),
        problem,
    })
}
