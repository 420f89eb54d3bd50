//! `inkan bench ocsp`: pre-built DER requests over HTTP keep-alive (or one per connection).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use inkan_agent::{client_tls_config, HttpConnection, HttpTarget};
use inkan_authority::DataDir;
use inkan_pki::{build_ocsp_request, certs_from_pem, ocsp_response_status};
use serde_json::json;

use super::{percentile, progress};
use crate::cli::BenchOcspArgs;

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
    let requests = Arc::new(requests);
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

    let bar = progress(args.count as u64, "requesting", args.json);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (target, tls, requests, next, bar) = (
            target.clone(),
            tls.clone(),
            requests.clone(),
            next.clone(),
            bar.clone(),
        );
        let keepalive = !args.no_keepalive;
        let count = args.count;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut conn = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                if conn.is_none() || !keepalive {
                    conn = HttpConnection::connect(&target, tls.clone()).await.ok();
                }
                let Some(c) = conn.as_mut() else {
                    errors += 1;
                    continue;
                };
                let body = requests[i % requests.len()].clone();
                match c
                    .send(
                        http::Method::POST,
                        "",
                        &[("content-type", "application/ocsp-request".into())],
                        body,
                    )
                    .await
                {
                    Ok((s, _, b)) if s.is_success() && !b.is_empty() => latencies.push(t.elapsed()),
                    _ => {
                        errors += 1;
                        conn = None;
                    }
                }
                bar.inc(1);
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    latencies.sort();
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
                "latency_ms": {"p50": percentile(&latencies, 0.5), "p99": percentile(&latencies, 0.99)},
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
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
    }
    anyhow::ensure!(errors == 0, "{errors} requests failed");
    Ok(())
}
