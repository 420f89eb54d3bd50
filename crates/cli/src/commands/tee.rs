//! `inkan tee …`: TA profiles, device models and device UIDs for TEE-style provisioning
//! (docs/tee.md), through the same service as `/v1/tee/*`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use inkan_authority::{DataDir, NewTaProfile, TeeRegistry};

use super::open_store;
use crate::output::table;
use crate::running::load_config;

#[derive(Debug, Subcommand)]
pub enum TeeCommand {
    /// TA profiles: the enrollment procedure packaged for devices (a fresh SK_CSR each version).
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Device models: each has a master from which its devices' unique keys derive.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Device UIDs registered by the manufacturer.
    #[command(subcommand)]
    Device(TeeDeviceCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Create version 1 of a TA profile.
    Create {
        /// Profile name (a-z, 0-9, -).
        name: String,
        /// Identity fields the TA reads into the CSR: serial, mac, imei (comma-separated).
        #[arg(long, value_delimiter = ',')]
        identity: Vec<String>,
        /// Key algorithm the TA generates: p256 or p384.
        #[arg(long, default_value = "p256")]
        key_algorithm: String,
        /// Certificate profile to issue under.
        #[arg(long, default_value = "tee")]
        certificate_profile: String,
    },
    /// Add the next version with a fresh SK_CSR; older versions stay accepted for --grace.
    Rotate {
        /// Profile name.
        name: String,
        /// How long older versions stay accepted (7d, 12h, 0s).
        #[arg(long, default_value = "7d", value_parser = parse_duration)]
        grace: Duration,
    },
    /// Revoke every version: the profile's trusted apps enroll nothing more.
    Revoke {
        /// Profile name.
        name: String,
    },
    /// List every version of every profile.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Create a device model with a fresh master (sealed in the database, never shown).
    Create {
        /// Model name (a-z, 0-9, -).
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeeDeviceCommand {
    /// Register a device UID and print its unique key SK_TEE (hex) for the factory to
    /// provision into the unit (`inkan agent keyd --device-key-file`).
    Add {
        /// The hardware UID.
        uid: String,
        /// Its model.
        #[arg(long)]
        model: String,
        /// For a unit with a TPM: its EK public area (a file from `inkan agent keyd ek`,
        /// `tpm2_createek -u` or `tpm2_readpublic -o`). Its TA is then sealed to that TPM, its
        /// certificate key lives there (level 3 under the tee-tpm profile), and no SK_TEE is made.
        #[arg(long, value_name = "FILE")]
        tpm_ek: Option<std::path::PathBuf>,
    },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    inkan_pki::duration_text::parse(text)
}

pub async fn run(data_dir: &DataDir, cmd: TeeCommand) -> anyhow::Result<()> {
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;
    let tee = TeeRegistry::new(store, Arc::new(data_dir.sealing_key()?));
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "admin".into())
    );
    match cmd {
        TeeCommand::Profile(ProfileCommand::Create {
            name,
            identity,
            key_algorithm,
            certificate_profile,
        }) => {
            let created = tee
                .create_profile(
                    &NewTaProfile {
                        name,
                        identity_fields: identity,
                        key_algorithm,
                        certificate_profile,
                    },
                    &config.profiles(),
                    &actor,
                )
                .await?;
            println!(
                "created TA profile {} version {} (identity: {}; key: {}; certificates: {})",
                created.name,
                created.version,
                shown_fields(&created.identity_fields),
                created.key_algorithm,
                created.certificate_profile
            );
        }
        TeeCommand::Profile(ProfileCommand::Rotate { name, grace }) => {
            let next = tee.rotate_profile(&name, grace, &actor).await?;
            println!(
                "TA profile {} is at version {}; older versions are accepted for {}",
                next.name,
                next.version,
                inkan_pki::duration_text::format(&grace)
            );
        }
        TeeCommand::Profile(ProfileCommand::Revoke { name }) => {
            tee.revoke_profile(&name, &actor).await?;
            println!("TA profile {name} revoked: its trusted apps enroll nothing more");
        }
        TeeCommand::Profile(ProfileCommand::List { json }) => {
            let profiles = tee.profiles().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&profiles)?);
            } else {
                let now = inkan_authority::unix_ms(time::OffsetDateTime::now_utc());
                let rows = profiles
                    .iter()
                    .map(|p| {
                        let state = match (p.revoked_at_ms, p.accepted_until_ms) {
                            (Some(_), _) => "revoked".to_string(),
                            (None, Some(until)) if until <= now => "retired".to_string(),
                            (None, Some(_)) => "grace".to_string(),
                            (None, None) => "current".to_string(),
                        };
                        vec![
                            p.name.clone(),
                            p.version.to_string(),
                            state,
                            shown_fields(&p.identity_fields),
                            p.key_algorithm.clone(),
                            p.certificate_profile.clone(),
                        ]
                    })
                    .collect::<Vec<_>>();
                table(
                    &[
                        "NAME",
                        "VERSION",
                        "STATE",
                        "IDENTITY",
                        "KEY",
                        "CERT PROFILE",
                    ],
                    &rows,
                );
            }
        }
        TeeCommand::Model(ModelCommand::Create { name }) => {
            let model = tee.create_model(&name, &actor).await?;
            println!("created model {}", model.name);
        }
        TeeCommand::Device(TeeDeviceCommand::Add { uid, model, tpm_ek }) => {
            let ek = tpm_ek
                .as_ref()
                .map(|path| {
                    std::fs::read(path).with_context(|| {
                        format!("cannot read the EK public area {}", path.display())
                    })
                })
                .transpose()?;
            let registered = tee
                .register_device(&uid, &model, ek.as_deref(), &actor)
                .await?;
            match registered.device_key {
                Some(key) => {
                    eprintln!(
                        "registered {} (model {}); its device key follows: write it into the unit (0600), it is not shown again",
                        registered.device.uid, registered.device.model
                    );
                    println!("{}", hex::encode(key));
                }
                None => println!(
                    "registered {} (model {}) with its TPM's EK: its TA is sealed to that TPM; run `inkan agent keyd enroll --tpm` on the unit",
                    registered.device.uid, registered.device.model
                ),
            }
        }
    }
    Ok(())
}

fn shown_fields(fields: &[String]) -> String {
    if fields.is_empty() {
        "-".into()
    } else {
        fields.join(",")
    }
}
