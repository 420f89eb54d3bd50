//! `inkan bench enroll`: EST load against a running authority, and the machine's own limit for
//! the same cryptographic work measured in the same run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use inkan_authority::DataDir;
use inkan_client::{client_tls_config, EstClient, EstCredentials};
use inkan_pki::{build_csr, certs_from_pem, GeneratedKey, KeyAlgorithm};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::json;

use super::{check_load, fresh_csrs, percentile, progress};

#[derive(Debug, Args)]
pub struct BenchEnrollArgs {
    /// The authority's URL.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    pub url: String,
    /// Trust anchor PEM (default: the data directory's root CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// EST label.
    #[arg(long, default_value = "device")]
    pub label: String,
    /// The label's enrollment secret.
    #[arg(long, env = "INKAN_EST_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Parallel keep-alive connections.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Certificates to request in total.
    #[arg(long, default_value_t = 5000)]
    pub count: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn enroll(data_dir: &DataDir, args: BenchEnrollArgs) -> anyhow::Result<()> {
    check_load(args.concurrency, args.count)?;
    let roots = match &args.ca_file {
        Some(path) => certs_from_pem(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )?,
        None => vec![data_dir.root_der()?],
    };
    let quiet = args.json;

    let limit =
        tokio::task::spawn_blocking(|| machine_limit(Duration::from_millis(1500))).await??;

    let csrs = Arc::new(fresh_csrs(args.count, quiet)?);

    let tls = client_tls_config(&roots, None)?;
    let mut clients = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let credentials = EstCredentials::Secret {
            user: "bench".into(),
            secret: args.secret.clone(),
        };
        clients.push(
            EstClient::connect(
                &args.url,
                tls.clone(),
                Some(args.label.clone()),
                credentials,
            )
            .await?,
        );
    }
    // One warm-up request per connection: the server caches the verified secret, as in steady state.
    let warm = progress(args.concurrency as u64, "warming up", quiet);
    for client in &mut clients {
        let key = GeneratedKey::generate(KeyAlgorithm::P256)?;
        client
            .simpleenroll(&build_csr(&key, "bench-warmup", &[])?)
            .await
            .context("warm-up enrollment failed (wrong --secret or --label?)")?;
        warm.inc(1);
    }
    warm.finish_and_clear();

    let bar = progress(args.count as u64, "enrolling", quiet);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut client in clients {
        let csrs = csrs.clone();
        let next = next.clone();
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(csr) = csrs.get(i) else { break };
                let t = Instant::now();
                match client.simpleenroll(csr).await {
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

    latencies.sort();
    let ok = latencies.len();
    let rate = ok as f64 / elapsed.as_secs_f64();
    let pct = |p: f64| percentile(&latencies, p);
    let ratio = rate / limit.limit_per_sec;
    let summary = json!({
        "benchmark": "est-simpleenroll",
        "url": args.url,
        "concurrency": args.concurrency,
        "requested": args.count,
        "succeeded": ok,
        "failed": errors.len(),
        "seconds": elapsed.as_secs_f64(),
        "certs_per_sec": rate,
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99)},
        "machine_limit": {
            "cores": limit.cores,
            "p256_sign_per_sec": limit.sign_per_sec,
            "p256_verify_per_sec": limit.verify_per_sec,
            "certs_per_sec": limit.limit_per_sec,
        },
        "ratio_to_limit": ratio,
        "first_error": errors.first(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "EST simpleenroll, {} connections, {} certificates",
            args.concurrency, args.count
        );
        println!(
            "  issued        {ok} ({} failed) in {:.2} s",
            errors.len(),
            elapsed.as_secs_f64()
        );
        println!("  throughput    {rate:.0} certs/s");
        println!(
            "  latency       p50 {:.2} ms, p99 {:.2} ms",
            pct(0.50),
            pct(0.99)
        );
        println!(
            "  machine limit {:.0} certs/s = {} cores / (t_sign + t_verify), P-256 sign {:.0}/s, verify {:.0}/s",
            limit.limit_per_sec, limit.cores, limit.sign_per_sec, limit.verify_per_sec
        );
        println!("  ratio         {:.0}% of the limit", ratio * 100.0);
        if let Some(e) = errors.first() {
            println!("  first error   {e}");
        }
    }
    anyhow::ensure!(errors.is_empty(), "{} requests failed", errors.len());
    Ok(())
}

/// The machine's limit for issuing: every core signing, then every core verifying, P-256.
pub(super) struct MachineLimit {
    pub cores: usize,
    pub sign_per_sec: f64,
    pub verify_per_sec: f64,
    pub limit_per_sec: f64,
}

pub(super) fn machine_limit(each: Duration) -> anyhow::Result<MachineLimit> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("key generation failed"))?;
    let key = Arc::new(
        EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .map_err(|_| anyhow::anyhow!("key load failed"))?,
    );
    // A message the size of a typical to-be-signed certificate.
    let message = Arc::new(vec![0x5au8; 400]);
    let sig = key
        .sign(&rng, &message)
        .map_err(|_| anyhow::anyhow!("signing failed"))?;
    let sig = Arc::new(sig.as_ref().to_vec());
    let public = Arc::new(key.public_key().as_ref().to_vec());

    let sign_per_sec = on_all_cores(cores, each, {
        let key = key.clone();
        let message = message.clone();
        move || {
            let rng = SystemRandom::new();
            let _ = key.sign(&rng, &message);
        }
    });
    let verify_per_sec = on_all_cores(cores, each, move || {
        let pk = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_ASN1,
            public.as_slice(),
        );
        let _ = pk.verify(&message, &sig);
    });
    Ok(MachineLimit {
        cores,
        sign_per_sec,
        verify_per_sec,
        limit_per_sec: 1.0 / (1.0 / sign_per_sec + 1.0 / verify_per_sec),
    })
}

/// Operations per second of `op` running on `cores` threads for `each`.
fn on_all_cores(
    cores: usize,
    each: Duration,
    op: impl Fn() + Send + Sync + Clone + 'static,
) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let op = op.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed() < each {
                    for _ in 0..64 {
                        op();
                    }
                    n += 64;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    total as f64 / start.elapsed().as_secs_f64()
}
