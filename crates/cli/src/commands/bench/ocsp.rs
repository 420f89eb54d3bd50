//! `inkan bench ocsp`: pre-built DER requests over HTTP keep-alive (or one per connection).

use std::path::PathBuf;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use inkan_authority::DataDir;
use inkan_client::{client_tls_config, HttpConnection, HttpTarget};
use inkan_pki::{build_ocsp_request, certs_from_pem, ocsp_response_status};
use serde_json::json;

use super::load::{self, RequestShape};
use super::{percentile, progress};

#[derive(Debug, Args)]
pub struct BenchOcspArgs {
    /// The OCSP responder URL (http:// or https://), e.g. http://127.0.0.1:8080/ocsp.
    #[arg(long)]
    pub url: String,
    /// Issuer certificate (PEM) of the certificates asked about.
    #[arg(long)]
    pub issuer: PathBuf,
    /// Certificates (PEM files) to ask about; requests cycle through them.
    #[arg(long = "cert", required = true)]
    pub certs: Vec<PathBuf>,
    /// Trust anchor for an https:// URL (default: the data directory's root CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Parallel connections.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Requests in total.
    #[arg(long, default_value_t = 100_000)]
    pub count: usize,
    /// One request per connection (for responders without keep-alive, such as `openssl ocsp`).
    #[arg(long)]
    pub no_keepalive: bool,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn ocsp(data_dir: &DataDir, args: BenchOcspArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.concurrency > 0 && args.count > 0,
        "--concurrency and --count must be positive"
    );
    let read = |p: &std::path::PathBuf| -> anyhow::Result<Vec<u8>> {
        let pem = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        Ok(certs_from_pem(&pem)?.remove(0))
    };
    let issuer = read(&args.issuer)?;
    let requests: Vec<Bytes> = args
        .certs
        .iter()
        .map(|c| Ok(Bytes::from(build_ocsp_request(&issuer, &read(c)?, None)?)))
        .collect::<anyhow::Result<_>>()?;
    let target = HttpTarget::parse(&args.url)?;
    let roots = match (&args.ca_file, target.secure) {
        (Some(path), _) => certs_from_pem(&std::fs::read(path)?)?,
        (None, true) => vec![data_dir.root_der()?],
        (None, false) => Vec::new(),
    };
    let tls = client_tls_config(&roots, None)?;

    // One checked request first: the responder must answer with a successful response.
    let mut probe = HttpConnection::connect(&target, tls.clone()).await?;
    let (status, _, body) = probe
        .send(
            http::Method::POST,
            "",
            &[("content-type", "application/ocsp-request".into())],
            requests[0].clone(),
        )
        .await?;
    anyhow::ensure!(status.is_success(), "the responder answered HTTP {status}");
    let first = ocsp_response_status(&body)
        .context("the first response is not a successful OCSP response")?;

    let shape = RequestShape {
        method: http::Method::POST,
        path: String::new(),
        headers: vec![("content-type", "application/ocsp-request".into())],
        bodies: requests,
    };
    let bar = progress(args.count as u64, "requesting", args.json);
    let result = load::run(
        &target,
        tls,
        shape,
        args.concurrency,
        args.count,
        !args.no_keepalive,
        bar,
    )
    .await;
    let (latencies, errors, elapsed) = (&result.latencies, result.errors, result.elapsed);
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "benchmark": "ocsp",
                "url": args.url,
                "keepalive": !args.no_keepalive,
                "concurrency": args.concurrency,
                "succeeded": latencies.len(),
                "failed": errors,
                "seconds": elapsed.as_secs_f64(),
                "responses_per_sec": rate,
                "latency_ms": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)},
                "first_status": format!("{first:?}"),
            }))?
        );
    } else {
        println!(
            "OCSP {}, {} connections{}",
            args.url,
            args.concurrency,
            if args.no_keepalive {
                ", one request per connection"
            } else {
                ", keep-alive"
            }
        );
        println!(
            "  answered      {} ({errors} failed) in {:.2} s; first status {first:?}",
            latencies.len(),
            elapsed.as_secs_f64()
        );
        println!("  throughput    {rate:.0} responses/s");
        println!(
            "  latency       p50 {:.2} ms, p99 {:.2} ms",
            percentile(latencies, 0.5),
            percentile(latencies, 0.99)
        );
    }
    anyhow::ensure!(errors == 0, "{errors} requests failed");
    Ok(())
}
