//! Starting the authority: shared by `serve` and `quickstart`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use inkan_authority::{Authority, Config, DataDir, ServerIdentity};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// `--passphrase-file`, for every command that loads the CA key.
#[derive(Debug, Args)]
pub struct PassphraseArgs {
    /// File holding the CA key passphrase (first line). Or set INKAN_CA_PASSPHRASE.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
}

/// An authority serving HTTPS in the background.
pub struct RunningAuthority {
    /// The address it accepts connections on.
    pub addr: SocketAddr,
    /// The plain-HTTP (CRL, OCSP) listener's address, if configured.
    pub http_addr: Option<SocketAddr>,
    /// The admin (metrics) listener's address, if configured.
    pub admin_addr: Option<SocketAddr>,
    /// The authority itself.
    pub authority: Arc<Authority>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    http: Option<(oneshot::Sender<()>, JoinHandle<std::io::Result<()>>)>,
    admin: Option<(oneshot::Sender<()>, JoinHandle<std::io::Result<()>>)>,
}

impl RunningAuthority {
    /// Opens the store, loads the CA, issues (or reuses) the HTTPS identity and starts serving
    /// on `listen`.
    pub async fn start(
        data_dir: &DataDir,
        mut config: Config,
        listen: SocketAddr,
        passphrase: Option<Vec<u8>>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen).await.with_context(|| {
            format!(
                "cannot listen on {listen}: is another server using it? pick another with --listen"
            )
        })?;
        config.server.listen = listen;
        Self::start_on(data_dir, config, listener, passphrase).await
    }

    /// Like [`RunningAuthority::start`] on a listener that is already bound; `server.listen`
    /// says which port was asked for (0 gives the plain-HTTP listener a free port too).
    pub async fn start_on(
        data_dir: &DataDir,
        mut config: Config,
        listener: TcpListener,
        passphrase: Option<Vec<u8>>,
    ) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let asked = SocketAddr::new(addr.ip(), config.server.listen.port());
        let http_listener = match config.server.http_listen.resolve(asked) {
            Some(http) => Some(TcpListener::bind(http).await.with_context(|| {
                format!(
                    "cannot listen on {http} for CRLs and OCSP over plain HTTP \
                     (server.http_listen / --http-listen; \"off\" for none)"
                )
            })?),
            None => None,
        };
        let http_addr = http_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let admin_listener = match config.server.admin_listen {
            Some(admin) => Some(TcpListener::bind(admin).await.with_context(|| {
                format!(
                    "cannot listen on {admin} for metrics (server.admin_listen / --admin-listen)"
                )
            })?),
            None => None,
        };
        let admin_addr = admin_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let base_url = config.revocation_base_url(addr, http_addr);
        if config.revocation_urls_are_local() {
            tracing::warn!(
                base_url = %base_url,
                "revocation.base_url is not set: certificates tell relying parties to fetch CRLs \
                 and OCSP from {base_url}, which only this machine reaches; set \
                 revocation.base_url (or server.names) to the name relying parties use"
            );
        }
        config.revocation.base_url = Some(base_url);
        let url = data_dir.resolve_database_url(&config);
        let ca = data_dir.load_issuing_ca(passphrase.as_deref())?;
        let store = inkan_store::open(&url, &config.database.options())
            .await
            .with_context(|| format!("opening the database {}", inkan_store::redact(&url)))?;
        let names = config.server.names.clone();
        let device_issuer = config.device_issuer.clone();
        let authority = Authority::start(config, ca, store).await?;
        match data_dir.sealing_key() {
            Ok(key) => authority.install_sealing_key(key),
            // An authority whose ca/ it may not write (made before the key existed) still
            // serves everything else.
            Err(e) => tracing::warn!(
                error = %e,
                "TEE provisioning is off: ca/sealing.key is missing and could not be created; any `inkan tee` command run as the CA's owner (e.g. `inkan tee profile list`) creates it, or copy it from another replica"
            ),
        }
        publish_root_crl(data_dir, &authority, passphrase.as_deref())?;
        if let Some(issuer) = &device_issuer {
            let est = inkan_server::EstIssuer::connect(issuer).await.context(
                "connecting to the device issuer ([device_issuer] in the configuration)",
            )?;
            tracing::info!(issuer = %inkan_authority::Issuer::name(&est), "device certificates come from a separate authority");
            authority.set_device_issuer(Arc::new(est));
        }
        let identity = ServerIdentity::load_or_issue(&authority, data_dir, &names).await?;
        let hints = [authority.ca().cert_der(), authority.ca().root_der()]
            .iter()
            .map(|c| inkan_pki::subject_der(c))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = inkan_server::server_tls_config(&identity.chain, &identity.key_der, hints)?;
        let limits = fitted_limits(
            &authority.config().server.limits,
            1 + usize::from(http_listener.is_some()) + usize::from(admin_listener.is_some()),
        );
        let admin = admin_listener
            .map(|l| spawn_plain(l, inkan_server::admin_router(authority.clone()), &limits));
        let http = http_listener
            .map(|l| spawn_plain(l, inkan_server::plain_router(authority.clone()), &limits));
        let router = inkan_server::router(authority.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(inkan_server::serve(
            listener,
            tls,
            router,
            limits,
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            addr,
            http_addr,
            admin_addr,
            authority,
            stop,
            task,
            http,
            admin,
        })
    }

    /// Stops accepting, drains open connections and waits for the server to finish.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        for (stop, task) in self.http.into_iter().chain(self.admin) {
            let _ = stop.send(());
            task.await??;
        }
        self.task.await??;
        Ok(())
    }
}

/// A plain-HTTP listener serving `router` in the background, and how to stop it.
fn spawn_plain(
    listener: TcpListener,
    router: inkan_server::Router,
    limits: &inkan_server::ConnectionLimits,
) -> (oneshot::Sender<()>, JoinHandle<std::io::Result<()>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(inkan_server::serve_plain(
        listener,
        router,
        limits.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    (stop, task)
}

/// `limits` with the connection cap lowered to fit the open-files limit (raised to its hard
/// limit first) across `listeners` listeners; says so when it had to lower it.
pub fn fitted_limits(
    limits: &inkan_server::ConnectionLimits,
    listeners: usize,
) -> inkan_server::ConnectionLimits {
    let open_files = inkan_http::raise_open_files_limit();
    let cap = inkan_http::connection_cap(limits.max_connections, open_files, listeners);
    if cap < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            max_connections = cap,
            open_files_limit = open_files,
            "max_connections lowered to fit the open-files limit; raise it with `ulimit -n` or LimitNOFILE="
        );
    }
    inkan_server::ConnectionLimits {
        max_connections: cap,
        ..limits.clone()
    }
}

/// Where the root's CRL will be published, for the issuing CA certificate made by `ca init`:
/// `<revocation base URL>/crl/root.crl`, with the listeners the configuration names.
pub fn root_crl_url(config: &Config) -> String {
    let https = config.server.listen;
    let base = config.revocation_base_url(https, config.server.http_listen.resolve(https));
    format!("{base}/crl/root.crl")
}

/// Publishes the root's CRL at `/crl/root.crl`, re-signing it first when it is due and the root
/// key is in the data directory; warns when it is missing or about to expire.
fn publish_root_crl(
    data_dir: &DataDir,
    authority: &Authority,
    passphrase: Option<&[u8]>,
) -> anyhow::Result<()> {
    let now = authority.now();
    let state = data_dir
        .root_crl(passphrase, now)
        .context("the root CA's CRL")?;
    if state.renewed {
        tracing::info!("signed a new root CRL with the root key");
    }
    match (state.der, state.next_update) {
        (Some(der), next) => {
            if next.is_none_or(|n| n - now.unix_timestamp() < 30 * 86_400) {
                tracing::warn!(
                    "the root CRL expires within 30 days: put the root key back at ca/root.key \
                     and restart the authority to re-sign it"
                );
            }
            authority.crl().set_root_crl(der)?;
        }
        (None, _) => tracing::warn!(
            "no root CRL (ca/root.crl) and no root key to sign one: relying parties that check \
             the whole chain (openssl -crl_check_all) cannot check the issuing CA"
        ),
    }
    Ok(())
}

/// Installs SIGINT (Ctrl-C) and SIGTERM handlers now and returns a future that resolves when
/// either arrives. Install before announcing readiness, so an early signal is not fatal.
pub fn termination_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// The configuration: `--config FILE` (must exist) or `inkan.toml` in the data directory (optional).
pub fn load_config(data_dir: &DataDir, explicit: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match explicit {
        Some(path) => Config::load(path, false)?,
        None => Config::load(&data_dir.config_path(), true)?,
    })
}

/// The CA passphrase from `--passphrase-file` or `INKAN_CA_PASSPHRASE`, if any.
/// The first line of a passphrase file (not empty).
pub fn passphrase_line(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the passphrase file {}", path.display()))?;
    let line = text.lines().next().unwrap_or("").to_string();
    anyhow::ensure!(
        !line.is_empty(),
        "the passphrase file {} is empty",
        path.display()
    );
    Ok(line)
}

pub fn passphrase(file: Option<&PathBuf>) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(path) = file {
        return Ok(Some(passphrase_line(path)?.into_bytes()));
    }
    Ok(std::env::var("INKAN_CA_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(String::into_bytes))
}
