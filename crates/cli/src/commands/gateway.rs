use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use inkan_gateway::{gateway_router, metrics_router, Gateway, GatewayConfig, RevokedSet};
use inkan_pki::{certs_from_pem, subject_der, GeneratedKey};
use tokio::net::TcpListener;

use clap::{Args, Subcommand};
use inkan_authority::DataDir;

use crate::running::termination_signal;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayArgs {
    /// The gateway configuration (see docs/gateway.md).
    #[arg(long, env = "INKAN_GATEWAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding the configuration (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
}

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Print an nginx server block that gives nginx the same checks (for sites that keep nginx).
    NginxConfig(NginxConfigArgs),
}

#[derive(Debug, Args)]
pub struct NginxConfigArgs {
    /// Upstream the site proxies to.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub upstream: String,
    /// listen directive value.
    #[arg(long, default_value = "443 ssl")]
    pub listen: String,
    /// server_name.
    #[arg(long, default_value = "_")]
    pub server_name: String,
    /// nginx's own certificate chain (PEM).
    #[arg(long, default_value = "/etc/nginx/inkan/server.pem")]
    pub cert: String,
    /// nginx's own key.
    #[arg(long, default_value = "/etc/nginx/inkan/server.key")]
    pub key: String,
    /// Base URL of the authority's plain-HTTP revocation listener (for OCSP and the CRL URL).
    #[arg(long)]
    pub revocation_url: Option<String>,
}

/// `inkan gateway --config FILE`: serves until SIGINT/SIGTERM, then drains and exits 0.
pub async fn run(data_dir: &DataDir, args: GatewayArgs) -> anyhow::Result<()> {
    if let Some(GatewayCommand::NginxConfig(nginx)) = &args.command {
        return nginx_config(data_dir, nginx);
    }
    let path = args
        .config
        .clone()
        .context("give the gateway configuration with --config FILE (see docs/gateway.md)")?;
    let mut config = GatewayConfig::load(&path).map_err(anyhow::Error::msg)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let signal = termination_signal()?;
    let (listener, gateway, tls, limits) = prepare(&config).await?;
    reload_on_sighup(gateway.clone(), path.clone())?;
    println!("listening on https://{}", listener.local_addr()?);
    inkan_server::serve(listener, tls, gateway_router(gateway), limits, signal).await?;
    Ok(())
}

/// A gateway ready to serve: its listener bound, its revocation set following the authority,
/// its TLS configuration and connection limits (the metrics listener, if any, serving).
async fn prepare(
    config: &GatewayConfig,
) -> anyhow::Result<(
    TcpListener,
    Arc<Gateway>,
    Arc<rustls::ServerConfig>,
    inkan_server::ConnectionLimits,
)> {
    let revoked = RevokedSet::new(config.revocation.fail_closed_after);
    let from_crls = revoked
        .load_crls(&config.revocation.crl_files)
        .map_err(anyhow::Error::msg)?;
    if from_crls > 0 {
        tracing::info!(entries = from_crls, "loaded CRL files");
    }
    if let Some(authority) = &config.revocation.authority {
        let anchors = match &config.revocation.authority_ca {
            Some(path) => certs_from_pem(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )?,
            None => config
                .client_ca
                .iter()
                .map(|p| Ok(certs_from_pem(&std::fs::read(p)?)?))
                .collect::<anyhow::Result<Vec<_>>>()?
                .concat(),
        };
        let tls = inkan_client::client_tls_config(&anchors, None)?;
        tokio::spawn(revoked.clone().follow(authority.clone(), tls));
    }
    let gateway = Arc::new(
        Gateway::new(config, revoked, card_logins(config).await?).map_err(anyhow::Error::msg)?,
    );

    let (chain, key) = server_identity(config).await?;
    let mut hints = Vec::new();
    for file in &config.client_ca {
        for ca in certs_from_pem(&std::fs::read(file)?)? {
            hints.push(subject_der(&ca)?);
        }
    }
    let tls = inkan_server::server_tls_config(&chain, key.pkcs8_der(), hints)?;
    let limits = crate::running::fitted_limits(
        &config.limits,
        1 + usize::from(config.admin_listen.is_some()),
    );
    if let Some(admin) = config.admin_listen {
        let listener = TcpListener::bind(admin)
            .await
            .with_context(|| format!("cannot listen on {admin} (admin_listen)"))?;
        println!("metrics on http://{}/metrics", listener.local_addr()?);
        let router = metrics_router(gateway.clone());
        tokio::spawn(inkan_server::serve_plain(
            listener,
            router,
            limits.clone(),
            std::future::pending(),
        ));
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    Ok((listener, gateway, tls, limits))
}

/// Starts a gateway in the background (for `inkan quickstart`); returns the address it
/// listens on. It serves until the process ends.
pub(crate) async fn spawn(config: &GatewayConfig) -> anyhow::Result<SocketAddr> {
    let (listener, gateway, tls, limits) = prepare(config).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let served = inkan_server::serve(
            listener,
            tls,
            gateway_router(gateway),
            limits,
            std::future::pending(),
        )
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the quickstart gateway stopped");
        }
    });
    Ok(addr)
}

/// The gateway's certificate chain and key: from files, or enrolled from the authority.
async fn server_identity(config: &GatewayConfig) -> anyhow::Result<(Vec<Vec<u8>>, GeneratedKey)> {
    if let (Some(cert), Some(key)) = (&config.cert, &config.key) {
        let chain = certs_from_pem(
            &std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?,
        )?;
        let key = GeneratedKey::from_pem(
            &std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?,
            None,
        )?;
        return Ok((chain, key));
    }
    let from = config
        .tls_from_authority
        .as_ref()
        .context("the gateway needs cert and key, or [tls_from_authority]")?;
    let anchors = certs_from_pem(
        &std::fs::read(&from.ca).with_context(|| format!("reading {}", from.ca.display()))?,
    )?;
    let secret = std::fs::read_to_string(&from.secret_file)
        .with_context(|| format!("reading {}", from.secret_file.display()))?
        .trim()
        .to_string();
    let key = GeneratedKey::generate(inkan_pki::KeyAlgorithm::P256)?;
    let csr = inkan_pki::build_csr(&key, &from.names[0], &from.names)?;
    let tls = inkan_client::client_tls_config(&anchors, None)?;
    let credentials = inkan_client::EstCredentials::Secret {
        user: "inkan-gateway".into(),
        secret,
    };
    let mut est =
        inkan_client::EstClient::connect(&from.url, tls, Some(from.label.clone()), credentials)
            .await?;
    let cacerts = est
        .cacerts()
        .await
        .context("EST cacerts from the authority")?;
    let leaf = est
        .simpleenroll(&csr)
        .await
        .context("enrolling the gateway's certificate at the authority")?;
    let info = inkan_pki::CertificateInfo::parse(&leaf)?;
    let mut chain = vec![leaf];
    // The issuing CA: the certificate in cacerts that is not self-signed.
    chain.extend(
        cacerts
            .into_iter()
            .filter(|c| inkan_pki::CertificateInfo::parse(c).is_ok_and(|i| i.issuer != i.subject)),
    );
    tracing::info!(serial = %info.serial, subject = %info.subject, "enrolled the gateway's certificate");
    Ok((chain, key))
}

/// SIGHUP re-reads the configuration and swaps in its routes and client CAs without closing
/// connections; a configuration that does not load is refused and the old one stays.
fn reload_on_sighup(gateway: Arc<Gateway>, path: std::path::PathBuf) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match GatewayConfig::load(&path).and_then(|c| gateway.reload(&c)) {
                Ok(()) => tracing::info!(config = %path.display(), "configuration reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "reload refused; the previous configuration stays")
                }
            }
        }
    });
    Ok(())
}

/// Prints an nginx `server` block with the gateway's checks: client certificates verified
/// against this authority's CAs, revocation by OCSP (and the CRL URL for `ssl_crl`), verified
/// identity forwarded in `X-Inkan-*` headers and client-sent ones overwritten or removed.
fn nginx_config(data_dir: &DataDir, args: &NginxConfigArgs) -> anyhow::Result<()> {
    let chain = data_dir.ca_paths().chain;
    anyhow::ensure!(
        chain.exists(),
        "{} not found: run this with the authority's --data-dir",
        chain.display()
    );
    let chain = std::fs::canonicalize(&chain)?;
    let issuer_id = inkan_pki::CertificateInfo::parse(&data_dir.issuing_der()?)?.fingerprint_sha256;
    let arc = crate::running::load_config(data_dir, None)?.pki.policy_arc;
    let revocation = match &args.revocation_url {
        Some(base) => {
            let base = base.trim_end_matches('/');
            format!(
                "    # Revocation: ask the authority's OCSP responder on every handshake (a host name\n    \
                 # here needs a `resolver` directive; an IP address does not)...\n    \
                 # (leaf: the issuing CA is checked by the root, which stays offline)\n    \
                 ssl_ocsp leaf;\n    ssl_ocsp_responder {base}/ocsp;\n    \
                 # ...or use its CRL, refreshed by a timer (curl -fsS {base}/crl/{issuer_id}.crl\n    \
                 # -o /etc/nginx/inkan/issuing.crl && nginx -s reload) with:\n    \
                 # ssl_crl /etc/nginx/inkan/issuing.crl;\n"
            )
        }
        None => "    # Revocation: pass --revocation-url http://AUTHORITY:PORT to get ssl_ocsp settings.\n".to_string(),
    };
    print!(
        "# nginx in front of an existing site, with inkan client certificates.\n\
         # Generated by `inkan gateway nginx-config`; include it inside http {{ }}.\n\
         # inkan writes assurance level N as the certificatePolicies OID {arc}.N\n\
         # (pki.policy_arc); nginx has no variable for certificate policies, so use `inkan\n\
         # gateway` (policy_arc = \"{arc}\") for min_level routes.\n\
         # Serials in X-Inkan-Serial are uppercase here (lowercase from inkan).\n\
         upstream inkan_site {{\n    server {upstream};\n    keepalive 64;\n}}\n\n\
         server {{\n    listen {listen};\n    server_name {server_name};\n\n    \
         ssl_certificate     {cert};\n    ssl_certificate_key {key};\n\n    \
         # Only certificates from this authority's CAs, checked on every handshake.\n    \
         ssl_client_certificate {chain};\n    ssl_verify_client on;\n    ssl_verify_depth 2;\n\n\
         {revocation}\n    \
         location / {{\n        \
         # The verified identity; these replace any header of the same name a client sent.\n        \
         proxy_set_header X-Inkan-Verified    $ssl_client_verify;\n        \
         proxy_set_header X-Inkan-Subject     $ssl_client_s_dn;\n        \
         proxy_set_header X-Inkan-Serial      $ssl_client_serial;\n        \
         proxy_set_header X-Inkan-Client-Cert $ssl_client_escaped_cert;\n        \
         # Headers only inkan's gateway sets: removed (nginx drops empty values).\n        \
         proxy_set_header X-Inkan-Level       \"\";\n        \
         proxy_set_header X-Inkan-Device      \"\";\n        \
         proxy_set_header X-Inkan-Product     \"\";\n        \
         proxy_set_header X-Forwarded-For     $proxy_add_x_forwarded_for;\n        \
         proxy_set_header X-Forwarded-Proto   https;\n        \
         proxy_set_header Connection          \"\";\n        \
         proxy_http_version 1.1;\n        proxy_pass http://inkan_site;\n    }}\n}}\n",
        upstream = args.upstream.trim_start_matches("http://"),
        listen = args.listen,
        server_name = args.server_name,
        cert = args.cert,
        key = args.key,
        chain = chain.display(),
    );
    Ok(())
}

/// The card logins of `[cards]`: the segments in its data directory (its database and sealing
/// key), opened by the gateway itself so that no authority needs to run.
async fn card_logins(config: &GatewayConfig) -> anyhow::Result<Option<inkan_gateway::CardLogins>> {
    let Some(cards) = &config.cards else {
        return Ok(None);
    };
    let data_dir = DataDir::new(&cards.data_dir);
    let authority_config = crate::running::load_config(&data_dir, None)?;
    let store = super::open_store(&data_dir, &authority_config)
        .await
        .context("[cards] data_dir")?;
    let segments = inkan_authority::Segments::new(store, Arc::new(data_dir.sealing_key()?));
    Ok(Some(inkan_gateway::CardLogins::new(
        segments,
        cards.clone(),
    )))
}
