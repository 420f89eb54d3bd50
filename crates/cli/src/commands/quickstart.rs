use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use clap::Args;
use inkan_authority::{replace_file, CaInitOptions, DataDir, HttpListen};
use inkan_client::{client_tls_config, EstClient, EstCredentials};
use inkan_pki::{
    build_csr, der_to_pem, verify_chain, CertificateInfo, ChainUsage, GeneratedKey, KeyAlgorithm,
};
use tokio::net::TcpListener;

use crate::running::{load_config, passphrase, root_crl_url, termination_signal, RunningAuthority};

mod demo_site;

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Address to listen on (default 127.0.0.1:8443, or a free port if that is taken).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Enroll the demo device, print the summary and exit instead of serving.
    #[arg(long)]
    pub no_serve: bool,
    /// Address of the demo gateway (default 127.0.0.1:8444, or a free port if that is taken;
    /// a free port too when --listen is given).
    #[arg(long)]
    pub gateway_listen: Option<SocketAddr>,
}

const DEFAULT_PORT: u16 = 8443;
const DEFAULT_GATEWAY_PORT: u16 = 8444;
const LABEL: &str = "device";

/// `inkan quickstart`: CA (if missing), authority on 127.0.0.1, one demo device enrolled over
/// EST through the network, a summary, then serve until Ctrl-C.
pub async fn run(data_dir: &DataDir, args: QuickstartArgs) -> anyhow::Result<()> {
    let mut config = load_config(data_dir, None)?;
    if !data_dir.has_ca() {
        let options = CaInitOptions {
            name: "inkan".into(),
            algorithm: KeyAlgorithm::P256,
            passphrase: passphrase(None)?,
            root_crl_url: Some(root_crl_url(&config)),
        };
        data_dir.init_ca(&options, time::OffsetDateTime::now_utc())?;
        println!(
            "created a P-256 root CA and issuing CA in {}",
            data_dir.root().display()
        );
    } else {
        println!("using the existing CA in {}", data_dir.root().display());
    }
    let signal = termination_signal()?;
    let listener = bind(args.listen).await?;
    let addr = listener.local_addr()?;
    config.server.listen = args.listen.unwrap_or(addr);
    if config.server.http_listen == HttpListen::Auto {
        // Like the HTTPS port: a free port when the usual one is taken.
        let asked = SocketAddr::new(addr.ip(), config.server.listen.port());
        if let Some(http) = HttpListen::Auto.resolve(asked) {
            if std::net::TcpListener::bind(http).is_err() {
                eprintln!(
                    "port {} is taken; serving CRLs and OCSP on a free port",
                    http.port()
                );
                config.server.http_listen = HttpListen::At(SocketAddr::new(http.ip(), 0));
            }
        }
    }
    let arc = config.pki.policy_arc.clone();
    let running = RunningAuthority::start_on(data_dir, config, listener, passphrase(None)?).await?;
    let url = format!("https://{}", running.addr);
    println!("listening on {url}");

    let secret = quickstart_secret(data_dir, &running).await?;
    let demo = enroll_demo_device(data_dir, &url, &secret, &arc).await?;
    print_summary(data_dir, &url, &demo);
    if !args.no_serve {
        // A browser reaches the authority by the name its certificate carries.
        let link = running
            .authority
            .credentials()
            .create_console_link("quickstart")
            .await?;
        let browser_url = url.replacen("127.0.0.1", "localhost", 1);
        println!();
        println!(
            "console (one-time login link; later: inkan --data-dir {} admin console-link):",
            data_dir.root().display()
        );
        println!("  {browser_url}/console/login/link?token={link}");
        let gateway = start_demo_gateway(data_dir, &running, &url, &args).await?;
        print_gateway(data_dir, &gateway, &demo);
    }

    if args.no_serve {
        return running.shutdown().await;
    }
    println!();
    println!("serving until Ctrl-C");
    signal.await;
    running.shutdown().await
}

async fn bind(listen: Option<SocketAddr>) -> anyhow::Result<TcpListener> {
    if let Some(addr) = listen {
        return TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"));
    }
    match TcpListener::bind(("127.0.0.1", DEFAULT_PORT)).await {
        Ok(l) => Ok(l),
        Err(_) => {
            eprintln!("port {DEFAULT_PORT} is taken; using a free port instead");
            Ok(TcpListener::bind(("127.0.0.1", 0)).await?)
        }
    }
}

/// A demo site on loopback and `inkan gateway` in front of it, configured by
/// `quickstart/gateway.toml` (a real configuration to copy), with a certificate of its own
/// from the authority; returns the gateway's URL.
async fn start_demo_gateway(
    data_dir: &DataDir,
    running: &RunningAuthority,
    url: &str,
    args: &QuickstartArgs,
) -> anyhow::Result<String> {
    let site = demo_site::spawn().await?;
    let dir = data_dir.root().join("quickstart");
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let key = GeneratedKey::generate(KeyAlgorithm::P256)?;
    let issued = running
        .authority
        .issue(inkan_authority::IssueRequest {
            csr_der: build_csr(&key, "localhost", &names)?,
            profile: "server".into(),
            method: inkan_authority::EnrollMethod::Admin {
                actor: "quickstart".into(),
            },
            validity: None,
            label: None,
        })
        .await?;
    let chain = format!(
        "{}{}",
        der_to_pem("CERTIFICATE", &issued.der),
        der_to_pem("CERTIFICATE", running.authority.ca().cert_der())
    );
    write_private(&dir.join("gateway.key"), key.to_pem(None)?.as_bytes())?;
    replace_file(&dir.join("gateway.pem"), chain.as_bytes(), 0o644)?;
    let listen = match (args.gateway_listen, args.listen) {
        (Some(asked), _) => asked,
        (None, Some(authority)) => SocketAddr::new(authority.ip(), 0),
        (None, None) => {
            let usual = SocketAddr::from(([127, 0, 0, 1], DEFAULT_GATEWAY_PORT));
            if std::net::TcpListener::bind(usual).is_ok() {
                usual
            } else {
                eprintln!(
                    "port {DEFAULT_GATEWAY_PORT} is taken; the demo gateway uses a free port"
                );
                SocketAddr::from(([127, 0, 0, 1], 0))
            }
        }
    };
    let paths = data_dir.ca_paths();
    // Absolute: the gateway reads paths relative to its configuration file.
    let toml_path = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    };
    let config = format!(
        "# The quickstart's gateway: the demo site, open to devices with a certificate from this\n\
         # authority (written by `inkan quickstart`; see docs/gateway.md).\n\
         listen = \"{listen}\"\n\
         cert = \"{}\"\n\
         key = \"{}\"\n\
         client_ca = [\"{}\"]\n\
         [revocation]\n\
         authority = \"{url}\"\n\
         authority_ca = \"{}\"\n\
         [[route]]\n\
         upstreams = [\"http://{site}\"]\n",
        toml_path(&dir.join("gateway.pem")),
        toml_path(&dir.join("gateway.key")),
        toml_path(&data_dir.root().join("ca/chain.pem")),
        toml_path(&paths.root_cert),
    );
    let config_path = dir.join("gateway.toml");
    replace_file(&config_path, config.as_bytes(), 0o644)?;
    let config = inkan_gateway::GatewayConfig::load(&config_path).map_err(anyhow::Error::msg)?;
    let addr = super::gateway::spawn(&config).await?;
    Ok(format!("https://localhost:{}", addr.port()))
}

fn print_gateway(data_dir: &DataDir, gateway: &str, demo: &DemoDevice) {
    let root = data_dir.ca_paths().root_cert;
    println!();
    println!(
        "demo site behind inkan gateway ({}): the demo device's certificate opens it, nothing else does:",
        data_dir.root().join("quickstart/gateway.toml").display()
    );
    println!("  gateway      {gateway}/");
    println!(
        "  curl --cacert {} --cert {} --key {} {gateway}/",
        root.display(),
        demo.cert_path.display(),
        demo.key_path.display()
    );
    println!(
        "  curl --cacert {} {gateway}/     # 401: no certificate",
        root.display()
    );
}

/// The quickstart's EST secret for label `device`, kept in `quickstart/est-secret` (0600) so a
/// second run reuses it.
async fn quickstart_secret(
    data_dir: &DataDir,
    running: &RunningAuthority,
) -> anyhow::Result<String> {
    let path = data_dir.root().join("quickstart").join("est-secret");
    if let Ok(saved) = std::fs::read_to_string(&path) {
        let saved = saved.trim().to_string();
        if running.authority.secrets().verify(LABEL, &saved).await? {
            return Ok(saved);
        }
    }
    let secret = running
        .authority
        .create_est_secret(LABEL, "quickstart")
        .await?;
    write_private(&path, format!("{secret}\n").as_bytes())?;
    Ok(secret)
}

struct DemoDevice {
    info: CertificateInfo,
    key_path: std::path::PathBuf,
    cert_path: std::path::PathBuf,
    secret_path: std::path::PathBuf,
}

async fn enroll_demo_device(
    data_dir: &DataDir,
    url: &str,
    secret: &str,
    arc: &inkan_pki::PolicyArc,
) -> anyhow::Result<DemoDevice> {
    let root = data_dir.root_der()?;
    let key = GeneratedKey::generate(KeyAlgorithm::P256)?;
    let name = format!("demo-device-{}", &hex::encode(rand_bytes()?)[..6]);
    let csr = build_csr(&key, &name, &[])?;
    let tls = client_tls_config(std::slice::from_ref(&root), None)?;
    let credentials = EstCredentials::Secret {
        user: "quickstart".into(),
        secret: secret.into(),
    };
    let mut est = EstClient::connect(url, tls, Some(LABEL.into()), credentials).await?;
    let cacerts = est.cacerts().await.context("EST cacerts")?;
    let cert = est.simpleenroll(&csr).await.context("EST simpleenroll")?;
    let issuing = cacerts
        .into_iter()
        .find(|c| *c != root)
        .context("cacerts did not return the issuing CA")?;
    verify_chain(
        &cert,
        std::slice::from_ref(&issuing),
        std::slice::from_ref(&root),
        ChainUsage::ClientAuth,
        time::OffsetDateTime::now_utc(),
    )
    .context("the issued certificate does not verify against the local root")?;
    let dir = data_dir.root().join("quickstart");
    let key_path = dir.join("demo-device.key");
    let cert_path = dir.join("demo-device.pem");
    write_private(&key_path, key.to_pem(None)?.as_bytes())?;
    let chain = format!(
        "{}{}",
        der_to_pem("CERTIFICATE", &cert),
        der_to_pem("CERTIFICATE", &issuing)
    );
    replace_file(&cert_path, chain.as_bytes(), 0o644)?;
    Ok(DemoDevice {
        info: CertificateInfo::parse_with_arc(&cert, arc)?,
        key_path,
        cert_path,
        secret_path: dir.join("est-secret"),
    })
}

fn rand_bytes() -> anyhow::Result<[u8; 8]> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    Ok(b)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(replace_file(path, bytes, 0o600)?)
}

fn print_summary(data_dir: &DataDir, url: &str, demo: &DemoDevice) {
    let paths = data_dir.ca_paths();
    let d = data_dir.root().display();
    println!();
    println!(
        "enrolled a demo device over EST with a fresh P-256 key; its chain verifies to the root:"
    );
    println!("  subject      {}", demo.info.subject);
    println!("  serial       {}", demo.info.serial);
    println!("  level        {}", demo.info.level.unwrap_or(0));
    println!("  certificate  {}", demo.cert_path.display());
    println!("  key          {}", demo.key_path.display());
    println!();
    println!("authority:");
    println!("  EST          {url}/.well-known/est/{LABEL}/simpleenroll");
    println!("  CA certs     {url}/.well-known/est/cacerts");
    println!("  root CA      {}", paths.root_cert.display());
    println!(
        "  EST secret   {} (label {LABEL:?})",
        demo.secret_path.display()
    );
    println!();
    println!("enroll by hand with curl and openssl:");
    println!(
        "  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout my.key \\"
    );
    println!("    -subj /CN=my-device -outform DER | base64 > my.csr.b64");
    println!(
        "  curl --cacert {} -u \"me:$(cat {})\" \\",
        paths.root_cert.display(),
        demo.secret_path.display()
    );
    println!("    -H 'Content-Type: application/pkcs10' --data-binary @my.csr.b64 \\");
    println!("    {url}/.well-known/est/{LABEL}/simpleenroll | base64 -d | openssl pkcs7 -inform DER -print_certs -out my.pem");
    println!();
    println!("look around:  inkan --data-dir {d} cert list    inkan --data-dir {d} audit verify");
}
