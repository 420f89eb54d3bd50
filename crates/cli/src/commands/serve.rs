use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use inkan_authority::DataDir;

use crate::running::{
    load_config, passphrase, termination_signal, PassphraseArgs, RunningAuthority,
};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (default: inkan.toml in the data directory, if present).
    #[arg(long, env = "INKAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding the configuration (port 0 picks a free port).
    #[arg(long, env = "INKAN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where to serve CRLs and OCSP over plain HTTP (as relying parties expect): an address,
    /// `auto` (default: the --listen address with port 8080, or port 0 when that is 0) or `off`.
    #[arg(long, env = "INKAN_HTTP_LISTEN")]
    pub http_listen: Option<inkan_authority::HttpListen>,
    /// Where to serve Prometheus metrics over plain HTTP (`/metrics`), overriding
    /// server.admin_listen; off unless set. Keep it on an address only monitoring reaches.
    #[arg(long, env = "INKAN_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

/// `inkan serve`: runs until SIGINT/SIGTERM, then drains and exits 0.
pub async fn run(data_dir: &DataDir, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(data_dir, args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(http) = args.http_listen {
        config.server.http_listen = http;
    }
    if let Some(admin) = args.admin_listen {
        config.server.admin_listen = Some(admin);
    }
    let listen = config.server.listen;
    let pass = passphrase(args.passphrase.passphrase_file.as_ref())?;
    let signal = termination_signal()?;
    let running = RunningAuthority::start(data_dir, config, listen, pass).await?;
    // The readiness line first: scripts read it as the first line (both listeners are bound).
    println!("listening on https://{}", running.addr);
    if let Some(http) = running.http_addr {
        println!("revocation (CRL, OCSP) on http://{http}");
    }
    if let Some(admin) = running.admin_addr {
        println!("metrics on http://{admin}/metrics");
    }
    signal.await;
    tracing::info!("shutting down: draining open connections");
    running.shutdown().await
}
