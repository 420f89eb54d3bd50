//! `inkan bench register`: full device registrations (`POST /v1/devices`, a new TLS connection
//! with the ProductCert each time, a fresh key and CSR per device) against a running authority.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use bytes::Bytes;
use clap::Args;
use inkan_authority::DataDir;
use inkan_client::{client_tls_config, HttpTarget};
use inkan_pki::{certs_from_pem, GeneratedKey};
use serde_json::json;

use super::enroll::machine_limit;
use super::load::{self, RequestShape};
use super::{check_load, fresh_csrs, percentile, progress};

#[derive(Debug, Args)]
pub struct BenchRegisterArgs {
    /// The authority's URL.
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    pub url: String,
    /// Trust anchor PEM (default: the data directory's root CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// The ProductCert chain (PEM) of a product whose cap admits --count devices.
    #[arg(long)]
    pub product_cert: PathBuf,
    /// The ProductCert's key (PEM).
    #[arg(long)]
    pub product_key: PathBuf,
    /// Parallel registrations.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Devices to register in total (each with its own new key).
    #[arg(long, default_value_t = 2000)]
    pub count: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn register(data_dir: &DataDir, args: BenchRegisterArgs) -> anyhow::Result<()> {
    check_load(args.concurrency, args.count)?;
    let read =
        |p: &std::path::Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let roots = match &args.ca_file {
        Some(path) => certs_from_pem(&read(path)?)?,
        None => vec![data_dir.root_der()?],
    };
    let chain = certs_from_pem(&read(&args.product_cert)?)?;
    let key_pem =
        String::from_utf8(read(&args.product_key)?).context("--product-key is not PEM")?;
    let product_key = GeneratedKey::from_pem(&key_pem, None)?;
    let tls = client_tls_config(&roots, Some((chain, product_key.pkcs8_der().to_vec())))?;
    let quiet = args.json;

    let limit =
        tokio::task::spawn_blocking(|| machine_limit(Duration::from_millis(1500))).await??;
    let bodies = fresh_csrs(args.count, quiet)?
        .into_iter()
        .map(|csr| {
            serde_json::to_vec(&json!({
                "csr": base64::engine::general_purpose::STANDARD.encode(csr),
            }))
            .map(Bytes::from)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let target = HttpTarget::parse(&args.url)?;
    let bar = progress(args.count as u64, "registering", quiet);
    let result = load::run(
        &target,
        tls,
        RequestShape {
            method: http::Method::POST,
            path: "/v1/devices".into(),
            headers: vec![("content-type", "application/json".into())],
            bodies,
        },
        args.concurrency,
        args.count,
        false,
        bar,
    )
    .await;
    let rate = result.rate();
    let pct = |p: f64| percentile(&result.latencies, p);
    // Server-side public-key work per registration: TLS (sign the handshake, verify the
    // ProductCert and its CertificateVerify), CSR proof of possession, DeviceCert signature.
    let registration_limit = 1.0 / (2.0 / limit.sign_per_sec + 3.0 / limit.verify_per_sec);
    let summary = json!({
        "benchmark": "device-registration",
        "url": args.url,
        "concurrency": args.concurrency,
        "requested": args.count,
        "succeeded": result.latencies.len(),
        "failed": result.errors,
        "seconds": result.elapsed.as_secs_f64(),
        "registrations_per_sec": rate,
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99)},
        "machine_limit": {
            "cores": limit.cores,
            "enroll_certs_per_sec": limit.limit_per_sec,
            "registration_crypto_per_sec": registration_limit,
        },
        "ratio_to_enroll_limit": rate / limit.limit_per_sec,
        "ratio_to_registration_crypto": rate / registration_limit,
        "first_error": result.first_error,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "device registration (new TLS connection + ProductCert + CSR -> DeviceCert), {} in parallel, {} devices",
            args.concurrency, args.count
        );
        println!(
            "  registered    {} ({} failed) in {:.2} s",
            result.latencies.len(),
            result.errors,
            result.elapsed.as_secs_f64()
        );
        println!("  throughput    {rate:.0} registrations/s");
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
        println!(
            "  crypto limit  {registration_limit:.0} registrations/s (2 signatures + 3 verifications each): ratio {:.0}%",
            rate / registration_limit * 100.0
        );
        if let Some(e) = &result.first_error {
            println!("  first error   {e}");
        }
    }
    anyhow::ensure!(result.errors == 0, "{} registrations failed", result.errors);
    Ok(())
}
