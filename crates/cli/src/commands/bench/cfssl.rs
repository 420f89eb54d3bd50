//! `inkan bench cfssl`: the same signing load as `inkan bench enroll` (a fresh P-256 CSR per
//! request, keep-alive connections), sent to a `cfssl serve` as its `/api/v1/cfssl/sign` JSON
//! request — the peer row of `scripts/bench-peers`.

use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use inkan_client::{client_tls_config, HttpTarget};
use inkan_pki::der_to_pem;
use serde_json::json;

use super::enroll::machine_limit;
use super::load::{self, RequestShape};
use super::{check_load, fresh_csrs, percentile, progress};

#[derive(Debug, Args)]
pub struct BenchCfsslArgs {
    /// The `cfssl serve` base URL (plain HTTP, as cfssl serves it).
    #[arg(long, default_value = "http://127.0.0.1:8888")]
    pub url: String,
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

pub async fn cfssl(args: BenchCfsslArgs) -> anyhow::Result<()> {
    check_load(args.concurrency, args.count)?;
    let target = HttpTarget::parse(&args.url)?;
    anyhow::ensure!(
        !target.secure,
        "cfssl serve speaks plain HTTP: give an http:// URL"
    );
    let quiet = args.json;
    let limit =
        tokio::task::spawn_blocking(|| machine_limit(Duration::from_millis(1500))).await??;

    let bodies = fresh_csrs(args.count, quiet)?
        .into_iter()
        .map(|csr| {
            serde_json::to_vec(&json!({
                "certificate_request": der_to_pem("CERTIFICATE REQUEST", &csr),
            }))
            .map(Bytes::from)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let bar = progress(args.count as u64, "signing", quiet);
    let result = load::run(
        &target,
        client_tls_config(&[], None)?,
        RequestShape {
            method: http::Method::POST,
            path: "/api/v1/cfssl/sign".into(),
            headers: vec![("content-type", "application/json".into())],
            bodies,
        },
        args.concurrency,
        args.count,
        true,
        bar,
    )
    .await;
    let rate = result.rate();
    let pct = |p: f64| percentile(&result.latencies, p);
    let summary = json!({
        "benchmark": "cfssl-sign",
        "url": args.url,
        "concurrency": args.concurrency,
        "requested": args.count,
        "succeeded": result.latencies.len(),
        "failed": result.errors,
        "seconds": result.elapsed.as_secs_f64(),
        "certs_per_sec": rate,
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99)},
        "machine_limit": {
            "cores": limit.cores,
            "certs_per_sec": limit.limit_per_sec,
        },
        "ratio_to_limit": rate / limit.limit_per_sec,
        "first_error": result.first_error,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "cfssl sign, {} connections, {} certificates",
            args.concurrency, args.count
        );
        println!(
            "  issued        {} ({} failed) in {:.2} s",
            result.latencies.len(),
            result.errors,
            result.elapsed.as_secs_f64()
        );
        println!("  throughput    {rate:.0} certs/s");
        println!(
            "  latency       p50 {:.2} ms, p99 {:.2} ms",
            pct(0.50),
            pct(0.99)
        );
        println!(
            "  ratio         {:.1}% of the limit ({:.0} certs/s on {} cores)",
            rate / limit.limit_per_sec * 100.0,
            limit.limit_per_sec,
            limit.cores
        );
        if let Some(e) = &result.first_error {
            println!("  first error   {e}");
        }
    }
    anyhow::ensure!(result.errors == 0, "{} requests failed", result.errors);
    Ok(())
}
