use clap::Subcommand;
use inkan_authority::{verify_audit, DataDir};

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

pub async fn run(data_dir: &DataDir, cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { json } = cmd;
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;
    let report = verify_audit(&*store).await?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    }
    match report.problem {
        Some(p) => anyhow::bail!("{p}; restore the database from a backup and investigate"),
        None => {
            if !json {
                println!(
                    "audit log intact: {} events, {} certificates cross-checked, head {}",
                    report.events_verified, report.certificates_checked, report.head
                );
            }
            Ok(())
        }
    }
}
