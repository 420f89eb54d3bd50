use std::collections::HashMap;

use clap::Subcommand;
use inkan_authority::DataDir;
use inkan_store::ChainVerifier;
use serde_json::json;

use super::open_store;
use crate::running::load_config;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and cross-check issued certificates; exit 1 if broken.
    Verify {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

const PAGE: i64 = 5000;

pub async fn run(data_dir: &DataDir, cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { json } = cmd;
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;

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
                let (serial, seq) = (&r.serial, r.audit_seq);
                certificates += 1;
                if issued.get(&seq) != Some(serial) {
                    problem = Some(format!(
                        "certificate {serial} has no matching certificate.issued event (expected at event {seq})"
                    ));
                    break 'certs;
                }
            }
        }
    }
    if json {
        println!(
            "{}",
            json!({
                "ok": problem.is_none(),
                "events_verified": verifier.verified(),
                "certificates_checked": certificates,
                "head": verifier.head(),
                "problem": problem,
            })
        );
    }
    match problem {
        Some(p) => anyhow::bail!("{p}; restore the database from a backup and investigate"),
        None => {
            if !json {
                println!(
                    "audit log intact: {} events, {} certificates cross-checked, head {}",
                    verifier.verified(),
                    certificates,
                    verifier.head()
                );
            }
            Ok(())
        }
    }
}
