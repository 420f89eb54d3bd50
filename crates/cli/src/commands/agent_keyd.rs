//! `inkan agent keyd …`: the key service playing a TA profile's trusted app (docs/tee.md).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use inkan_agent::keyd::{enroll, KeydOptions, TpmUnit, UnitSecret};
use inkan_pki::certs_from_pem;

#[derive(Debug, Subcommand)]
pub enum KeydCommand {
    /// Fetch this device's TA from the TAM, make a key, and enroll it with a CSR the TA
    /// MAC'd: no human in the loop. Run it again to renew (a new key, a new certificate).
    Enroll {
        #[command(flatten)]
        ta: TaArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Serve applications on a Unix socket: each asks for a certificate of its own and for
    /// signatures with its key, which only it (its uid and executable) may use afterwards.
    Serve {
        #[command(flatten)]
        ta: TaArgs,
        /// The socket (mode 0666: access is decided by each peer's credentials).
        #[arg(long, default_value = "/run/inkan-keyd.sock")]
        socket: PathBuf,
    },
    /// As an application: ask the key service for a key and certificate of this program's own
    /// (again: renew), and print the certificate chain (PEM).
    Request(RequestArgs),
    /// Write this unit's TPM endorsement key public area (TPMT_PUBLIC), for the manufacturer
    /// to register the unit with: `inkan tee device add UID --model M --tpm-ek FILE`.
    Ek {
        /// The TPM (TCTI); empty: $TPM2TOOLS_TCTI, $TCTI, else device:/dev/tpmrm0.
        #[arg(long, value_name = "TCTI", default_value = "")]
        tpm: String,
        /// Where to write it.
        #[arg(long, default_value = "ek.pub")]
        out: PathBuf,
    },
}

/// An application's request to the key service.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The key service's socket.
    #[arg(long, default_value = "/run/inkan-keyd.sock")]
    pub socket: PathBuf,
    /// The key's name (a-z, 0-9, -).
    #[arg(long)]
    pub key: String,
    /// Print the key's current certificate instead of enrolling a new one.
    #[arg(long)]
    pub show: bool,
}

/// What the trusted app needs: the authority, the device's identity and unique key.
#[derive(Debug, Args)]
pub struct TaArgs {
    /// The authority, https://HOST:PORT.
    #[arg(long, env = "INKAN_AUTHORITY")]
    pub authority: String,
    /// Trust anchor(s) for the authority's TLS certificate (PEM), e.g. the CA's root.pem.
    #[arg(long)]
    pub ca_file: PathBuf,
    /// This device's hardware UID.
    #[arg(long)]
    pub uid: String,
    /// File with this device's unique key SK_TEE (64 hex characters, from `inkan tee device
    /// add`); it must not be readable by others.
    #[arg(long, required_unless_present = "tpm", conflicts_with = "tpm")]
    pub device_key_file: Option<PathBuf>,
    /// This unit has a TPM (registered by its EK): its TA is sealed to the TPM and every key is
    /// created in it. The value is the TCTI; empty: $TPM2TOOLS_TCTI, $TCTI, else
    /// device:/dev/tpmrm0.
    #[arg(long, value_name = "TCTI", num_args = 0..=1, default_missing_value = "")]
    pub tpm: Option<String>,
    /// The TA profile to run.
    #[arg(long)]
    pub profile: String,
    /// An identity field the TA reads, FIELD=VALUE (serial, mac, imei), or FIELD=@FILE to read
    /// the first line of a file (e.g. mac=@/sys/class/net/eth0/address).
    #[arg(long = "identity", value_name = "FIELD=VALUE")]
    pub identity: Vec<String>,
    /// State directory: ta-bundle.json (sealed, 0600), device.key (0600; with --tpm
    /// device.tpm.json, the TPM-wrapped key), device.pem, ca.pem (`serve`: one such directory
    /// per application under apps/).
    #[arg(long, default_value = "inkan-keyd")]
    pub out: PathBuf,
}

pub async fn run(cmd: KeydCommand) -> anyhow::Result<()> {
    match cmd {
        KeydCommand::Enroll { ta, json } => enroll_command(ta, json).await,
        KeydCommand::Request(args) => {
            let op = if args.show { "certificate" } else { "enroll" };
            let answer = inkan_agent::keyd::call(
                &args.socket,
                &serde_json::json!({"op": op, "key": args.key}),
            )
            .await?;
            print!("{}", answer["certificate"].as_str().unwrap_or_default());
            Ok(())
        }
        KeydCommand::Ek { tpm, out } => {
            let ek = TpmUnit::open(&tcti(&tpm))?.ek_public()?;
            std::fs::write(&out, &ek).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "wrote the EK public area to {}: register the unit with `inkan tee device add UID --model M --tpm-ek {}`",
                out.display(),
                out.display()
            );
            Ok(())
        }
        KeydCommand::Serve { ta, socket } => {
            let options = options(ta)?;
            let listener = inkan_agent::keyd::bind(&socket)?;
            println!("keyd listening on {}", socket.display());
            tokio::select! {
                served = inkan_agent::keyd::serve(listener, options) => served?,
                _ = tokio::signal::ctrl_c() => {}
            }
            let _ = std::fs::remove_file(&socket);
            Ok(())
        }
    }
}

/// `value`, or when empty the TCTI tpm2-tools would use.
fn tcti(value: &str) -> String {
    if !value.is_empty() {
        return value.to_string();
    }
    ["TPM2TOOLS_TCTI", "TCTI"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "device:/dev/tpmrm0".to_string())
}

fn device_key(path: &PathBuf) -> anyhow::Result<[u8; 32]> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        anyhow::bail!(
            "{} is readable by others: chmod 600 it (it holds the device's unique key)",
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    hex::decode(text.trim())
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .with_context(|| {
            format!(
                "{} must hold 64 hex characters (from `inkan tee device add`)",
                path.display()
            )
        })
}

fn identity(items: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| {
            let (field, value) = item
                .split_once('=')
                .with_context(|| format!("--identity {item:?}: use FIELD=VALUE or FIELD=@FILE"))?;
            let value = match value.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("reading {file} for --identity {field}"))?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                None => value.to_string(),
            };
            Ok((field.to_string(), value))
        })
        .collect()
}

fn options(args: TaArgs) -> anyhow::Result<KeydOptions> {
    let pem = std::fs::read(&args.ca_file)
        .with_context(|| format!("reading {}", args.ca_file.display()))?;
    Ok(KeydOptions {
        authority: args.authority,
        roots: certs_from_pem(&pem)?,
        uid: args.uid,
        unit: match (&args.tpm, &args.device_key_file) {
            (Some(tpm), _) => UnitSecret::Tpm(TpmUnit::open(&tcti(tpm))?),
            (None, Some(file)) => UnitSecret::DeviceKey(device_key(file)?),
            (None, None) => anyhow::bail!("pass --device-key-file, or --tpm on a unit with a TPM"),
        },
        profile: args.profile,
        identity: identity(&args.identity)?,
        dir: args.out,
    })
}

async fn enroll_command(args: TaArgs, json: bool) -> anyhow::Result<()> {
    let done = enroll(&options(args)?).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        println!(
            "enrolled: serial {} (level {}, key in {}, TA profile {} version {}); certificate {}, key {}",
            done.serial,
            done.level,
            done.key_storage,
            done.profile,
            done.version,
            done.certificate.display(),
            done.key.display()
        );
    }
    Ok(())
}
