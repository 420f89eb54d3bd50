//! `inkan cert verify`: checks one certificate the way the gateway does (rustls-webpki path
//! validation), plus purpose, name and revocation (a CRL file or the OCSP responder the
//! certificate names). Exit 0 valid, 1 invalid (one-line reason on stderr), 2 usage error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use inkan_authority::DataDir;
use inkan_client::{client_tls_config, HttpConnection, HttpTarget};
use inkan_pki::{
    certs_from_pem, check_ocsp_response, crl_der, ocsp_responder_urls, validate, CertificateInfo,
    ChainUsage, Invalid, OcspStatus, RevocationReason, ValidPath, Validation,
};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::output;

/// How long the whole OCSP exchange (connect, send, read) may take.
const OCSP_TIMEOUT: Duration = Duration::from_secs(10);

/// `inkan cert verify CERT`.
#[derive(Debug, Args)]
pub struct CertVerifyArgs {
    /// The certificate: PEM (certificates after the first serve as intermediates) or DER.
    pub cert: PathBuf,
    /// Intermediate CA certificates (PEM). Default: the data directory's issuing CA
    /// (ca/issuing.pem), when there is one.
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// Trusted root certificate(s) (PEM). Default: the data directory's root CA (ca/root.pem).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// What the certificate must be good for (extended key usage). Default: any.
    #[arg(long, value_enum)]
    pub purpose: Option<Purpose>,
    /// A DNS name (or IP address) the certificate must carry in its subjectAltName.
    #[arg(long, value_parser = parse_name)]
    pub name: Option<String>,
    /// Validate at this time (RFC 3339, e.g. 2030-01-01T00:00:00Z) instead of now.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<OffsetDateTime>,
    /// Check revocation against this CRL (DER or PEM); its signature must verify.
    #[arg(long, conflicts_with = "ocsp")]
    pub crl: Option<PathBuf>,
    /// Check revocation with the OCSP responder named in the certificate (authorityInfoAccess).
    #[arg(long)]
    pub ocsp: bool,
    /// Machine-readable output: {"valid", "reason", "code", "subject", "serial", "chain",
    /// "revocation"}.
    #[arg(long)]
    pub json: bool,
}

/// The purposes `--purpose` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Purpose {
    /// TLS client authentication (what the gateway requires).
    Client,
    /// TLS server authentication.
    Server,
}

/// Runs the check and exits with 0 (valid), 1 (invalid) or 2 (the inputs cannot be used).
pub async fn run(data_dir: &DataDir, args: CertVerifyArgs) -> anyhow::Result<()> {
    let inputs = match Inputs::load(data_dir, &args) {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit(2)
        }
    };
    let report = check(&inputs, &args).await;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json(&inputs))?
        );
    }
    match &report.verdict {
        Ok(()) => {
            if !args.json {
                report.print(&inputs);
            }
            Ok(())
        }
        Err(invalid) => {
            eprintln!("invalid: {invalid}");
            exit(1)
        }
    }
}

/// Everything read from files, before any check.
struct Inputs {
    cert: Vec<u8>,
    intermediates: Vec<Vec<u8>>,
    roots: Vec<Vec<u8>>,
    crl: Option<Vec<u8>>,
}

impl Inputs {
    fn load(data_dir: &DataDir, args: &CertVerifyArgs) -> anyhow::Result<Self> {
        let ca = data_dir.ca_paths();
        let bytes = read(&args.cert)?;
        let mut certs = if is_pem(&bytes) {
            certs_from_pem(&bytes).with_context(|| args.cert.display().to_string())?
        } else {
            vec![bytes]
        };
        let cert = certs.remove(0);
        let mut intermediates = certs;
        match &args.chain {
            Some(path) => intermediates.extend(read_certs(path)?),
            None if ca.issuing_cert.exists() => intermediates.extend(read_certs(&ca.issuing_cert)?),
            None => {}
        }
        let roots = match &args.root {
            Some(path) => read_certs(path)?,
            None if ca.root_cert.exists() => read_certs(&ca.root_cert)?,
            None => anyhow::bail!(
                "no trust anchor: pass --root FILE ({} does not exist)",
                ca.root_cert.display()
            ),
        };
        let crl = args
            .crl
            .as_deref()
            .map(|path| crl_der(&read(path)?).with_context(|| path.display().to_string()))
            .transpose()?;
        Ok(Self {
            cert,
            intermediates,
            roots,
            crl,
        })
    }
}

/// The outcome: the verdict, the verified path (if path validation passed) and what was
/// learned about revocation.
struct Report {
    verdict: Result<(), Invalid>,
    path: Option<ValidPath>,
    revocation: Revocation,
}

enum Revocation {
    NotChecked,
    Checked {
        /// `crl` or `ocsp`.
        method: &'static str,
        /// The CRL file or the responder URL.
        source: String,
        status: Status,
    },
}

enum Status {
    Good,
    Revoked {
        at: Option<OffsetDateTime>,
        reason: Option<RevocationReason>,
    },
    /// The source could not say (or could not be asked).
    Unknown,
}

impl From<OcspStatus> for Status {
    fn from(status: OcspStatus) -> Self {
        match status {
            OcspStatus::Good => Self::Good,
            OcspStatus::Revoked { at, reason } => Self::Revoked {
                at: Some(at),
                reason: Some(reason),
            },
            OcspStatus::Unknown => Self::Unknown,
        }
    }
}

async fn check(inputs: &Inputs, args: &CertVerifyArgs) -> Report {
    let now = OffsetDateTime::now_utc();
    let crls: Vec<Vec<u8>> = inputs.crl.iter().cloned().collect();
    let path = validate(&Validation {
        end_entity: &inputs.cert,
        intermediates: &inputs.intermediates,
        roots: &inputs.roots,
        usage: args.purpose.map(|p| match p {
            Purpose::Client => ChainUsage::ClientAuth,
            Purpose::Server => ChainUsage::ServerAuth,
        }),
        name: args.name.as_deref(),
        crls: &crls,
        now: args.at.unwrap_or(now),
    });
    let crl_source = || {
        args.crl
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    let path = match path {
        Ok(path) => path,
        Err(invalid) => {
            let revocation = match (&invalid, &inputs.crl) {
                (Invalid::Revoked { at, reason }, Some(_)) => Revocation::Checked {
                    method: "crl",
                    source: crl_source(),
                    status: Status::Revoked {
                        at: *at,
                        reason: *reason,
                    },
                },
                _ => Revocation::NotChecked,
            };
            return Report {
                verdict: Err(invalid),
                path: None,
                revocation,
            };
        }
    };
    let (verdict, revocation) = if inputs.crl.is_some() {
        (
            Ok(()),
            Revocation::Checked {
                method: "crl",
                source: crl_source(),
                status: Status::Good,
            },
        )
    } else if args.ocsp {
        match ocsp(inputs, &path, now).await {
            Ok((url, status)) => (
                Invalid::from_ocsp(status).map_or(Ok(()), Err),
                Revocation::Checked {
                    method: "ocsp",
                    source: url,
                    status: status.into(),
                },
            ),
            Err((url, invalid)) => (
                Err(invalid),
                Revocation::Checked {
                    method: "ocsp",
                    source: url,
                    status: Status::Unknown,
                },
            ),
        }
    } else {
        (Ok(()), Revocation::NotChecked)
    };
    Report {
        verdict,
        path: Some(path),
        revocation,
    }
}

/// Asks the certificate's OCSP responder (the first one it names) about it, with a nonce.
async fn ocsp(
    inputs: &Inputs,
    path: &ValidPath,
    now: OffsetDateTime,
) -> Result<(String, OcspStatus), (String, Invalid)> {
    let unknown = |url: &str, why: String| (url.to_string(), Invalid::RevocationUnknown(why));
    let url = ocsp_responder_urls(&inputs.cert)
        .ok()
        .and_then(|urls| urls.into_iter().next())
        .ok_or_else(|| unknown("", "the certificate names no OCSP responder".into()))?;
    let issuer = path
        .issuer()
        .ok_or_else(|| unknown(&url, "the path has no issuer".into()))?;
    let nonce: [u8; 16] = rand::random();
    let request = inkan_pki::build_ocsp_request(issuer, &inputs.cert, Some(&nonce))
        .map_err(|e| unknown(&url, e.to_string()))?;
    let body = tokio::time::timeout(OCSP_TIMEOUT, post(&url, &inputs.roots, request))
        .await
        .map_err(|_| {
            unknown(
                &url,
                format!("{url} did not answer within {}s", OCSP_TIMEOUT.as_secs()),
            )
        })?
        .map_err(|e| unknown(&url, format!("{url}: {e:#}")))?;
    let status = check_ocsp_response(&body, &inputs.cert, issuer, Some(&nonce), now)
        .map_err(|invalid| (url.clone(), invalid))?;
    Ok((url, status))
}

/// POSTs an OCSP request (plain HTTP or HTTPS, trusting `roots`) and returns the body of a 200.
async fn post(url: &str, roots: &[Vec<u8>], request: Vec<u8>) -> anyhow::Result<Bytes> {
    let target = HttpTarget::parse(url)?;
    let mut conn = HttpConnection::connect(&target, client_tls_config(roots, None)?).await?;
    let (status, _, body) = conn
        .send(
            http::Method::POST,
            "",
            &[("content-type", "application/ocsp-request".into())],
            Bytes::from(request),
        )
        .await?;
    anyhow::ensure!(
        status == http::StatusCode::OK,
        "the responder answered {status}"
    );
    Ok(body)
}

impl Report {
    fn to_json(&self, inputs: &Inputs) -> serde_json::Value {
        let info = CertificateInfo::parse(&inputs.cert).ok();
        let revocation = match &self.revocation {
            Revocation::NotChecked => json!({"method": null, "status": "not_checked"}),
            Revocation::Checked {
                method,
                source,
                status,
            } => {
                let (status, at, reason) = match status {
                    Status::Good => ("good", None, None),
                    Status::Revoked { at, reason } => (
                        "revoked",
                        at.map(rfc3339),
                        reason.map(RevocationReason::name),
                    ),
                    Status::Unknown => ("unknown", None, None),
                };
                json!({
                    "method": method,
                    "source": source,
                    "status": status,
                    "revoked_at": at,
                    "reason": reason,
                })
            }
        };
        json!({
            "valid": self.verdict.is_ok(),
            "reason": self.verdict.as_ref().err().map(ToString::to_string),
            "code": self.verdict.as_ref().err().map(Invalid::code),
            "subject": info.as_ref().map(|i| i.subject.clone()),
            "serial": info.as_ref().map(|i| i.serial.clone()),
            "not_before": info.as_ref().map(|i| output::rfc3339(i.not_before)),
            "not_after": info.as_ref().map(|i| output::rfc3339(i.not_after)),
            "chain": self.chain_subjects(),
            "revocation": revocation,
        })
    }

    fn chain_subjects(&self) -> Vec<String> {
        self.path
            .iter()
            .flat_map(|p| &p.chain)
            .map(|der| {
                CertificateInfo::parse(der)
                    .map(|i| i.subject)
                    .unwrap_or_else(|_| "?".into())
            })
            .collect()
    }

    fn print(&self, inputs: &Inputs) {
        if let Ok(info) = CertificateInfo::parse(&inputs.cert) {
            println!("valid: {}", info.subject);
            println!("serial      {}", info.serial);
            println!(
                "validity    {} .. {}",
                output::rfc3339(info.not_before),
                output::rfc3339(info.not_after)
            );
        }
        println!("chain       {}", self.chain_subjects().join(" <- "));
        match &self.revocation {
            Revocation::NotChecked => {
                println!("revocation  not checked (use --crl FILE or --ocsp)")
            }
            Revocation::Checked { method, source, .. } => {
                println!("revocation  good ({method}: {source})")
            }
        }
    }
}

fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{e}: use RFC 3339, e.g. 2030-01-01T00:00:00Z"))
}

fn parse_name(text: &str) -> Result<String, String> {
    rustls::pki_types::ServerName::try_from(text)
        .map(|_| text.to_ascii_lowercase())
        .map_err(|_| format!("{text:?} is not a DNS name or IP address"))
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    certs_from_pem(&read(path)?).with_context(|| path.display().to_string())
}

/// PEM text may carry comments before the first block (`openssl pkcs7 -print_certs` writes
/// `subject=` lines); DER never contains this marker at the start of an element.
fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(10).any(|w| w == b"-----BEGIN")
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Leaves with `code` once what was printed is out.
fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}
