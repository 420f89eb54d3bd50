//! One file per command family.

mod account;
mod admin;
mod agent;
mod agent_attest;
mod agent_card;
mod agent_keyd;
mod agent_link;
pub mod agent_tpm;
mod audit;
mod bench;
mod ca;
mod cert;
pub mod cert_verify;
mod db;
mod device;
mod est;
mod gateway;
mod product;
mod quickstart;
mod segment;
mod serve;
mod tee;

use std::sync::Arc;

use anyhow::Context;
use inkan_authority::{Config, DataDir};
use inkan_store::Store;

use crate::cli::{Cli, Command};

pub use account::AccountCommand;
pub use admin::AdminCommand;
pub use agent::AgentCommand;
pub use audit::AuditCommand;
pub use bench::BenchCommand;
pub use ca::CaCommand;
pub use cert::CertCommand;
pub use db::DbCommand;
pub use device::DeviceCommand;
pub use est::EstCommand;
pub use gateway::GatewayArgs;
pub use product::ProductCommand;
pub use quickstart::QuickstartArgs;
pub use segment::{PinCommand, SegmentCommand};
pub use serve::ServeArgs;
pub use tee::TeeCommand;

/// Runs the parsed command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let data_dir = DataDir::new(&cli.data_dir).with_database_url(cli.database_url.clone());
    match cli.command {
        Command::Quickstart(args) => quickstart::run(&data_dir, args).await,
        Command::Serve(args) => serve::run(&data_dir, args).await,
        Command::Gateway(args) => gateway::run(&data_dir, args).await,
        Command::Ca(cmd) => ca::run(&data_dir, cmd).await,
        Command::Cert(cmd) => cert::run(&data_dir, cmd).await,
        Command::Product(cmd) => product::run(&data_dir, cmd).await,
        Command::Device(cmd) => device::run(&data_dir, cmd).await,
        Command::Tee(cmd) => tee::run(&data_dir, cmd).await,
        Command::Segment(cmd) => segment::run(&data_dir, cmd).await,
        Command::Pin(cmd) => segment::run_pin(&data_dir, cmd).await,
        Command::Account(cmd) => account::run(&data_dir, cmd).await,
        Command::Agent(cmd) => agent::run(cmd).await,
        Command::Est(cmd) => est::run(&data_dir, cmd).await,
        Command::Admin(cmd) => admin::run(&data_dir, cmd).await,
        Command::Audit(cmd) => audit::run(&data_dir, cmd).await,
        Command::Db(cmd) => db::run(&data_dir, cmd).await,
        Command::Bench(cmd) => bench::run(&data_dir, cmd).await,
    }
}

/// Opens the store an admin command works on (the data directory's, or the configured URL).
async fn open_store(data_dir: &DataDir, config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    anyhow::ensure!(
        data_dir.root().exists(),
        "data directory {} does not exist: run `inkan ca init` (or `inkan quickstart`) first, or pass --data-dir",
        data_dir.root().display()
    );
    let url = data_dir.resolve_database_url(config);
    inkan_store::open(&url, &config.database.options())
        .await
        .with_context(|| format!("opening the database {}", inkan_store::redact(&url)))
}
