use anyhow::Context;
use clap::Subcommand;
use inkan_authority::DataDir;
use inkan_pki::{der_to_pem, RevocationReason, Serial};
use inkan_store::{CertificateQuery, CertificateRecord, RevokeOutcome};

use super::open_store;
use crate::output::{rfc3339, table};
use crate::running::load_config;

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// List issued certificates, newest first.
    List {
        /// Only this profile.
        #[arg(long)]
        profile: Option<String>,
        /// Only this status: valid or revoked.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show one certificate by serial (hex, colons allowed).
    Show {
        /// Serial number.
        serial: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Print the certificate as PEM.
        #[arg(long, conflicts_with = "json")]
        pem: bool,
    },
    /// Revoke a certificate (durable and audited; revoking again keeps the first time and reason).
    Revoke {
        /// Serial number.
        serial: String,
        /// RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged,
        /// superseded, cessationOfOperation, privilegeWithdrawn, aACompromise.
        #[arg(long, default_value = "unspecified")]
        reason: String,
        /// Also revoke every certificate that was enrolled with this one (as TLS client
        /// certificate), recursively.
        #[arg(long)]
        cascade: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check a certificate as the gateway would (path, validity, purpose, name) and optionally
    /// its revocation (--crl FILE or --ocsp). Exit 0 valid, 1 invalid, 2 usage error.
    Verify(crate::commands::cert_verify::CertVerifyArgs),
}

pub async fn run(data_dir: &DataDir, cmd: CertCommand) -> anyhow::Result<()> {
    // `verify` works on files alone; the others on the store.
    let open = || async {
        let config = load_config(data_dir, None)?;
        open_store(data_dir, &config).await
    };
    match cmd {
        CertCommand::List {
            profile,
            status,
            limit,
            json,
        } => {
            let store = open().await?;
            let query = CertificateQuery {
                profile,
                status: status.map(|s| s.parse()).transpose()?,
                limit: Some(limit),
                ..Default::default()
            };
            let certs = store.list_certificates(&query).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&certs)?);
            } else if certs.is_empty() {
                println!("no certificates");
            } else {
                let rows: Vec<Vec<String>> = certs.iter().map(row).collect();
                table(
                    &[
                        "SERIAL",
                        "SUBJECT",
                        "PROFILE",
                        "METHOD",
                        "NOT AFTER",
                        "STATUS",
                    ],
                    &rows,
                );
            }
        }
        CertCommand::Show { serial, json, pem } => {
            let store = open().await?;
            let serial: Serial = serial.parse()?;
            let cert = store
                .certificate(&serial.to_string())
                .await?
                .with_context(|| {
                    format!("no certificate with serial {serial}: see `inkan cert list`")
                })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&cert)?);
            } else if pem {
                print!("{}", der_to_pem("CERTIFICATE", &cert.der));
            } else {
                show(&cert);
            }
        }
        CertCommand::Revoke {
            serial,
            reason,
            cascade,
            json,
        } => {
            let store = open().await?;
            let serial: Serial = serial.parse()?;
            let reason: RevocationReason = reason.parse()?;
            let actor = format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "admin".into())
            );
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let result =
                inkan_authority::revoke(&*store, &serial.to_string(), reason, now, &actor, cascade)
                    .await?;
            let (record, already) = match result.outcome {
                RevokeOutcome::Revoked(r) => (r, false),
                RevokeOutcome::AlreadyRevoked(r) => (r, true),
                RevokeOutcome::NotFound => {
                    anyhow::bail!("no certificate with serial {serial}: see `inkan cert list`")
                }
            };
            let cascaded: Vec<&str> = result.cascaded.iter().map(|c| c.serial.as_str()).collect();
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "serial": record.serial,
                        "revoked_at": rfc3339(record.revoked_at),
                        "reason": record.reason,
                        "already_revoked": already,
                        "cascaded": cascaded,
                    })
                );
            } else if already {
                println!(
                    "{} was already revoked at {} ({}); nothing changed",
                    record.serial,
                    rfc3339(record.revoked_at),
                    record.reason
                );
            } else {
                println!("revoked {} ({})", record.serial, record.reason);
                for c in &cascaded {
                    println!("revoked {c} (enrolled with {})", record.serial);
                }
                println!(
                    "a running authority serves the new status (OCSP, CRL, feed) within a second"
                );
            }
        }
        CertCommand::Verify(args) => super::cert_verify::run(data_dir, args).await?,
    }
    Ok(())
}

fn row(c: &CertificateRecord) -> Vec<String> {
    vec![
        c.serial.clone(),
        c.subject.clone(),
        c.profile.clone(),
        c.method.clone(),
        rfc3339(c.not_after),
        status(c),
    ]
}

fn status(c: &CertificateRecord) -> String {
    match c.revoked_at {
        Some(at) => format!("revoked {}", rfc3339(at)),
        None => "valid".into(),
    }
}

fn show(c: &CertificateRecord) {
    println!("serial       {}", c.serial);
    println!("subject      {}", c.subject);
    if !c.sans.is_empty() {
        println!("names        {}", c.sans.join(", "));
    }
    println!("profile      {}", c.profile);
    println!("method       {}", c.method);
    println!("evidence     {}", c.evidence);
    println!(
        "valid        {} .. {}",
        rfc3339(c.not_before),
        rfc3339(c.not_after)
    );
    println!("status       {}", status(c));
    println!("key sha256   {}", c.spki_sha256);
    println!("issued       {}", rfc3339(c.created_at_ms / 1000));
}
