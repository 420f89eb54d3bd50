use std::path::PathBuf;

use clap::Subcommand;
use inkan_authority::{Credentials, DataDir};

use super::open_store;
use crate::output::{rfc3339, table};
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
    /// List the labels that have a secret, and when each was set (never the secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke the secret of LABEL: its clients cannot enroll with it (a running authority
    /// notices within 2 s) until a new one is made. Certificates already issued stay valid
    /// (revoke those with `inkan cert revoke`).
    Revoke {
        /// The EST label.
        label: String,
    },
}

pub async fn run(data_dir: &DataDir, cmd: EstCommand) -> anyhow::Result<()> {
    match cmd {
        EstCommand::Secret(EstSecretCommand::Create { label, config }) => {
            let config = load_config(data_dir, config.as_deref())?;
            let store = open_store(data_dir, &config).await?;
            // Refuses unknown labels and the profiles no EST secret may reach (product, admin,
            // tpm), saying why.
            let secret = Credentials::new(store)
                .create_est_secret(&config, &label, &actor())
                .await?;
            eprintln!("EST secret for label {label:?} (shown once; it replaces any previous one):");
            println!("{secret}");
            Ok(())
        }
        EstCommand::Secret(EstSecretCommand::List { json }) => {
            let credentials = credentials(data_dir).await?;
            let secrets = credentials.est_secrets().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&secrets)?);
            } else if secrets.is_empty() {
                eprintln!("no EST secrets: make one with `inkan est secret create LABEL`");
            } else {
                let rows: Vec<Vec<String>> = secrets
                    .iter()
                    .map(|s| vec![s.label.clone(), rfc3339(s.created_at_ms / 1000)])
                    .collect();
                table(&["LABEL", "SET AT"], &rows);
            }
            Ok(())
        }
        EstCommand::Secret(EstSecretCommand::Revoke { label }) => {
            if !credentials(data_dir)
                .await?
                .revoke_est_secret(&label, &actor())
                .await?
            {
                anyhow::bail!("label {label:?} has no EST secret: `inkan est secret list` shows those that do");
            }
            println!("revoked the EST secret of {label:?}");
            Ok(())
        }
    }
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "cli".into())
    )
}

async fn credentials(data_dir: &DataDir) -> anyhow::Result<Credentials> {
    let config = load_config(data_dir, None)?;
    Ok(Credentials::new(open_store(data_dir, &config).await?))
}
