use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use inkan_authority::{replace_file, Authority, Credentials, DataDir, EnrollMethod, IssueRequest};
use inkan_pki::{build_csr, der_to_pem, GeneratedKey, KeyAlgorithm};

use super::open_store;
use crate::running::{load_config, passphrase, PassphraseArgs};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Admin API tokens (Authorization: Bearer ...).
    #[command(subcommand)]
    Token(AdminTokenCommand),
    /// Admin client certificates (TLS client authentication to the /v1 API).
    #[command(subcommand)]
    Cert(AdminCertCommand),
    /// Print a one-time login link for the console (a single-use token: it opens one session,
    /// then it is gone).
    ConsoleLink {
        /// The authority's URL as the browser reaches it, https://HOST:PORT.
        #[arg(
            long,
            env = "INKAN_AUTHORITY",
            default_value = "https://localhost:8443"
        )]
        url: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCertCommand {
    /// Make a key and an admin-profile certificate for NAME; writes admin.pem (certificate and
    /// issuing CA) and admin.key (0600). Revoke it with `inkan cert revoke`.
    Create {
        /// Who holds it (the certificate's common name; recorded in the audit log).
        name: String,
        /// Directory for admin.pem and admin.key (default: ./admin-<name>).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Create a token; prints it once, as the last line (only its SHA-256 is stored).
    Create {
        /// A name for the token, recorded in the audit log of everything it does.
        #[arg(long, default_value = "admin")]
        name: String,
    },
    /// List the tokens: id (the SHA-256 they are stored by), name, when made. One-time console
    /// links not yet used are listed too, named console-link.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (as `list` shows it; a unique prefix of 8 or more digits will
    /// do): /v1 refuses it at once, console sessions it opened end at their next request.
    Revoke {
        /// The token's id.
        id: String,
    },
}

pub async fn run(data_dir: &DataDir, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Token(AdminTokenCommand::Create { name }) => token(data_dir, name).await,
        AdminCommand::Token(AdminTokenCommand::List { json }) => {
            let tokens = credentials(data_dir).await?.admin_tokens().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else if tokens.is_empty() {
                eprintln!("no admin tokens: make one with `inkan admin token create --name NAME`");
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.get(..16).unwrap_or(&t.id).to_string(),
                            t.name.clone(),
                            crate::output::rfc3339(t.created_at_ms / 1000),
                        ]
                    })
                    .collect();
                crate::output::table(&["ID", "NAME", "CREATED"], &rows);
            }
            Ok(())
        }
        AdminCommand::Token(AdminTokenCommand::Revoke { id }) => {
            let actor = format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "admin".into())
            );
            match credentials(data_dir)
                .await?
                .revoke_admin_token(&id, &actor)
                .await?
            {
                Some(name) => println!("revoked admin token {name:?}"),
                None => anyhow::bail!(
                    "no admin token has id {id}: `inkan admin token list` shows their ids"
                ),
            }
            Ok(())
        }
        AdminCommand::ConsoleLink { url } => {
            println!("{}", console_link(data_dir, &url).await?);
            Ok(())
        }
        AdminCommand::Cert(AdminCertCommand::Create {
            name,
            out,
            passphrase: pass,
        }) => cert(data_dir, name, out, pass.passphrase_file).await,
    }
}

async fn credentials(data_dir: &DataDir) -> anyhow::Result<Credentials> {
    let config = load_config(data_dir, None)?;
    Ok(Credentials::new(open_store(data_dir, &config).await?))
}

/// A one-time console login link for the authority at `url`.
pub(crate) async fn console_link(data_dir: &DataDir, url: &str) -> anyhow::Result<String> {
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "admin".into())
    );
    let token = inkan_authority::Credentials::new(store)
        .create_console_link(&actor)
        .await?;
    Ok(format!(
        "{}/console/login/link?token={token}",
        url.trim_end_matches('/')
    ))
}

/// Issues an admin-profile client certificate for a fresh key.
async fn cert(
    data_dir: &DataDir,
    name: String,
    out: Option<std::path::PathBuf>,
    passphrase_file: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;
    let ca = data_dir.load_issuing_ca(passphrase(passphrase_file.as_ref())?.as_deref())?;
    let authority = Authority::start(config, ca, store).await?;
    let key = GeneratedKey::generate(KeyAlgorithm::P256)?;
    let csr = build_csr(&key, &name, &[])?;
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "admin".into())
    );
    // The key exists only here: make sure it has somewhere to go before the certificate does.
    let dir = out.unwrap_or_else(|| std::path::PathBuf::from(format!("admin-{name}")));
    let made_dir = !dir.exists();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let issued = match authority
        .issue(IssueRequest {
            csr_der: csr,
            profile: "admin".into(),
            method: EnrollMethod::Admin { actor },
            validity: None,
            label: None,
        })
        .await
    {
        Ok(issued) => issued,
        Err(e) => {
            if made_dir {
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(e.into());
        }
    };
    let chain = format!(
        "{}{}",
        der_to_pem("CERTIFICATE", &issued.der),
        der_to_pem("CERTIFICATE", authority.ca().cert_der())
    );
    replace_file(&dir.join("admin.key"), key.to_pem(None)?.as_bytes(), 0o600)?;
    replace_file(&dir.join("admin.pem"), chain.as_bytes(), 0o644)?;
    println!("admin certificate for {name} (serial {})", issued.serial);
    println!("  certificate  {}", dir.join("admin.pem").display());
    println!("  key          {} (0600)", dir.join("admin.key").display());
    println!(
        "present it as TLS client certificate to the /v1 API; revoke with `inkan cert revoke {}`",
        issued.serial
    );
    Ok(())
}

async fn token(data_dir: &DataDir, name: String) -> anyhow::Result<()> {
    anyhow::ensure!(
        name != inkan_authority::CONSOLE_LINK,
        "{name:?} names one-time console links: choose another name, or run `inkan admin console-link`"
    );
    let config = load_config(data_dir, None)?;
    let store = open_store(data_dir, &config).await?;
    let actor = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let token = Credentials::new(store)
        .create_admin_token(&name, &format!("cli:{actor}"))
        .await?;
    eprintln!("admin token {name:?} (shown once; send it as Authorization: Bearer ...):");
    println!("{token}");
    Ok(())
}
