//! `inkan bench console`: the console's pages over HTTPS at a size. Makes a CA and an authority
//! in a fresh `--data-dir`, records `--certificates` certificates (1% revoked), logs in with an
//! admin token and times each page on one keep-alive connection, as one operator's browser
//! would: the whole response, which bounds the time to its first byte. The certificates are
//! recorded as if issued over the past year.

use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use inkan_authority::{CaInitOptions, DataDir, HttpListen};
use inkan_client::{client_tls_config, HttpConnection, HttpTarget};
use inkan_pki::KeyAlgorithm;
use inkan_store::{NewCertificate, Revocation};
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::net::TcpListener;

use super::{percentile, progress};
use crate::running::{load_config, RunningAuthority};

#[derive(Debug, Args)]
pub struct BenchConsoleArgs {
    /// Certificates to record before measuring.
    #[arg(long, default_value_t = 100_000)]
    pub certificates: u64,
    /// Requests per page.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Certificates per transaction while filling.
const BATCH: u64 = 1000;
/// A year, in milliseconds.
const YEAR_MS: i64 = 365 * 86_400_000;

fn serial(n: u64) -> String {
    format!("c{n:010}")
}

pub async fn console(data_dir: &DataDir, args: BenchConsoleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !data_dir.has_ca(),
        "{} holds a CA: give `--data-dir` a new directory (the benchmark fills its database with junk certificates)",
        data_dir.root().display()
    );
    anyhow::ensure!(
        args.certificates >= 100 && args.requests > 0,
        "--certificates at least 100, --requests at least 1"
    );
    let mut config = load_config(data_dir, None)?;
    data_dir.init_ca(
        &CaInitOptions {
            name: "inkan bench".into(),
            algorithm: KeyAlgorithm::P256,
            passphrase: None,
            root_crl_url: None,
        },
        time::OffsetDateTime::now_utc(),
    )?;
    config.server.http_listen = HttpListen::Off;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    // The benchmark fills the authority's database through a store handle of its own.
    let store = crate::commands::open_store(data_dir, &config).await?;
    let running = RunningAuthority::start_on(data_dir, config, listener, None).await?;
    let authority = running.authority.clone();
    let issuer = authority.issuer_id().to_string();

    let bar = progress(args.certificates, "filling", args.json);
    let fill_started = Instant::now();
    let fill_from_ms = unix_ms() - YEAR_MS - 86_400_000;
    let mut n = 0;
    while n < args.certificates {
        let batch: Vec<NewCertificate> = (n..(n + BATCH).min(args.certificates))
            .map(|i| NewCertificate {
                serial: serial(i),
                issuer_id: issuer.clone(),
                subject: format!("CN=meter-{i}"),
                sans: vec![format!("DNS:meter-{i}.fleet.example")],
                spki_sha256: serial(i),
                not_before: 0,
                not_after: i64::MAX / 2,
                profile: "device".into(),
                method: "est-secret".into(),
                evidence: json!({"label": "device"}),
                der: vec![0; 500],
                actor: "bench".into(),
                bootstrap_serial: None,
                approval: None,
                tpm: None,
                tee: None,
                device_id: None,
                level: Some(2),
            })
            .collect();
        // Recorded over the past year, as an authority's certificates are: the overview's
        // "issued in the last hour" reads a short index range, as it would in service.
        let at_ms = fill_from_ms + (n as i64) * YEAR_MS / args.certificates as i64;
        store.record_issued(&batch, at_ms).await?;
        for cert in batch.iter().step_by(100) {
            store
                .revoke(
                    Revocation {
                        serial: &cert.serial,
                        reason: "superseded",
                        revoked_at: unix_ms() / 1000,
                        actor: "bench",
                    },
                    None,
                )
                .await?;
        }
        bar.inc(batch.len() as u64);
        n += batch.len() as u64;
    }
    bar.finish_and_clear();
    let fill_rate = args.certificates as f64 / fill_started.elapsed().as_secs_f64();

    let token = authority
        .credentials()
        .create_admin_token("bench", "bench")
        .await?;
    let url = format!("https://localhost:{}", running.addr.port());
    let target = HttpTarget::parse(&url)?;
    let tls = client_tls_config(&[data_dir.root_der()?], None)?;
    let mut conn = HttpConnection::connect(&target, tls).await?;
    let (status, headers, _) = conn
        .send(
            http::Method::POST,
            "/console/login",
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            Bytes::from(format!("token={token}")),
        )
        .await?;
    anyhow::ensure!(status.as_u16() == 303, "console login: HTTP {status}");
    let cookie = headers
        .get(http::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("console login set no cookie")?
        .to_string();

    let middle = {
        let page = store
            .list_certificates(&inkan_store::CertificateQuery {
                limit: Some(1),
                ..Default::default()
            })
            .await?;
        page.first().map_or(0, |c| c.audit_seq / 2)
    };
    let size = args.certificates;
    // Each page: the path of a request, and what its answer must hold.
    type Next = Box<dyn FnMut() -> (String, String) + Send>;
    let pick = move |rng: &mut rand::rngs::StdRng| rng.gen_range(0..size);
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut rng2 = rand::rngs::StdRng::from_entropy();
    let pages: Vec<(&str, Next)> = vec![
        (
            "overview",
            Box::new(|| ("/console".into(), "Latest certificates".into())),
        ),
        (
            "certificates, first page",
            Box::new(|| ("/console/certificates".into(), "Older certificates".into())),
        ),
        (
            "certificates, deep page",
            Box::new(move || {
                (
                    format!("/console/certificates?status=valid&before={middle}"),
                    "Older certificates".into(),
                )
            }),
        ),
        (
            "search by name",
            Box::new(move || {
                let n = pick(&mut rng);
                (
                    format!("/console/certificates?name=meter-{n}.fleet"),
                    format!(">{}<", serial(n)),
                )
            }),
        ),
        (
            "one certificate",
            Box::new(move || {
                let n = pick(&mut rng2);
                (
                    format!("/console/certificates/{}", serial(n)),
                    format!("CN=meter-{n}<"),
                )
            }),
        ),
        (
            "audit log, deep",
            Box::new(move || {
                (
                    format!("/console/audit?after={middle}"),
                    "Later events".into(),
                )
            }),
        ),
    ];
    let mut rows = Vec::new();
    for (name, mut path) in pages {
        let mut times = Vec::with_capacity(args.requests);
        let mut largest = 0usize;
        for _ in 0..args.requests {
            let (path, expected) = path();
            let started = Instant::now();
            let (status, _, body) = conn
                .send(
                    http::Method::GET,
                    &path,
                    &[("cookie", cookie.clone())],
                    Bytes::new(),
                )
                .await?;
            times.push(started.elapsed());
            anyhow::ensure!(status.is_success(), "{path}: HTTP {status}");
            anyhow::ensure!(
                String::from_utf8_lossy(&body).contains(&expected),
                "{path}: the page lacks {expected:?}"
            );
            largest = largest.max(body.len());
        }
        times.sort();
        rows.push((
            name,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            largest,
        ));
    }
    running.shutdown().await?;

    if args.json {
        let pages: Vec<_> = rows
            .iter()
            .map(|(name, p50, p99, bytes)| json!({"page": name, "p50_ms": p50, "p99_ms": p99, "largest_bytes": bytes}))
            .collect();
        println!(
            "{}",
            json!({
                "benchmark": "console",
                "certificates": args.certificates,
                "requests_per_page": args.requests,
                "fill_certificates_per_sec": fill_rate,
                "pages": pages,
            })
        );
    } else {
        println!(
            "{} certificates (filled at {fill_rate:.0}/s); {} requests per page on one keep-alive HTTPS connection, whole response:",
            args.certificates, args.requests
        );
        for (name, p50, p99, bytes) in &rows {
            println!(
                "  {name:<26} p50 {p50:>6.2} ms   p99 {p99:>6.2} ms   largest {:>5.1} KB",
                *bytes as f64 / 1000.0
            );
        }
    }
    Ok(())
}

fn unix_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
