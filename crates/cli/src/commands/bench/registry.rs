//! `inkan bench registry`: fills a scratch database with products, devices, their certificates
//! and revocations, step by step, and measures at each size the reads that must not slow down
//! with it: a device by id, a certificate by serial, a page of a product's devices (first and
//! deep), the revocation set a CRL is made from, and what the console's pages read (a page of
//! valid certificates, first and deep, and the overview's counts).

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use inkan_authority::DataDir;
use inkan_store::{
    Admission, DatabaseOptions, DeviceCursor, DeviceRecord, DeviceStatus, IssuerRecord,
    NewCertificate, NewRegistration, ProductRecord, ProductStatus, RegistrationFacts, Revocation,
    Store,
};
use rand::Rng;
use serde_json::json;

use super::progress;

#[derive(Debug, Args)]
pub struct BenchRegistryArgs {
    /// The sizes to measure at, in devices, ascending (each device also has a certificate;
    /// 1% of certificates are revoked).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    pub devices: Vec<u64>,
    /// The scratch database to fill: sqlite:PATH or postgres://…?schema=NAME. It must be new
    /// (no products yet): the benchmark writes junk into it.
    #[arg(long)]
    pub scratch: String,
    /// Lookups per measurement.
    #[arg(long, default_value_t = 2000)]
    pub lookups: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Products the devices are spread over.
const PRODUCTS: u64 = 10;
/// Devices per registration batch (one transaction, as the authority's group commit makes).
const BATCH: u64 = 1000;
/// Devices listed per page.
const PAGE: i64 = 100;
const ISSUER: &str = "bench-issuer";

pub async fn registry(_data_dir: &DataDir, args: BenchRegistryArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.devices.is_empty() && args.devices.windows(2).all(|w| w[0] < w[1]),
        "--devices takes ascending sizes, e.g. 1000,10000,100000"
    );
    let store = inkan_store::open(&args.scratch, &DatabaseOptions::default())
        .await
        .with_context(|| format!("opening {}", inkan_store::redact(&args.scratch)))?;
    anyhow::ensure!(
        store.products().await?.is_empty(),
        "{} already holds products: give --scratch a new database",
        inkan_store::redact(&args.scratch)
    );
    prepare(&*store).await?;
    let mut filled = 0;
    let mut rows = Vec::new();
    for &size in &args.devices {
        let bar = progress(size - filled, "filling", args.json);
        let started = Instant::now();
        while filled < size {
            let n = BATCH.min(size - filled);
            fill(&*store, filled, n).await?;
            filled += n;
            bar.inc(n);
        }
        bar.finish_and_clear();
        let fill_rate = (size - rows_total(&rows)) as f64 / started.elapsed().as_secs_f64();
        let row = measure(&*store, size, args.lookups).await?;
        if !args.json {
            println!(
                "{size:>10} devices: by id {:.0} µs, certificate by serial {:.0} µs, first page {:.2} ms, deep page {:.2} ms, revocation set ({} entries) {:.1} ms; console: certificates page {:.2} ms, deep {:.2} ms, name search {:.2} ms, overview counts {:.1} ms; filled at {fill_rate:.0} devices/s",
                row.by_id_us, row.by_serial_us, row.first_page_ms, row.deep_page_ms, row.revoked, row.revoked_set_ms,
                row.console_page_ms, row.console_deep_page_ms, row.console_name_search_ms, row.overview_counts_ms
            );
        }
        rows.push((size, row, fill_rate));
    }
    if args.json {
        let steps: Vec<_> = rows
            .iter()
            .map(|(size, r, fill)| {
                json!({
                    "devices": size,
                    "device_by_id_us": r.by_id_us,
                    "certificate_by_serial_us": r.by_serial_us,
                    "first_page_ms": r.first_page_ms,
                    "deep_page_ms": r.deep_page_ms,
                    "revoked_entries": r.revoked,
                    "revocation_set_ms": r.revoked_set_ms,
                    "console_certificates_page_ms": r.console_page_ms,
                    "console_deep_certificates_page_ms": r.console_deep_page_ms,
                    "console_name_search_ms": r.console_name_search_ms,
                    "console_overview_counts_ms": r.overview_counts_ms,
                    "fill_devices_per_sec": fill,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "benchmark": "registry",
                "database": inkan_store::redact(&args.scratch),
                "steps": steps,
            })
        );
    }
    Ok(())
}

fn rows_total(rows: &[(u64, Measured, f64)]) -> u64 {
    rows.last().map_or(0, |(size, _, _)| *size)
}

/// The issuer and the products.
async fn prepare(store: &dyn Store) -> anyhow::Result<()> {
    store
        .register_issuer(
            &IssuerRecord {
                id: ISSUER.into(),
                role: "issuing".into(),
                subject: "CN=bench".into(),
                not_after: i64::MAX / 2,
                der: vec![0],
                created_at_ms: 0,
            },
            "bench",
        )
        .await?;
    for p in 0..PRODUCTS {
        let product = ProductRecord {
            id: format!("bench-p{p}"),
            name: format!("bench-product-{p}"),
            attributes: vec![],
            max_devices: None,
            device_validity_secs: 86_400,
            status: ProductStatus::Active,
            cert_serial: Some(format!("bench-pc{p}")),
            psk: false,
            created_at_ms: 0,
        };
        store
            .create_product(
                &product,
                &certificate(&format!("bench-pc{p}"), None),
                None,
                "bench",
            )
            .await?;
    }
    Ok(())
}

fn device_id(n: u64) -> String {
    format!("d{n:010}")
}

fn serial(n: u64) -> String {
    format!("c{n:010}")
}

fn certificate(serial: &str, device_id: Option<String>) -> NewCertificate {
    NewCertificate {
        serial: serial.into(),
        issuer_id: ISSUER.into(),
        subject: format!("CN={serial}"),
        sans: vec![],
        spki_sha256: serial.into(),
        not_before: 0,
        not_after: i64::MAX / 2,
        profile: "device".into(),
        method: "bench".into(),
        evidence: json!({}),
        der: vec![0; 500],
        actor: "bench".into(),
        bootstrap_serial: None,
        approval: None,
        tpm: None,
        tee: None,
        device_id,
        level: Some(2),
    }
}

/// Registers devices `from..from+n` with a certificate each (one transaction)
/// and revokes every hundredth (one each).
async fn fill(store: &dyn Store, from: u64, n: u64) -> anyhow::Result<()> {
    let admit = |_: &DeviceRecord, _: &RegistrationFacts| Admission::Admit;
    let batch: Vec<_> = (from..from + n)
        .map(|i| NewRegistration {
            device: DeviceRecord {
                id: device_id(i),
                product_id: format!("bench-p{}", i % PRODUCTS),
                attributes: json!({}),
                spki_sha256: format!("k{i:010}"),
                registration_id: None,
                status: DeviceStatus::Active,
                created_at_ms: i as i64,
                last_seen_ms: i as i64,
            },
            actor: "bench".to_string(),
            certificate: Some(certificate(&serial(i), Some(device_id(i)))),
        })
        .collect();
    store.register_devices_issuing(&batch, &admit, 1).await?;
    for i in (from..from + n).filter(|i| i % 100 == 0) {
        store
            .revoke(
                Revocation {
                    serial: &serial(i),
                    reason: "keyCompromise",
                    revoked_at: 1,
                    actor: "bench",
                },
                None,
            )
            .await?;
    }
    Ok(())
}

struct Measured {
    by_id_us: f64,
    by_serial_us: f64,
    first_page_ms: f64,
    deep_page_ms: f64,
    revoked: usize,
    revoked_set_ms: f64,
    console_page_ms: f64,
    console_deep_page_ms: f64,
    console_name_search_ms: f64,
    overview_counts_ms: f64,
}

/// The reads, at `size` devices: means over `lookups` random keys and over ten pages.
async fn measure(store: &dyn Store, size: u64, lookups: usize) -> anyhow::Result<Measured> {
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    for _ in 0..lookups {
        let found = store.device(&device_id(rng.gen_range(0..size))).await?;
        anyhow::ensure!(found.is_some(), "a registered device is missing");
    }
    let by_id_us = micros(started.elapsed()) / lookups as f64;
    let started = Instant::now();
    for _ in 0..lookups {
        let found = store.certificate(&serial(rng.gen_range(0..size))).await?;
        anyhow::ensure!(found.is_some(), "an issued certificate is missing");
    }
    let by_serial_us = micros(started.elapsed()) / lookups as f64;
    let mut first = Duration::ZERO;
    let mut deep = Duration::ZERO;
    for p in 0..PRODUCTS {
        let product = format!("bench-p{p}");
        let started = Instant::now();
        let page = store.devices(Some(&product), None, PAGE).await?;
        first += started.elapsed();
        anyhow::ensure!(page.len() as u64 == (PAGE as u64).min(size / PRODUCTS));
        // A cursor halfway down the product's list (newest first).
        let middle = (size / 2) / PRODUCTS * PRODUCTS + p;
        let cursor = DeviceCursor {
            created_at_ms: middle as i64,
            id: device_id(middle),
        };
        let started = Instant::now();
        let page = store.devices(Some(&product), Some(&cursor), PAGE).await?;
        deep += started.elapsed();
        anyhow::ensure!(!page.is_empty(), "the deep page is empty");
    }
    let started = Instant::now();
    let revoked = store.revoked_entries(ISSUER, 0).await?.len();
    let revoked_set_ms = micros(started.elapsed()) / 1000.0;
    // The console's certificates page (valid ones, 50 newest; then from halfway down), and
    // its overview counts.
    let valid = |before: Option<i64>| inkan_store::CertificateQuery {
        status: Some(inkan_store::CertificateStatus::Valid),
        limit: Some(50),
        before_audit_seq: before,
        ..Default::default()
    };
    let started = Instant::now();
    let first_page = store.list_certificates(&valid(None)).await?;
    let console_page_ms = micros(started.elapsed()) / 1000.0;
    anyhow::ensure!(
        first_page.len() == 50.min(size as usize),
        "a short first page"
    );
    let middle_seq = first_page.first().map(|c| c.audit_seq / 2);
    let started = Instant::now();
    store.list_certificates(&valid(middle_seq)).await?;
    let console_deep_page_ms = micros(started.elapsed()) / 1000.0;
    // The console's name search: a random certificate by its common name (a prefix search of
    // the names index, then the page of matches).
    let searches = (lookups / 10).max(1);
    let started = Instant::now();
    for _ in 0..searches {
        let wanted = serial(rng.gen_range(0..size));
        let found = store
            .list_certificates(&inkan_store::CertificateQuery {
                name: Some(wanted.clone()),
                limit: Some(50),
                ..Default::default()
            })
            .await?;
        anyhow::ensure!(
            found.iter().any(|c| c.serial == wanted),
            "the name search missed a certificate"
        );
    }
    let console_name_search_ms = micros(started.elapsed()) / 1000.0 / searches as f64;
    // The median of three: the first after a fill reads cold pages, as a console's first view
    // after a restart would.
    let mut runs = Vec::new();
    let mut stats = inkan_store::CertificateStats::default();
    for _ in 0..3 {
        let started = Instant::now();
        stats = store.certificate_stats(0, 0, i64::MAX).await?;
        runs.push(micros(started.elapsed()) / 1000.0);
    }
    runs.sort_by(f64::total_cmp);
    let overview_counts_ms = runs[1];
    anyhow::ensure!(stats.total as u64 >= size, "the counts miss certificates");
    Ok(Measured {
        console_page_ms,
        console_name_search_ms,
        console_deep_page_ms,
        overview_counts_ms,
        by_id_us,
        by_serial_us,
        first_page_ms: micros(first) / 1000.0 / PRODUCTS as f64,
        deep_page_ms: micros(deep) / 1000.0 / PRODUCTS as f64,
        revoked,
        revoked_set_ms,
    })
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
