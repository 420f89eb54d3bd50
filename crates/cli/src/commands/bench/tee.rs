//! `inkan bench tee`: TEE enrollments end to end against a running authority — per unit a new
//! TLS connection, the TAM exchange (QueryRequest with a challenge, Update with the sealed
//! bundle), a new key, a MAC'd CSR, the enrollment, and keyd's check of the returned chain —
//! with this machine's P-256 limit measured in the same run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use inkan_agent::keyd::{enroll, KeydOptions, UnitSecret};
use inkan_authority::{DataDir, NewTaProfile, TeeRegistry};
use inkan_pki::certs_from_pem;
use serde_json::json;

use super::enroll::machine_limit;
use super::{check_load, percentile, progress};
use crate::running::load_config;

#[derive(Debug, Args)]
pub struct BenchTeeArgs {
    /// The authority's URL (its data directory, --data-dir, must be this one's: the bench
    /// registers its units there first).
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    pub url: String,
    /// Trust anchor PEM (default: the data directory's root CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Units enrolling at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Units to enroll (each registered first, with its own device key).
    #[arg(long, default_value_t = 500)]
    pub count: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn tee(data_dir: &DataDir, args: BenchTeeArgs) -> anyhow::Result<()> {
    check_load(args.concurrency, args.count)?;
    let roots = match &args.ca_file {
        Some(path) => certs_from_pem(&std::fs::read(path)?)?,
        None => vec![data_dir.root_der()?],
    };
    let config = load_config(data_dir, None)?;
    let store = super::super::open_store(data_dir, &config).await?;
    let registry = TeeRegistry::new(store, Arc::new(data_dir.sealing_key()?));
    let run = format!("bench-{}", time::OffsetDateTime::now_utc().unix_timestamp());
    registry.create_model(&run, "bench").await?;
    registry
        .create_profile(
            &NewTaProfile {
                name: run.clone(),
                identity_fields: vec!["serial".into()],
                key_algorithm: "p256".into(),
                certificate_profile: "tee".into(),
            },
            &config.profiles(),
            "bench",
        )
        .await?;
    let bar = progress(args.count as u64, "registering", args.json);
    let mut units = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let uid = format!("{run}-{i}");
        let registered = registry.register_device(&uid, &run, None, "bench").await?;
        let key = registered
            .device_key
            .context("a unit registered without a TPM has an SK_TEE")?;
        units.push((uid, key));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let limit =
        tokio::task::spawn_blocking(|| machine_limit(Duration::from_millis(1500))).await??;

    // Each unit's keyd state (key, chain, sealed bundle), removed afterwards.
    let state = std::env::temp_dir().join(format!("inkan-{run}"));
    let units = Arc::new(units);
    let next = Arc::new(AtomicUsize::new(0));
    let bar = progress(args.count as u64, "enrolling", args.json);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (units, next, bar) = (units.clone(), next.clone(), bar.clone());
        let (url, roots, profile, dir) =
            (args.url.clone(), roots.clone(), run.clone(), state.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((uid, device_key)) = units.get(i) else {
                    break;
                };
                let options = KeydOptions {
                    authority: url.clone(),
                    roots: roots.clone(),
                    uid: uid.clone(),
                    unit: UnitSecret::DeviceKey(*device_key),
                    profile: profile.clone(),
                    identity: vec![("serial".into(), format!("SN-{i}"))],
                    dir: dir.join(uid),
                };
                let t = Instant::now();
                match enroll(&options).await {
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
        "benchmark": "tee-enrollment",
        "url": args.url,
        "concurrency": args.concurrency,
        "requested": args.count,
        "succeeded": latencies.len(),
        "failed": errors.len(),
        "seconds": elapsed.as_secs_f64(),
        "enrollments_per_sec": rate,
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99)},
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
            "TEE enrollment (TLS connection + TAM query + sealed bundle + key + MAC'd CSR -> certificate, checked), {} in parallel, {} units",
            args.concurrency, args.count
        );
        println!(
            "  enrolled      {} ({} failed) in {:.2} s",
            latencies.len(),
            errors.len(),
            elapsed.as_secs_f64()
        );
        println!("  throughput    {rate:.0} enrollments/s");
        println!(
            "  latency       p50 {:.2} ms, p99 {:.2} ms",
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
    anyhow::ensure!(errors.is_empty(), "{} enrollments failed", errors.len());
    Ok(())
}
