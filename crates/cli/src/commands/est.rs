use std::path::PathBuf;

use clap::Subcommand;
use inkan_authority::{Credentials, DataDir};

use super::open_store;
use crate::running::load_config;

#[derive(Debug, Subcommand)]
pub enum EstCommand {
    /// Manage enrollment secrets (HTTP Basic passwords per EST label).
    #[command(subcommand)]
    Secret(EstSecretCommand),
}

#[derive(Debug, Subcommand)]
pub enum EstSecretCommand {
    /// Create (or replace) the secret of LABEL; prints it once, as the last line.
    Create {
        /// The EST label (a profile name, or a label from the configuration).
        label: String,
        /// Configuration file (to check the label exists).
        #[arg(long, env = "INKAN_CONFIG")]
        config: Option<PathBuf>,
    },
}

pub async fn run(data_dir: &DataDir, cmd: EstCommand) -> anyhow::Result<()> {
    match cmd {
        EstCommand::Secret(EstSecretCommand::Create { label, config }) => {
            let config = load_config(data_dir, config.as_deref())?;
            // Refuses unknown labels and the profiles no EST secret may reach (product, admin,
            // tpm), saying why.
            if let Err(why) = config.est_label(&label) {
                anyhow::bail!("{why}");
            }
            let store = open_store(data_dir, &config).await?;
            let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let secret = Credentials::new(store)
                .create_est_secret(&label, &format!("cli:{actor}"))
                .await?;
            eprintln!("EST secret for label {label:?} (shown once; it replaces any previous one):");
            println!("{secret}");
            Ok(())
        }
    }
}
