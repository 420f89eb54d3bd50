//! `inkan agent`: the device side — first-boot registration and renewal (TPM enrollment and the
//! proxy are in `agent_tpm`).

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use clap::{Args, Subcommand};
use inkan_agent::{register_device, renewal_due_in, AgentInfo, Bootstrap, DeviceState};
use inkan_pki::{certs_from_pem, CertificateInfo};

use crate::output::rfc3339;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// First boot: make a device key, register with the product's bootstrap credential and
    /// store the device's own certificate.
    Enroll(Box<AgentEnrollArgs>),
    /// Renew the device certificate (EST simplereenroll) when two thirds of its life are over.
    Renew(AgentRenewArgs),
    /// Forward plain local HTTP to an https:// upstream, authenticating with the device's
    /// certificate and key (--tpm: the key stays in the TPM).
    Proxy(crate::commands::agent_tpm::AgentProxyArgs),
    /// The key service: play a TA profile's trusted app (TEE-style provisioning, docs/tee.md).
    #[command(subcommand)]
    Keyd(crate::commands::agent_keyd::KeydCommand),
    /// Signed statements by an application's key in the key service (RFC 9711 EAT).
    #[command(subcommand)]
    Attest(crate::commands::agent_attest::AttestCommand),
    /// The account this device anchors (its level-3 certificate is the trust anchor).
    #[command(subcommand)]
    Account(crate::commands::agent_link::AccountCommand),
    /// Link the owner's other devices to the anchor's account, and log them in.
    #[command(subcommand)]
    Link(crate::commands::agent_link::LinkCommand),
    /// On the anchor: list the logins waiting for approval, or approve them.
    Approve(crate::commands::agent_link::ApproveArgs),
    /// On the anchor: let a deputy device approve the account's other logins for a while
    /// (the anchor will be out of reach), or end that.
    Delegate(crate::commands::agent_link::DelegateArgs),
    /// Read cards for a gateway's login page: answers http://127.0.0.1:PORT/card for that
    /// origin only.
    Card(crate::commands::agent_card::AgentCardArgs),
}

#[derive(Debug, Args)]
pub struct AgentEnrollArgs {
    /// The authority, https://HOST:PORT.
    #[arg(long, env = "INKAN_AUTHORITY")]
    pub authority: String,
    /// Trust anchor(s) for the authority's TLS certificate (PEM), e.g. the CA's root.pem.
    #[arg(long)]
    pub ca_file: PathBuf,
    /// The product's bootstrap credential: product.p12 (PKCS#12) or product.pem (then also
    /// --bootstrap-key).
    #[arg(long, conflicts_with_all = ["psk_key_file", "tpm"])]
    pub bootstrap: Option<PathBuf>,
    /// The ProductCert key (PEM), with a PEM --bootstrap.
    #[arg(long)]
    pub bootstrap_key: Option<PathBuf>,
    /// File with the passphrase of a PKCS#12 --bootstrap (first line). Or INKAN_P12_PASSPHRASE.
    #[arg(long)]
    pub bootstrap_passphrase_file: Option<PathBuf>,
    /// File with this unit's PSK device key (base64, from `inkan product psk derive`).
    #[arg(long, requires_all = ["product", "registration_id"], conflicts_with = "tpm")]
    pub psk_key_file: Option<PathBuf>,
    /// Product name or id (PSK registration).
    #[arg(long)]
    pub product: Option<String>,
    /// This unit's registration id (PSK registration).
    #[arg(long)]
    pub registration_id: Option<String>,
    /// Device attribute kept in the registry (not the certificate), e.g. --info serial=SN-1.
    #[arg(long = "info", value_name = "KEY=VALUE")]
    pub info: Vec<String>,
    /// Enroll a key created inside this machine's TPM 2.0, proven by its endorsement key
    /// (EK certificate → credential activation → TPM2_Certify): a level-3 certificate.
    #[arg(long)]
    pub tpm: bool,
    /// TPM to use (TCTI): device:/dev/tpmrm0, tabrmd:bus_type=system, swtpm:host=H,port=P.
    /// Default: $TPM2TOOLS_TCTI, $TCTI, else device:/dev/tpmrm0.
    #[arg(long, requires = "tpm")]
    pub tcti: Option<String>,
    /// Persistent handle for the new TPM key (must be free).
    #[arg(long, requires = "tpm", default_value = "0x81000101")]
    pub handle: String,
    /// Common name asked for in the TPM-bound certificate (default: this machine's host name).
    #[arg(long, requires = "tpm")]
    pub name: Option<String>,
    /// State directory: device.key (0600), device.pem, ca.pem, agent.json — or, with --tpm,
    /// chain.pem, tpm-key.json and the key's TPM blobs (which only load in this TPM).
    #[arg(long, default_value = "inkan-agent")]
    pub out: PathBuf,
    /// Machine-readable output (--tpm).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AgentRenewArgs {
    /// State directory written by `inkan agent enroll`.
    #[arg(long, default_value = "inkan-agent")]
    pub dir: PathBuf,
    /// Renew now, whatever the remaining lifetime.
    #[arg(long)]
    pub force: bool,
    /// Keep running: renew every time two thirds of the certificate's life are over.
    #[arg(long)]
    pub watch: bool,
}

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
        AgentCommand::Keyd(cmd) => super::agent_keyd::run(cmd).await,
        AgentCommand::Attest(cmd) => super::agent_attest::run(cmd).await,
        AgentCommand::Account(cmd) => super::agent_link::account(cmd).await,
        AgentCommand::Link(cmd) => super::agent_link::link(cmd).await,
        AgentCommand::Approve(args) => super::agent_link::approve(args).await,
        AgentCommand::Delegate(args) => super::agent_link::delegate(args).await,
        AgentCommand::Card(args) => super::agent_card::run(args).await,
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
