//! `inkan agent account`, `inkan agent link …` and `inkan agent approve`: the trust anchor and
//! the linked devices of an account (docs/linking.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use inkan_agent::linking::{self, AnchorSigner, Session};
use inkan_agent::linking_pages::{serve_page, AnchorConnection, Page};
use inkan_agent::AgentError;

use super::agent_tpm::read_roots;

/// Where the authority is.
#[derive(Debug, Args)]
pub struct AuthorityArgs {
    /// The authority, https://HOST:PORT.
    #[arg(long, env = "INKAN_AUTHORITY")]
    pub authority: String,
    /// Trust anchor(s) for the authority's TLS certificate (PEM), e.g. the CA's root.pem.
    #[arg(long)]
    pub ca_file: PathBuf,
}

/// The trust anchor's credential: its level-3 certificate and key.
#[derive(Debug, Args)]
pub struct AnchorArgs {
    #[command(flatten)]
    pub authority: AuthorityArgs,
    /// The anchor's certificate chain (PEM, leaf first), e.g. the chain.pem `agent enroll --tpm`
    /// wrote.
    #[arg(long)]
    pub cert: PathBuf,
    /// The anchor's key is in the TPM (handle and TCTI from tpm-key.json beside --cert).
    #[arg(long, conflicts_with = "key")]
    pub tpm: bool,
    /// The anchor's software key (PKCS#8 PEM) instead.
    #[arg(long, required_unless_present = "tpm")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account anchored by this device's level-3 certificate.
    Create {
        #[command(flatten)]
        anchor: AnchorArgs,
        /// A display name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// On the new device: make its key and show a link code for the anchor.
    Start {
        #[command(flatten)]
        authority: AuthorityArgs,
        /// This device's display name.
        #[arg(long)]
        name: String,
        /// State directory: device.key (0600), link.json, then device.pem.
        #[arg(long, default_value = "inkan-linked")]
        out: PathBuf,
        /// Also write the link code as a QR code in an SVG image (for a web page).
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Do not print the QR code in the terminal.
        #[arg(long)]
        no_qr: bool,
        /// Also show the link code on a local web page at this address (e.g. 127.0.0.1:8799;
        /// port 0 picks one), until the code expires or Ctrl-C.
        #[arg(long, value_name = "ADDR")]
        web: Option<std::net::SocketAddr>,
    },
    /// On the anchor: link the device showing LINK_TOKEN, if its screen shows --code.
    Confirm {
        #[command(flatten)]
        anchor: AnchorArgs,
        /// The link token the new device shows (or its inkan-link: URI). Base64url: it may
        /// start with '-'.
        #[arg(allow_hyphen_values = true)]
        link_token: String,
        /// The six-digit code the new device shows.
        #[arg(long)]
        code: String,
    },
    /// On a linked device: log in; the anchor approves (`inkan agent approve`), then the
    /// device's short-lived certificate is written to DIR/device.pem.
    Login {
        #[command(flatten)]
        authority: AuthorityArgs,
        /// The state directory `link start` made.
        #[arg(long, default_value = "inkan-linked")]
        dir: PathBuf,
        /// How long to wait for the approval.
        #[arg(long, default_value = "120s", value_parser = parse_duration)]
        wait: Duration,
        /// The anchor has no network: print the login code for it to read (`inkan agent
        /// approve --offline CODE`) and stop; then run again with --approval.
        #[arg(long, conflicts_with = "approval")]
        offline: bool,
        /// Deliver the approval code the anchor showed for the login started with --offline.
        #[arg(long, value_name = "CODE")]
        approval: Option<String>,
    },
    /// On a deputy device: approve, under the anchor's delegation (`inkan agent delegate`) and
    /// with no network, the login code another linked device shows; prints the approval code
    /// for that device to read back (`link login --approval CODE`).
    DeputyApprove {
        /// The login code the other device shows (`inkan-login:…`).
        code: String,
        /// This deputy's state directory (`link start --out`).
        #[arg(long, default_value = "inkan-linked")]
        dir: PathBuf,
    },
    /// On the anchor: unlink a device (its certificates are revoked).
    Unlink {
        #[command(flatten)]
        anchor: AnchorArgs,
        /// The account.
        #[arg(long)]
        account: String,
        /// The device's registration number.
        registration: String,
    },
}

/// `inkan agent approve`: list the logins waiting for this anchor, or approve one or all.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub anchor: AnchorArgs,
    /// The login to approve (its id); without it, list the waiting logins.
    pub id: Option<String>,
    /// Approve every waiting login.
    #[arg(long, conflicts_with = "id")]
    pub all: bool,
    /// With no network: approve the login whose code the linked device shows
    /// (`inkan-login:…`), and print the approval code for it to read back.
    #[arg(long, value_name = "CODE", conflicts_with_all = ["id", "all"])]
    pub offline: Option<String>,
    /// Serve the approval page at this local address (e.g. 127.0.0.1:8798; port 0 picks one):
    /// the waiting logins, each with an Approve button, until Ctrl-C.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["id", "all", "offline"])]
    pub web: Option<std::net::SocketAddr>,
}

/// Binds a page's address: loopback only, as the pages act for this device.
async fn page_listener(address: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    anyhow::ensure!(
        address.ip().is_loopback(),
        "{address}: the page acts for this device, so it listens on a loopback address only (127.0.0.1 or [::1])"
    );
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}

/// Until Ctrl-C or SIGTERM.
async fn until_stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// `inkan agent delegate`: before the anchor goes out of reach, let a deputy device approve the
/// account's other logins for a while.
#[derive(Debug, Args)]
pub struct DelegateArgs {
    #[command(flatten)]
    pub anchor: AnchorArgs,
    /// The account.
    #[arg(long)]
    pub account: String,
    /// The deputy: a linked device of the account (its registration number, ld-…).
    #[arg(long, required_unless_present = "end")]
    pub to: Option<String>,
    /// How long from now (at most 7 days).
    #[arg(long = "for", default_value = "24h", value_parser = parse_duration)]
    pub lasting: Duration,
    /// How many logins the deputy may approve (1 to 100).
    #[arg(long, default_value_t = 10)]
    pub max: i64,
    /// End the open delegation instead (the anchor is back, or the deputy is lost).
    #[arg(long, conflicts_with = "to")]
    pub end: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    inkan_pki::duration_text::parse(text)
}

struct SoftwareSigner(inkan_pki::GeneratedKey);

impl AnchorSigner for SoftwareSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AgentError> {
        Ok(self.0.sign(message)?)
    }
}

#[cfg(feature = "tpm")]
struct TpmSigner(inkan_agent::tpm::TpmSigningKey);

#[cfg(feature = "tpm")]
impl AnchorSigner for TpmSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AgentError> {
        self.0.sign_message(message)
    }
}

async fn device_session(args: &AuthorityArgs) -> anyhow::Result<Session> {
    let roots = read_roots(&args.ca_file)?;
    Session::connect(&args.authority, &roots, None)
        .await
        .with_context(|| format!("cannot reach the authority at {}", args.authority))
}

/// The anchor's TLS configuration, its signer and its certificate's serial, from its files
/// alone (no network).
fn anchor_credentials(
    args: &AnchorArgs,
) -> anyhow::Result<(Arc<rustls::ClientConfig>, Box<dyn AnchorSigner>, String)> {
    let roots = read_roots(&args.authority.ca_file)?;
    let pem = std::fs::read(&args.cert)
        .with_context(|| format!("cannot read the anchor certificate {}", args.cert.display()))?;
    let chain = inkan_pki::certs_from_pem(&pem)?;
    let leaf = chain
        .first()
        .with_context(|| format!("{} holds no certificate", args.cert.display()))?;
    let serial = inkan_pki::CertificateInfo::parse(leaf)?.serial;
    let (tls, signer): (Arc<rustls::ClientConfig>, Box<dyn AnchorSigner>) = if args.tpm {
        tpm_anchor(args, &roots, chain)?
    } else {
        let path = args.key.as_ref().context("pass --key or --tpm")?;
        let key_pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the key {}", path.display()))?;
        let key = inkan_pki::GeneratedKey::from_pem(&key_pem, None)?;
        let tls = inkan_client::client_tls_config(&roots, Some((chain, key.pkcs8_der().to_vec())))?;
        (tls, Box::new(SoftwareSigner(key)))
    };
    Ok((tls, signer, serial))
}

async fn anchor_session(args: &AnchorArgs) -> anyhow::Result<(Session, Box<dyn AnchorSigner>)> {
    let (tls, signer, _) = anchor_credentials(args)?;
    let roots = read_roots(&args.authority.ca_file)?;
    let session = Session::connect(&args.authority.authority, &roots, Some(tls))
        .await
        .with_context(|| format!("cannot reach the authority at {}", args.authority.authority))?;
    Ok((session, signer))
}

#[cfg(feature = "tpm")]
fn tpm_anchor(
    args: &AnchorArgs,
    roots: &[Vec<u8>],
    chain: Vec<Vec<u8>>,
) -> anyhow::Result<(Arc<rustls::ClientConfig>, Box<dyn AnchorSigner>)> {
    use inkan_agent::tpm::{Tpm, TpmKeyInfo, TpmSigningKey};
    let dir = args.cert.parent().unwrap_or(std::path::Path::new("."));
    let info = TpmKeyInfo::read(dir).with_context(|| {
        format!(
            "no tpm-key.json beside {}: pass the chain.pem `agent enroll --tpm` wrote",
            args.cert.display()
        )
    })?;
    let device = Arc::new(Tpm::open(&info.tcti)?);
    let key = device.open_key(info.handle_value()?)?;
    let signer = TpmSigningKey::new(device, &key)?;
    let tls = signer.clone().client_tls_config(roots, chain)?;
    Ok((tls, Box::new(TpmSigner(signer))))
}

#[cfg(not(feature = "tpm"))]
fn tpm_anchor(
    _args: &AnchorArgs,
    _roots: &[Vec<u8>],
    _chain: Vec<Vec<u8>>,
) -> anyhow::Result<(Arc<rustls::ClientConfig>, Box<dyn AnchorSigner>)> {
    anyhow::bail!("this inkan was built without TPM support: rebuild with `--features tpm`")
}

pub async fn account(cmd: AccountCommand) -> anyhow::Result<()> {
    match cmd {
        AccountCommand::Create { anchor, name } => {
            let (mut session, _) = anchor_session(&anchor).await?;
            let account = linking::create_account(&mut session, &name).await?;
            println!("{}", serde_json::to_string_pretty(&account)?);
        }
    }
    Ok(())
}

pub async fn link(cmd: LinkCommand) -> anyhow::Result<()> {
    match cmd {
        LinkCommand::Start {
            authority,
            name,
            out,
            svg,
            no_qr,
            web,
        } => {
            let mut session = device_session(&authority).await?;
            let code = linking::start_link(&mut session, &name, &out).await?;
            if !no_qr {
                println!("{}", code.terminal_qr()?);
            }
            if let Some(path) = &svg {
                std::fs::write(path, code.svg_qr()?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            println!("registration: {}", code.registration);
            println!("link token:   {}", code.link_token);
            println!("link URI:     {}", code.uri());
            println!("code:         {}", code.code);
            println!("expires:      {}", code.expires_at);
            println!(
                "on the anchor: inkan agent link confirm {} --code {} (compare the code on both screens)",
                code.uri(),
                code.code
            );
            if let Some(address) = web {
                let listener = page_listener(address).await?;
                println!("link page:    http://{}/", listener.local_addr()?);
                let expires = time::OffsetDateTime::parse(
                    &code.expires_at,
                    &time::format_description::well_known::Rfc3339,
                )
                .map(|at| at - time::OffsetDateTime::now_utc())
                .ok()
                .and_then(|left| Duration::try_from(left).ok())
                .unwrap_or(Duration::from_secs(600));
                let stop = async move {
                    tokio::select! {
                        () = until_stopped() => {}
                        () = tokio::time::sleep(expires) => {}
                    }
                };
                serve_page(listener, Page::Link(code), stop).await?;
            }
        }
        LinkCommand::Confirm {
            anchor,
            link_token,
            code,
        } => {
            let (mut session, signer) = anchor_session(&anchor).await?;
            let device = linking::confirm_link(&mut session, &*signer, &link_token, &code).await?;
            println!("{}", serde_json::to_string_pretty(&device)?);
        }
        LinkCommand::Login {
            authority,
            dir,
            wait,
            offline,
            approval,
        } => {
            let mut session = device_session(&authority).await?;
            if let Some(code) = approval {
                let (serial, path) = linking::deliver_approval(&mut session, &dir, &code).await?;
                println!("approved: certificate {serial} in {}", path.display());
                return Ok(());
            }
            let login = linking::request_login(&mut session, &dir).await?;
            if offline {
                login.save(&dir)?;
                println!("login code: {}", login.request_code());
                println!(
                    "on the anchor (no network needed): inkan agent approve --offline '{}'; then here: inkan agent link login --dir {} --approval CODE",
                    login.request_code(),
                    dir.display()
                );
                return Ok(());
            }
            eprintln!(
                "login {} waits for the anchor (request {}): `inkan agent approve {}` on it",
                login.id,
                &login.request_sha256[..16],
                login.id
            );
            let (serial, path) =
                linking::await_login(&mut session, &login, &dir, wait, Duration::from_millis(500))
                    .await?;
            println!("approved: certificate {serial} in {}", path.display());
        }
        LinkCommand::DeputyApprove { code, dir } => {
            let approval = linking::approve_offline_as_deputy(&dir, &code)?;
            println!("approval code: {approval}");
        }
        LinkCommand::Unlink {
            anchor,
            account,
            registration,
        } => {
            let (mut session, _) = anchor_session(&anchor).await?;
            linking::unlink(&mut session, &account, &registration).await?;
            println!("unlinked {registration}: its certificates are revoked");
        }
    }
    Ok(())
}

pub async fn delegate(args: DelegateArgs) -> anyhow::Result<()> {
    let (mut session, signer) = anchor_session(&args.anchor).await?;
    if args.end {
        linking::end_delegation(&mut session, &args.account).await?;
        println!("the delegation of {} ended", args.account);
        return Ok(());
    }
    let deputy = args.to.context("name the deputy with --to")?;
    let delegation = linking::delegate(
        &mut session,
        &*signer,
        &args.account,
        &deputy,
        args.lasting,
        args.max,
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&delegation)?);
    eprintln!(
        "{deputy} may approve up to {} logins until {}: `inkan agent link deputy-approve CODE` on it; the delegation ends when this anchor approves a login again",
        args.max,
        delegation["not_after"].as_str().unwrap_or_default()
    );
    Ok(())
}

pub async fn approve(args: ApproveArgs) -> anyhow::Result<()> {
    if let Some(code) = &args.offline {
        let (_, signer, serial) = anchor_credentials(&args.anchor)?;
        let approval = linking::approve_offline(&*signer, &serial, code)?;
        println!("approval code: {approval}");
        return Ok(());
    }
    if let Some(address) = args.web {
        let (tls, signer, _) = anchor_credentials(&args.anchor)?;
        let listener = page_listener(address).await?;
        let anchor = AnchorConnection {
            authority: args.anchor.authority.authority.clone(),
            roots: read_roots(&args.anchor.authority.ca_file)?,
            tls,
        };
        // Fail now, not on the first page view, if the authority is out of reach.
        let mut session =
            Session::connect(&anchor.authority, &anchor.roots, Some(anchor.tls.clone()))
                .await
                .with_context(|| format!("cannot reach the authority at {}", anchor.authority))?;
        linking::pending(&mut session).await?;
        println!("approval page: http://{}/", listener.local_addr()?);
        serve_page(listener, Page::Approval { anchor, signer }, until_stopped()).await?;
        return Ok(());
    }
    let (mut session, signer) = anchor_session(&args.anchor).await?;
    let waiting = linking::pending(&mut session).await?;
    if args.id.is_none() && !args.all {
        println!("{}", serde_json::to_string_pretty(&waiting)?);
        return Ok(());
    }
    let chosen: Vec<&serde_json::Value> = waiting
        .iter()
        .filter(|l| args.all || l["id"].as_str() == args.id.as_deref())
        .collect();
    if let (Some(id), true) = (&args.id, chosen.is_empty()) {
        anyhow::bail!(
            "no login {id} is waiting for this anchor (list them with `inkan agent approve`)"
        );
    }
    for login in chosen {
        let issued = linking::approve(&mut session, &*signer, login).await?;
        println!(
            "approved {}: certificate {} (level {})",
            login["id"].as_str().unwrap_or_default(),
            issued["serial"].as_str().unwrap_or_default(),
            issued["level"]
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    /// A base64url link token may start with '-': it is still the token, not an option.
    #[test]
    fn a_link_token_starting_with_a_hyphen_parses() {
        let parsed = crate::Cli::try_parse_from([
            "inkan",
            "agent",
            "link",
            "confirm",
            "-Ab_9xYz0123456789abcd",
            "--code",
            "123456",
            "--authority",
            "https://127.0.0.1:1",
            "--ca-file",
            "root.pem",
            "--cert",
            "chain.pem",
            "--key",
            "key.pem",
        ]);
        let text = format!("{parsed:?}");
        assert!(parsed.is_ok(), "{text}");
        assert!(text.contains("-Ab_9xYz0123456789abcd"), "{text}");
    }
}
