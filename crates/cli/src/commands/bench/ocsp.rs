//! `inkan bench ocsp`: pre-built DER requests over HTTP keep-alive (or one per connection).

use std::path::PathBuf;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use inkan_authority::DataDir;
use inkan_client::{client_tls_config, HttpConnection, HttpTarget};
use inkan_pki::{
    build_ocsp_request, build_ocsp_request_for_serial, certs_from_pem, ocsp_response_status, Serial,
};
use inkan_store::{CertificateQuery, CertificateStatus};
use serde_json::json;

use super::load::{self, RequestShape};
use super::{check_load, percentile, progress};

#[derive(Debug, Args)]
pub struct BenchOcspArgs {
    /// The OCSP responder URL (http:// or https://), e.g. http://127.0.0.1:8080/ocsp.
    #[arg(long)]
    pub url: String,
    /// Issuer certificate (PEM) of the certificates asked about.
    #[arg(long)]
    pub issuer: PathBuf,
    /// Certificates to ask about (PEM files, each may hold many); requests cycle through them.
    #[arg(long = "cert", required_unless_present = "from_store")]
    pub certs: Vec<PathBuf>,
    /// Instead of --cert: ask about the N most recently recorded valid certificates in the
    /// data directory's database (only serial numbers are needed), e.g. to spread requests
    /// over many certificates of a large registry.
    #[arg(long, value_name = "N", conflicts_with = "certs")]
    pub from_store: Option<i64>,
    /// Put a nonce in every request: a responder then signs each answer afresh (and looks the
    /// certificate up each time) instead of serving a pre-signed response.
    #[arg(long)]
    pub nonce: bool,
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
    check_load(args.concurrency, args.count)?;
    let read = |p: &std::path::PathBuf| -> anyhow::Result<Vec<Vec<u8>>> {
        let pem = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let certs = certs_from_pem(&pem)?;
        anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", p.display());
        Ok(certs)
    };
    let issuer = read(&args.issuer)?.remove(0);
    let nonce = || args.nonce.then(rand::random::<[u8; 16]>);
    let requests: Vec<Bytes> = match args.from_store {
        Some(n) => serials_in_store(data_dir, n)
            .await?
            .iter()
            .map(|serial| {
                let nonce = nonce();
                build_ocsp_request_for_serial(&issuer, serial, nonce.as_ref().map(|n| &n[..]))
            })
            .map(|r| r.map(Bytes::from))
            .collect::<Result<_, _>>()?,
        None => {
            let mut certs = Vec::new();
            for path in &args.certs {
                certs.extend(read(path)?);
            }
            certs
                .iter()
                .map(|cert| {
                    let nonce = nonce();
                    build_ocsp_request(&issuer, cert, nonce.as_ref().map(|n| &n[..]))
                        .map(Bytes::from)
                })
                .collect::<Result<_, _>>()?
        }
    };
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

    let requests_len = requests.len();
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
                "nonce": args.nonce,
                "certificates": requests_len,
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
            "OCSP {}, {} connections{}, {requests_len} certificates{}",
            args.url,
            args.concurrency,
            if args.no_keepalive {
                ", one request per connection"
            } else {
                ", keep-alive"
            },
            if args.nonce {
                ", a nonce in each request"
            } else {
                ""
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

/// The serial numbers of the `n` most recently recorded valid certificates.
async fn serials_in_store(data_dir: &DataDir, n: i64) -> anyhow::Result<Vec<Serial>> {
    anyhow::ensure!(n > 0, "--from-store takes a positive count");
    let config = crate::running::load_config(data_dir, None)?;
    let store = crate::commands::open_store(data_dir, &config).await?;
    let mut serials = Vec::new();
    let mut before = None;
    while (serials.len() as i64) < n {
        let page = store
            .list_certificates(&CertificateQuery {
                status: Some(CertificateStatus::Valid),
                limit: Some((n - serials.len() as i64).min(1000)),
                before_audit_seq: before,
                ..Default::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        before = Some(last.audit_seq);
        for record in &page {
            serials.push(record.serial.parse::<Serial>()?);
        }
    }
    anyhow::ensure!(
        serials.len() as i64 == n,
        "the database holds {} valid certificates, fewer than --from-store {n}",
        serials.len()
    );
    Ok(serials)
}
