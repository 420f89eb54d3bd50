//! `inkan agent enroll --tpm` and `inkan agent proxy`: the device side of TPM-attested enrollment
//! and a local HTTP → mTLS forwarder that signs with the TPM (or a software) key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use inkan_agent::ForwardProxy;
use inkan_client::HttpTarget;

/// `inkan agent enroll --tpm`: enroll a TPM-resident key by TPM 2.0 attestation (filled from
/// the `agent enroll` arguments).
#[derive(Debug)]
#[cfg_attr(not(feature = "tpm"), allow(dead_code))] // read only by the TPM build
pub struct TpmEnrollArgs {
    /// The authority's URL, e.g. https://ca.example:8443.
    pub authority: String,
    /// Trust anchor (PEM) for the authority's TLS certificate: its root CA (`ca/root.pem`).
    pub ca_file: PathBuf,
    /// Directory for chain.pem, tpm-key.json and the key's TPM blobs key.pub/key.priv
    /// (the blobs only load in this TPM).
    pub out: PathBuf,
    /// TPM to use (TCTI): device:/dev/tpmrm0, tabrmd:bus_type=system, swtpm:host=H,port=P.
    /// Default: $TPM2TOOLS_TCTI, $TCTI, else device:/dev/tpmrm0.
    pub tcti: Option<String>,
    /// Persistent handle for the new key (must be free).
    pub handle: String,
    /// Common name asked for in the certificate (default: this machine's host name).
    pub name: Option<String>,
    /// Machine-readable output.
    pub json: bool,
}

/// `inkan agent proxy`: plain local HTTP in, forwarded over mTLS with the device key.
#[derive(Debug, Args)]
pub struct AgentProxyArgs {
    /// Local address to listen on (plain HTTP; keep it on loopback). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where to forward: https://HOST:PORT[/BASE] (a gateway, the authority, any mTLS service).
    #[arg(long)]
    pub upstream: String,
    /// Trust anchor (PEM) for the upstream's TLS certificate.
    #[arg(long)]
    pub ca_file: PathBuf,
    /// The client certificate chain (PEM, leaf first), e.g. the chain.pem `agent enroll` wrote
    /// (not with --keyd, which supplies it).
    #[arg(long, required_unless_present = "keyd", conflicts_with = "keyd")]
    pub cert: Option<PathBuf>,
    /// Sign with the TPM key (handle from --handle, else from tpm-key.json beside --cert).
    #[arg(long, conflicts_with_all = ["key", "keyd"])]
    pub tpm: bool,
    /// Sign with a software key instead (PKCS#8 PEM file).
    #[arg(long, required_unless_present_any = ["tpm", "keyd"], conflicts_with = "keyd")]
    pub key: Option<PathBuf>,
    /// Sign through the key service at this socket (`inkan agent keyd serve`) with the key
    /// named by --keyd-key, which this program must own (it asked for it with `inkan agent
    /// keyd request`): the private key stays in the key service (in the TPM on a TPM unit).
    #[arg(long, value_name = "SOCKET", requires = "keyd_key")]
    pub keyd: Option<PathBuf>,
    /// The key service key to sign with.
    #[arg(long, value_name = "NAME", requires = "keyd")]
    pub keyd_key: Option<String>,
    /// TPM to use (TCTI); default: tpm-key.json beside --cert, $TPM2TOOLS_TCTI, $TCTI,
    /// device:/dev/tpmrm0.
    #[arg(long, requires = "tpm")]
    pub tcti: Option<String>,
    /// Persistent handle of the TPM key (default: tpm-key.json beside --cert, else 0x81000101).
    #[arg(long, requires = "tpm")]
    pub handle: Option<String>,
}

/// Runs `inkan agent enroll --tpm`.
pub async fn enroll(args: TpmEnrollArgs) -> anyhow::Result<()> {
    let roots = read_roots(&args.ca_file)?;
    enroll_tpm(args, roots).await
}

#[cfg(feature = "tpm")]
async fn enroll_tpm(args: TpmEnrollArgs, roots: Vec<Vec<u8>>) -> anyhow::Result<()> {
    use inkan_agent::tpm::{self, Tpm, TpmEnrollOptions};

    let handle = tpm::parse_handle(&args.handle).map_err(anyhow::Error::msg)?;
    let tcti = args.tcti.clone().unwrap_or_else(Tpm::default_tcti);
    let common_name = match args.name {
        Some(name) => name,
        None => host_name(),
    };
    let options = TpmEnrollOptions {
        authority: args.authority.clone(),
        roots,
        common_name,
        handle,
    };
    let device = Arc::new(Tpm::open(&tcti)?);
    let enrollment = tpm::enroll(device, &options)
        .await
        .with_context(|| format!("TPM enrollment at {} failed", args.authority))?;
    let chain = enrollment.write_to(&args.out)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "serial": enrollment.serial,
                "level": enrollment.level,
                "chain": chain,
                "handle": enrollment.info.handle,
                "tcti": enrollment.info.tcti,
                "key_name": enrollment.info.key_name,
            }))?
        );
    } else {
        println!(
            "enrolled: certificate {} (level {})",
            enrollment.serial, enrollment.level
        );
        println!("chain:    {}", chain.display());
        println!(
            "key:      TPM handle {} (never leaves the TPM)",
            enrollment.info.handle
        );
    }
    Ok(())
}

#[cfg(not(feature = "tpm"))]
async fn enroll_tpm(_args: TpmEnrollArgs, _roots: Vec<Vec<u8>>) -> anyhow::Result<()> {
    anyhow::bail!("{}", no_tpm_support())
}

/// Runs `inkan agent proxy`.
pub async fn proxy(args: AgentProxyArgs) -> anyhow::Result<()> {
    let roots = read_roots(&args.ca_file)?;
    HttpTarget::parse(&args.upstream)?;
    let tls = match (&args.keyd, &args.keyd_key, &args.cert) {
        (Some(socket), Some(key), _) => {
            let (signer, chain) = inkan_agent::keyd::KeydSigningKey::open(socket, key)
                .await
                .with_context(|| {
                    format!(
                        "key {key:?} of the key service at {}: ask for it first with `inkan agent keyd request --key {key}`",
                        socket.display()
                    )
                })?;
            signer.client_tls_config(&roots, chain)?
        }
        (_, _, Some(cert)) => {
            let pem = std::fs::read(cert)
                .with_context(|| format!("cannot read the certificate chain {}", cert.display()))?;
            let chain = inkan_pki::certs_from_pem(&pem)
                .with_context(|| format!("{} holds no PEM certificate", cert.display()))?;
            anyhow::ensure!(
                !chain.is_empty(),
                "{} holds no certificate: pass the chain.pem that `inkan agent enroll` wrote",
                cert.display()
            );
            if args.tpm {
                tpm_tls(&args, cert, &roots, chain)?
            } else {
                let path = args
                    .key
                    .as_ref()
                    .context("pass --tpm, or --key with the certificate's PKCS#8 key")?;
                let key_pem = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the key {}", path.display()))?;
                let key = inkan_pki::GeneratedKey::from_pem(&key_pem, None)
                    .with_context(|| format!("{} is not a PKCS#8 PEM key", path.display()))?;
                inkan_client::client_tls_config(&roots, Some((chain, key.pkcs8_der().to_vec())))?
            }
        }
        _ => anyhow::bail!("pass --cert with --key or --tpm, or --keyd with --keyd-key"),
    };
    let proxy = Arc::new(ForwardProxy::new(&args.upstream, tls)?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}: pick another --listen", args.listen))?;
    println!("listening on http://{}", listener.local_addr()?);
    inkan_agent::serve_proxy(listener, proxy, shutdown_signal()).await?;
    Ok(())
}

#[cfg(feature = "tpm")]
fn tpm_tls(
    args: &AgentProxyArgs,
    cert: &std::path::Path,
    roots: &[Vec<u8>],
    chain: Vec<Vec<u8>>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use inkan_agent::tpm::{self, Tpm, TpmKeyInfo, TpmSigningKey};

    let info = cert.parent().and_then(|dir| TpmKeyInfo::read(dir).ok());
    let handle = match (&args.handle, &info) {
        (Some(h), _) => tpm::parse_handle(h).map_err(anyhow::Error::msg)?,
        (None, Some(info)) => info.handle_value()?,
        (None, None) => tpm::DEFAULT_KEY_HANDLE,
    };
    let tcti = match (&args.tcti, &info) {
        (Some(t), _) => t.clone(),
        (None, Some(info)) => info.tcti.clone(),
        (None, None) => Tpm::default_tcti(),
    };
    let device = Arc::new(Tpm::open(&tcti)?);
    let key = device.open_key(handle)?;
    let signer = TpmSigningKey::new(device, &key)?;
    Ok(signer.client_tls_config(roots, chain)?)
}

#[cfg(not(feature = "tpm"))]
fn tpm_tls(
    _args: &AgentProxyArgs,
    _cert: &std::path::Path,
    _roots: &[Vec<u8>],
    _chain: Vec<Vec<u8>>,
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    anyhow::bail!("{}", no_tpm_support())
}

#[cfg(not(feature = "tpm"))]
fn no_tpm_support() -> &'static str {
    "this inkan was built without TPM support: install libtss2-dev and rebuild with `cargo build --release --features tpm`"
}

pub(crate) fn read_roots(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the trust anchor {}", path.display()))?;
    let roots = inkan_pki::certs_from_pem(&pem)
        .with_context(|| format!("{} holds no PEM certificate", path.display()))?;
    anyhow::ensure!(
        !roots.is_empty(),
        "{} holds no certificate: pass the authority's root CA (ca/root.pem)",
        path.display()
    );
    Ok(roots)
}

#[cfg(feature = "tpm")]
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "inkan-tpm-device".to_string())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
