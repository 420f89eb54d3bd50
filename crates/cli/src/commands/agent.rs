//! `inkan agent`: the device side — first-boot registration and renewal (TPM enrollment and the
//! proxy are in `agent_tpm`).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use inkan_agent::{register_device, renewal_due_in, AgentInfo, Bootstrap, DeviceState};
use inkan_pki::{certs_from_pem, CertificateInfo};

use crate::cli::{AgentCommand, AgentEnrollArgs, AgentRenewArgs};
use crate::output::rfc3339;

pub async fn run(cmd: AgentCommand) -> anyhow::Result<()> {
    match cmd {
        AgentCommand::Enroll(args) if args.tpm => {
            super::agent_tpm::enroll(super::agent_tpm::TpmEnrollArgs {
                authority: args.authority,
                ca_file: args.ca_file,
                out: args.out,
                tcti: args.tcti,
                handle: args.handle,
                name: args.name,
                json: args.json,
            })
            .await
        }
        AgentCommand::Enroll(args) => enroll(*args).await,
        AgentCommand::Renew(args) => renew(args).await,
        AgentCommand::Proxy(args) => super::agent_tpm::proxy(args).await,
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn bootstrap(args: &AgentEnrollArgs) -> anyhow::Result<Bootstrap> {
    if let Some(key_file) = &args.psk_key_file {
        let text = String::from_utf8(read(key_file)?).context("the PSK key file is not text")?;
        let device_key = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .with_context(|| {
                format!(
                    "{} must hold the base64 key from `inkan product psk derive`",
                    key_file.display()
                )
            })?;
        return Ok(Bootstrap::Psk {
            product: args.product.clone().unwrap_or_default(),
            registration_id: args.registration_id.clone().unwrap_or_default(),
            device_key,
        });
    }
    let path = args.bootstrap.as_ref().context(
        "say how this unit proves its product: --bootstrap product.p12 (or product.pem with --bootstrap-key), or --psk-key-file with --product and --registration-id",
    )?;
    let bytes = read(path)?;
    if bytes.starts_with(b"-----BEGIN") {
        let key_path = args
            .bootstrap_key
            .as_ref()
            .context("a PEM --bootstrap needs its key: --bootstrap-key product.key")?;
        let key = String::from_utf8(read(key_path)?).context("the key file is not PEM")?;
        let chain = String::from_utf8(bytes).context("the certificate file is not PEM")?;
        return Ok(Bootstrap::from_pem(&chain, &key)?);
    }
    let passphrase = match &args.bootstrap_passphrase_file {
        Some(file) => crate::running::passphrase_line(file)?,
        None => std::env::var("INKAN_P12_PASSPHRASE").context(
            "a PKCS#12 --bootstrap needs its passphrase: --bootstrap-passphrase-file FILE or INKAN_P12_PASSPHRASE",
        )?,
    };
    Ok(Bootstrap::from_pkcs12(&bytes, &passphrase)?)
}

fn device_info(pairs: &[String]) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut info = serde_json::Map::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--info {pair:?}: use KEY=VALUE, e.g. serial=SN-0001"))?;
        info.insert(
            key.to_string(),
            serde_json::Value::String(value.to_string()),
        );
    }
    Ok(info)
}

async fn enroll(args: AgentEnrollArgs) -> anyhow::Result<()> {
    let roots_pem = String::from_utf8(read(&args.ca_file)?).context("--ca-file is not PEM")?;
    let roots = certs_from_pem(roots_pem.as_bytes())?;
    anyhow::ensure!(
        !roots.is_empty(),
        "{} holds no certificate: pass the authority's root.pem",
        args.ca_file.display()
    );
    let bootstrap = bootstrap(&args)?;
    let info = device_info(&args.info)?;
    let state = DeviceState::new(&args.out);
    let key = state.key_or_create()?;
    let registered = register_device(&args.authority, &roots, &bootstrap, &key, info)
        .await
        .context("registration failed")?;
    state.save(
        &AgentInfo {
            authority: args.authority.clone(),
            device_id: registered.device_id.clone(),
        },
        &roots,
        &registered.chain,
    )?;
    let leaf = CertificateInfo::parse(&registered.chain[0])?;
    println!("registered device {}", registered.device_id);
    println!(
        "  certificate  {} (serial {})",
        state.cert_path().display(),
        registered.serial
    );
    println!(
        "  key          {} (0600, made here, never sent)",
        state.key_path().display()
    );
    println!("  valid until  {}", rfc3339(leaf.not_after));
    println!(
        "renew with `inkan agent renew --dir {}` (or keep `--watch` running)",
        state.dir().display()
    );
    Ok(())
}

async fn renew(args: AgentRenewArgs) -> anyhow::Result<()> {
    let state = DeviceState::new(&args.dir);
    let mut force = args.force;
    loop {
        let chain = state.chain()?;
        let current = CertificateInfo::parse(&chain[0])?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let due_in = renewal_due_in(current.not_before, current.not_after, now);
        if !force && !due_in.is_zero() {
            if !args.watch {
                println!(
                    "not due: {} is valid until {}; renewal is due at {}",
                    current.serial,
                    rfc3339(current.not_after),
                    rfc3339(now + i64::try_from(due_in.as_secs()).unwrap_or(i64::MAX))
                );
                return Ok(());
            }
            tracing::info!(serial = %current.serial, due_in_secs = due_in.as_secs(), "waiting to renew");
            tokio::select! {
                _ = tokio::time::sleep(due_in) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
        force = false;
        match state.renew().await {
            Ok(renewed) => {
                println!(
                    "renewed: serial {} valid until {}",
                    renewed.serial,
                    rfc3339(renewed.not_after)
                );
                if !args.watch {
                    return Ok(());
                }
            }
            Err(e) if args.watch => {
                // Keep trying while the current certificate lives; a minute apart.
                eprintln!("renewal failed ({e}); retrying in 60 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
                force = true;
            }
            Err(e) => return Err(anyhow::Error::new(e).context("renewal failed")),
        }
    }
}
