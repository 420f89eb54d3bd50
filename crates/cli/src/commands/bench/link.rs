//! `inkan bench link`: approved logins of linked devices end to end against a running
//! authority — per login the device's signed request (CSR, nonce), the anchor's listing and
//! signed approval over mTLS, the certificate's issue (the approval consumed with it) and the
//! device's poll that fetches it — with this machine's P-256 limit measured in the same run.
//!
//! The anchor here is a software key with an administrator-issued level-3 certificate (the
//! `tpm` profile), made in --data-dir: on a phone, the TPM's signature adds its own time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use inkan_agent::linking::{self, AnchorSigner, Session};
use inkan_agent::AgentError;
use inkan_authority::{Authority, DataDir, EnrollMethod, IssueRequest};
use inkan_pki::{build_csr, certs_from_pem, GeneratedKey, KeyAlgorithm};
use serde_json::json;

use super::enroll::machine_limit;
use super::{check_load, percentile, progress};
use crate::running::{load_config, passphrase};

#[derive(Debug, Args)]
pub struct BenchLinkArgs {
    /// The authority's URL (its data directory, --data-dir, must be this one's: the bench
    /// issues its anchor's certificate there first).
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    pub url: String,
    /// Trust anchor PEM (default: the data directory's root CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Linked devices logging in at once (each its own anchor connection too).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Logins to approve.
    #[arg(long, default_value_t = 200)]
    pub count: usize,
    /// File with the CA key's passphrase (or INKAN_CA_PASSPHRASE).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

struct Software(GeneratedKey);

impl AnchorSigner for Software {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, AgentError> {
        Ok(self.0.sign(message)?)
    }
}

/// The anchor: a software key and a level-3 certificate issued by the administrator.
async fn anchor(
    data_dir: &DataDir,
    args: &BenchLinkArgs,
) -> anyhow::Result<(Vec<Vec<u8>>, GeneratedKey)> {
    let config = load_config(data_dir, None)?;
    let store = super::super::open_store(data_dir, &config).await?;
    let ca = data_dir.load_issuing_ca(passphrase(args.passphrase_file.as_ref())?.as_deref())?;
    let authority = Authority::start(config, ca, store).await?;
    let key = GeneratedKey::generate(KeyAlgorithm::P256)?;
    let issued = authority
        .issue(IssueRequest {
            csr_der: build_csr(&key, "bench-anchor", &[])?,
            profile: "tpm".into(),
            method: EnrollMethod::Admin {
                actor: "bench".into(),
            },
            validity: None,
            label: None,
        })
        .await?;
    Ok((vec![issued.der, authority.ca().cert_der().to_vec()], key))
}

pub async fn link(data_dir: &DataDir, args: BenchLinkArgs) -> anyhow::Result<()> {
    check_load(args.concurrency, args.count)?;
    let roots = match &args.ca_file {
        Some(path) => certs_from_pem(&std::fs::read(path)?)?,
        None => vec![data_dir.root_der()?],
    };
    let (chain, key) = anchor(data_dir, &args).await?;
    let tls = inkan_client::client_tls_config(&roots, Some((chain, key.pkcs8_der().to_vec())))?;
    let signer = Arc::new(Software(key));
    let mut session = Session::connect(&args.url, &roots, Some(tls.clone())).await?;
    let run = format!("bench-{}", time::OffsetDateTime::now_utc().unix_timestamp());
    linking::create_account(&mut session, &run)
        .await
        .context("creating the bench account")?;

    // One linked device per concurrent task (an account links at most 8).
    let concurrency = args.concurrency.min(8);
    let state = std::env::temp_dir().join(format!("inkan-{run}"));
    let bar = progress(concurrency as u64, "linking", args.json);
    let mut devices = Vec::new();
    for i in 0..concurrency {
        let dir = state.join(format!("device-{i}"));
        let mut device = Session::connect(&args.url, &roots, None).await?;
        let code = linking::start_link(&mut device, &format!("{run}-{i}"), &dir).await?;
        linking::confirm_link(&mut session, &*signer, &code.link_token, &code.code).await?;
        devices.push(dir);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let limit =
        tokio::task::spawn_blocking(|| machine_limit(Duration::from_millis(1500))).await??;

    let per_task = args.count.div_ceil(concurrency);
    let bar = progress((per_task * concurrency) as u64, "approving", args.json);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for dir in devices {
        let (url, roots, tls, signer, bar) = (
            args.url.clone(),
            roots.clone(),
            tls.clone(),
            signer.clone(),
            bar.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            let sessions = async {
                Ok::<_, AgentError>((
                    Session::connect(&url, &roots, None).await?,
                    Session::connect(&url, &roots, Some(tls)).await?,
                ))
            };
            let (mut device, mut anchor) = match sessions.await {
                Ok(pair) => pair,
                Err(e) => return (latencies, vec![e.to_string()]),
            };
            for _ in 0..per_task {
                let t = Instant::now();
                let one = async {
                    let login = linking::request_login(&mut device, &dir).await?;
                    let waiting = linking::pending(&mut anchor).await?;
                    let listed = waiting
                        .iter()
                        .find(|l| l["id"].as_str() == Some(login.id.as_str()))
                        .ok_or_else(|| AgentError::Protocol("the login is not listed".into()))?;
                    linking::approve(&mut anchor, &*signer, listed).await?;
                    linking::await_login(
                        &mut device,
                        &login,
                        &dir,
                        Duration::from_secs(10),
                        Duration::from_millis(1),
                    )
                    .await
                };
                match one.await {
                    Ok(_) => latencies.push(t.elapsed()),
                    Err(e) => errors.push(e.to_string()),
                }
                bar.inc(1);
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors.extend(e);
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&state);
    latencies.sort();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    let pct = |p: f64| percentile(&latencies, p);
    let summary = json!({
        "benchmark": "linked-login",
        "url": args.url,
        "concurrency": concurrency,
        "succeeded": latencies.len(),
        "failed": errors.len(),
        "seconds": elapsed.as_secs_f64(),
        "logins_per_sec": rate,
        "round_trip_ms": {"p50": pct(0.50), "p99": pct(0.99)},
        "machine_limit": {
            "cores": limit.cores,
            "enroll_certs_per_sec": limit.limit_per_sec,
        },
        "ratio_to_enroll_limit": rate / limit.limit_per_sec,
        "first_error": errors.first(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "Linked-device login (signed request -> anchor lists and approves over mTLS -> certificate -> device fetches it), {concurrency} devices in parallel"
        );
        println!(
            "  approved      {} ({} failed) in {:.2} s",
            latencies.len(),
            errors.len(),
            elapsed.as_secs_f64()
        );
        println!("  throughput    {rate:.0} logins/s");
        println!(
            "  round trip    p50 {:.2} ms, p99 {:.2} ms",
            pct(0.50),
            pct(0.99)
        );
        println!(
            "  enroll limit  {:.0} certs/s ({} cores / (t_sign + t_verify)): ratio {:.0}%",
            limit.limit_per_sec,
            limit.cores,
            rate / limit.limit_per_sec * 100.0
        );
        if let Some(e) = errors.first() {
            println!("  first error   {e}");
        }
    }
    anyhow::ensure!(errors.is_empty(), "{} logins failed", errors.len());
    Ok(())
}
