//! The top-level command line: global options and the command families. Each family's
//! arguments live beside its handler in `commands/`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::{
    AdminCommand, AgentCommand, AuditCommand, BenchCommand, CaCommand, CertCommand, DbCommand,
    DeviceCommand, EstCommand, GatewayArgs, ProductCommand, QuickstartArgs, ServeArgs, TeeCommand,
};

/// inkan — device identity without passwords: an online CA with EST enrollment.
#[derive(Debug, Parser)]
#[command(name = "inkan", version, propagate_version = true)]
pub struct Cli {
    /// Data directory: CA files, database, configuration.
    #[arg(
        long,
        global = true,
        env = "INKAN_DATA_DIR",
        default_value = "./inkan-data"
    )]
    pub data_dir: PathBuf,
    /// The database: sqlite:PATH (default: inkan.db in the data directory) or
    /// postgres://USER@HOST:PORT/DATABASE (several replicas on one database; docs/deployment.md).
    /// Overrides `database_url` in the configuration.
    #[arg(
        long,
        global = true,
        env = "INKAN_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// More log output on stderr (-v, -vv). INKAN_LOG=... sets a filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything on this machine for a first look: CA, authority, one enrolled demo device.
    Quickstart(QuickstartArgs),
    /// Run the authority: EST enrollment over HTTPS.
    Serve(ServeArgs),
    /// Run the authenticating reverse proxy in front of existing web services.
    Gateway(GatewayArgs),
    /// Create and inspect the certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Product lines: a ProductCert per product bootstraps each unit's own certificate.
    #[command(subcommand)]
    Product(ProductCommand),
    /// Devices registered by their products.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// TEE-style provisioning: TA profiles, device models, device UIDs (docs/tee.md).
    #[command(subcommand)]
    Tee(TeeCommand),
    /// Card segments (docs/cards.md): departments whose members log in with an IC card and a
    /// PIN derived from it; their salts and yearly rotation.
    #[command(subcommand)]
    Segment(crate::commands::SegmentCommand),
    /// Card PINs: print the PIN of a card in a segment (stored nowhere).
    #[command(subcommand)]
    Pin(crate::commands::PinCommand),
    /// Accounts and linked devices (docs/linking.md): anchors, devices, recovery.
    #[command(subcommand)]
    Account(crate::commands::AccountCommand),
    /// The device side: enrollment (product bootstrap, PSK or TPM attestation), renewal, and a
    /// local proxy that adds the device's client certificate.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Inspect issued certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// EST enrollment settings.
    #[command(subcommand)]
    Est(EstCommand),
    /// Administrator credentials for the /v1 API.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Check the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The authority's database: move a SQLite authority to PostgreSQL.
    #[command(subcommand)]
    Db(DbCommand),
    /// Load generators that measure a running authority.
    #[command(subcommand)]
    Bench(BenchCommand),
}

impl Command {
    /// True for commands that serve or hold network connections for long (servers, the agent's
    /// renewal loop and proxy, load generators): they must survive a peer closing its socket.
    pub fn talks_to_peers(&self) -> bool {
        matches!(
            self,
            Self::Quickstart(_)
                | Self::Serve(_)
                | Self::Gateway(_)
                | Self::Agent(_)
                | Self::Bench(_)
        )
    }
}
