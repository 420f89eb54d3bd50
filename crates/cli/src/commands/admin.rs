use base64::Engine;
use inkan_authority::{unix_ms, DataDir};
use rand::RngCore;

use super::open_store;
use crate::cli::{AdminCommand, AdminTokenCommand};
use crate::running::load_config;

pub async fn run(data_dir: &DataDir, cmd: AdminCommand) -> anyhow::Result<()> {
    let AdminCommand::Token(AdminTokenCommand::Create { name }) = cmd;
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!(
        "inkan_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    store
        .create_admin_token(
            &inkan_pki::sha256_hex(token.as_bytes()),
            &name,
            &format!("cli:{actor}"),
            unix_ms(time::OffsetDateTime::now_utc()),
        )
        .await?;
    eprintln!("admin token {name:?} (shown once; send it as Authorization: Bearer ...):");
    println!("{token}");
    Ok(())
}
