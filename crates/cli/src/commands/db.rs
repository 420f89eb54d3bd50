//! `inkan db`: moving the authority's database.

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use inkan_authority::DataDir;
use inkan_store::{copy_to_postgres, redact, PgStore, SqliteStore};
use serde_json::json;

use crate::running::load_config;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy this authority's SQLite database into an empty PostgreSQL database (or schema):
    /// every record, the audit chain byte for byte, in one transaction, verified before it
    /// commits. Writers on the SQLite file wait until the copy is done; stop the authority
    /// first, then start every replica with the new URL (docs/deployment.md).
    MigrateTo {
        /// The target: postgres://USER@HOST:PORT/DATABASE (add ?schema=NAME for a schema of
        /// its own, ?sslmode=verify-full&sslrootcert=FILE for TLS).
        url: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(data_dir: &DataDir, cmd: DbCommand) -> anyhow::Result<()> {
    let DbCommand::MigrateTo { url, json } = cmd;
    let config = load_config(data_dir, None)?;
    // The source is the configured database, never the target named on the command line.
    let source_url = data_dir
        .clone()
        .with_database_url(None)
        .resolve_database_url(&config);
    let Some(path) = source_url.strip_prefix("sqlite:") else {
        anyhow::bail!(
            "this authority's database is {}, not SQLite: migrate-to copies a SQLite authority; \
             copy PostgreSQL with pg_dump",
            redact(&source_url)
        );
    };
    let path = std::path::Path::new(path.trim_start_matches("//"));
    anyhow::ensure!(
        path.exists(),
        "no database at {}: run `inkan ca init` (or pass --data-dir) first",
        path.display()
    );
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        anyhow::bail!("the target must be a postgres:// URL, not {}", redact(&url));
    }
    let source = SqliteStore::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let target = PgStore::open(&url, &config.database.options())
        .await
        .with_context(|| format!("connecting to {}", redact(&url)))?;
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let report = copy_to_postgres(&source, &target, |table, rows| {
        bar.set_message(format!("{table}: {rows} rows"));
        bar.tick();
    })
    .await
    .context("copying to PostgreSQL (nothing was committed)")?;
    bar.finish_and_clear();
    if json {
        let tables: serde_json::Map<String, serde_json::Value> = report
            .tables
            .iter()
            .map(|t| (t.table.to_string(), json!(t.rows)))
            .collect();
        println!(
            "{}",
            json!({
                "target": redact(&url),
                "tables": tables,
                "audit_events_verified": report.audit_events,
                "audit_head": report.audit_head,
            })
        );
        return Ok(());
    }
    for t in &report.tables {
        println!("{:>20}  {} rows", t.table, t.rows);
    }
    println!(
        "copied and verified: {} audit events chained to head {}",
        report.audit_events, report.audit_head
    );
    println!(
        "next: set database_url = \"{}\" in inkan.toml (or INKAN_DATABASE_URL) on every replica, \
         and keep {} as the last SQLite backup",
        redact(&url),
        path.display()
    );
    Ok(())
}
