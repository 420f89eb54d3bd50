//! `inkan account …`: accounts and their linked devices, as an administrator sees them
//! (docs/linking.md): list and show, bind a replacement anchor, remove a lost one, unlink.

use anyhow::Context;
use clap::Subcommand;
use inkan_authority::{AccountRegistry, DataDir};

use super::open_store;
use crate::output::table;
use crate::running::load_config;

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// List the accounts.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show an account: its anchors, linked devices and delegations.
    Show {
        /// Account id.
        id: String,
    },
    /// Anchors: bind a replacement phone's certificate, or remove a lost one.
    #[command(subcommand)]
    Anchor(AnchorCommand),
    /// End the account's open delegation (its deputy device is lost).
    EndDelegation {
        /// Account id.
        id: String,
    },
    /// Unlink a device (its certificates are revoked).
    Unlink {
        /// Account id.
        id: String,
        /// The device's registration number.
        registration: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AnchorCommand {
    /// Bind the key of a valid level-3 certificate (`inkan cert list`) as an anchor.
    Add {
        /// Account id.
        id: String,
        /// The certificate's serial (hex).
        #[arg(long)]
        serial: String,
    },
    /// Remove an anchor by its key hash (`inkan account show`). For a lost phone, also revoke
    /// its certificate with `inkan cert revoke SERIAL --cascade`: what it approved goes too.
    Remove {
        /// Account id.
        id: String,
        /// The anchor key's SHA-256 (hex).
        #[arg(long)]
        key_sha256: String,
    },
}

pub async fn run(data_dir: &DataDir, cmd: AccountCommand) -> anyhow::Result<()> {
    let config = load_config(data_dir, None)?;
    let accounts = AccountRegistry::new(open_store(data_dir, &config).await?);
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "admin".into())
    );
    match cmd {
        AccountCommand::List { json } => {
            let listed = accounts.accounts().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else {
                let rows: Vec<Vec<String>> = listed
                    .iter()
                    .map(|a| vec![a.id.clone(), a.name.clone(), a.max_devices.to_string()])
                    .collect();
                table(&["ID", "NAME", "MAX DEVICES"], &rows);
            }
        }
        AccountCommand::Show { id } => {
            let details = accounts.show(&id).await?;
            println!("{}", serde_json::to_string_pretty(&details)?);
        }
        AccountCommand::EndDelegation { id } => {
            if accounts.end_delegation(&id, &actor).await? {
                println!("the open delegation of {id} ended");
            } else {
                anyhow::bail!(
                    "account {id} has no open delegation (see `inkan account show {id}`)"
                );
            }
        }
        AccountCommand::Anchor(AnchorCommand::Add { id, serial }) => {
            let serial = serial.replace(':', "").to_ascii_lowercase();
            let anchor = accounts
                .add_anchor(&id, &serial, &actor)
                .await
                .with_context(|| format!("binding certificate {serial} to account {id}"))?;
            println!(
                "certificate {} (key {}) anchors account {id}",
                anchor.serial, anchor.spki_sha256
            );
        }
        AccountCommand::Anchor(AnchorCommand::Remove { id, key_sha256 }) => {
            accounts.remove_anchor(&id, &key_sha256, &actor).await?;
            println!("key {key_sha256} no longer anchors account {id}");
        }
        AccountCommand::Unlink { id, registration } => {
            let revoked = accounts.unlink(&id, &registration, &actor).await?;
            println!(
                "unlinked {registration}; revoked {} certificate(s)",
                revoked.len()
            );
        }
    }
    Ok(())
}
