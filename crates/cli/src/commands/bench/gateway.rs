//! `inkan bench gateway`: GET requests through a TLS front (inkan gateway, nginx, …) with a
//! client certificate, over keep-alive or with a full handshake per request.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use inkan_client::{client_tls_config, HttpTarget};
use inkan_pki::{certs_from_pem, GeneratedKey};
use serde_json::json;

use super::load::{self, RequestShape};
use super::{check_load, percentile, progress};

#[derive(Debug, Args)]
pub struct BenchGatewayArgs {
    /// The URL to GET (https:// for a TLS front, http:// for an upstream directly).
    #[arg(long)]
    pub url: String,
    /// Trust anchor PEM for an https:// URL.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM) to present.
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// The client certificate's key (PKCS#8 PEM).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Parallel connections.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Requests in total.
    #[arg(long, default_value_t = 50_000)]
    pub count: usize,
    /// A new connection (full TLS handshake) for every request instead of keep-alive.
    #[arg(long)]
    pub new_connections: bool,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn gateway(args: BenchGatewayArgs) -> anyhow::Result<()> {
    check_load(args.concurrency, args.count)?;
    let target = HttpTarget::parse(&args.url)?;
    let roots = match &args.ca_file {
        Some(p) => {
            certs_from_pem(&std::fs::read(p).with_context(|| format!("reading {}", p.display()))?)?
        }
        None => Vec::new(),
    };
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            let chain = certs_from_pem(
                &std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?,
            )?;
            let key = GeneratedKey::from_pem(
                &std::fs::read_to_string(key)
                    .with_context(|| format!("reading {}", key.display()))?,
                None,
            )?;
            Some((chain, key.pkcs8_der().to_vec()))
        }
        (None, None) => None,
        _ => anyhow::bail!("give both --cert and --key, or neither"),
    };
    anyhow::ensure!(
        !target.secure || !roots.is_empty(),
        "an https:// URL needs --ca-file"
    );
    let mut tls = (*client_tls_config(&roots, identity)?).clone();
    // Every new connection is a full handshake, as a fleet of distinct devices would make.
    tls.resumption = rustls::client::Resumption::disabled();
    let tls = std::sync::Arc::new(tls);
    let shape = RequestShape {
        method: http::Method::GET,
        path: String::new(),
        headers: Vec::new(),
        bodies: Vec::new(),
    };
    let bar = progress(args.count as u64, "requesting", args.json);
    let result = load::run(
        &target,
        tls,
        shape,
        args.concurrency,
        args.count,
        !args.new_connections,
        bar,
    )
    .await;
    let mode = if args.new_connections {
        "new connection per request"
    } else {
        "keep-alive"
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "benchmark": "gateway",
                "url": args.url,
                "mode": mode,
                "concurrency": args.concurrency,
                "succeeded": result.latencies.len(),
                "failed": result.errors,
                "seconds": result.elapsed.as_secs_f64(),
                "requests_per_sec": result.rate(),
                "latency_ms": {"p50": percentile(&result.latencies, 0.5), "p99": percentile(&result.latencies, 0.99)},
                "first_error": result.first_error,
            }))?
        );
    } else {
        println!(
            "GET {} ({mode}), {} connections",
            args.url, args.concurrency
        );
        println!(
            "  answered      {} ({} failed) in {:.2} s",
            result.latencies.len(),
            result.errors,
            result.elapsed.as_secs_f64()
        );
        println!("  throughput    {:.0} requests/s", result.rate());
        println!(
            "  latency       p50 {:.2} ms, p99 {:.2} ms",
            percentile(&result.latencies, 0.5),
            percentile(&result.latencies, 0.99)
        );
        if let Some(e) = &result.first_error {
            println!("  first error   {e}");
        }
    }
    anyhow::ensure!(result.errors == 0, "{} requests failed", result.errors);
    Ok(())
}
