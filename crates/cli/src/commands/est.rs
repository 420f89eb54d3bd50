use inkan_authority::{generate_secret, hash_secret, unix_ms, DataDir};

use super::open_store;
use crate::cli::{EstCommand, EstSecretCommand};
use crate::running::load_config;

pub async fn run(data_dir: &DataDir, cmd: EstCommand) -> anyhow::Result<()> {
    match cmd {
        EstCommand::Secret(EstSecretCommand::Create { label, config }) => {
            let config = load_config(data_dir, config.as_deref())?;
            anyhow::ensure!(
                config.profile_for_label(&label).is_some(),
                "unknown EST label {label:?}: use a profile name ({}) or add [est.labels] to the configuration",
                config.profiles().keys().cloned().collect::<Vec<_>>().join(", ")
            );
            let store = open_store(data_dir, &config).await?;
            let secret = generate_secret();
            let phc = hash_secret(&secret)?;
            let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            store
                .set_est_secret(
                    &label,
                    &phc,
                    &format!("cli:{actor}"),
                    unix_ms(time::OffsetDateTime::now_utc()),
                )
                .await?;
            eprintln!("EST secret for label {label:?} (shown once; it replaces any previous one):");
            println!("{secret}");
            Ok(())
        }
    }
}
