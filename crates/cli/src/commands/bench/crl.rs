//! `inkan bench crl`: sign a CRL with N entries, in memory.

use std::time::Instant;

use clap::Args;
use inkan_pki::{CaSet, CrlEntry, CrlParams, KeyAlgorithm, RevocationReason, Serial};
use serde_json::json;

#[derive(Debug, Args)]
pub struct BenchCrlArgs {
    /// Revoked entries on the CRL.
    #[arg(long, default_value_t = 100_000)]
    pub entries: usize,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn crl(args: BenchCrlArgs) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let set = CaSet::create("bench", KeyAlgorithm::P256, now)?;
    let ca = set.issuing_ca()?;
    let entries: Vec<CrlEntry> = (0..args.entries)
        .map(|_| {
            Ok(CrlEntry {
                serial: Serial::random()?,
                revoked_at: now,
                reason: RevocationReason::KeyCompromise,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let params = CrlParams {
        number: 1,
        this_update: now,
        next_update: now + time::Duration::hours(24),
        entries,
    };
    let started = Instant::now();
    let der = ca.sign_crl(&params)?;
    let signed = started.elapsed();
    let started = Instant::now();
    let (_, parsed) = x509_parser_check(&der)?;
    let parse = started.elapsed();
    if args.json {
        println!(
            "{}",
            json!({
                "benchmark": "crl",
                "entries": args.entries,
                "sign_seconds": signed.as_secs_f64(),
                "bytes": der.len(),
                "parse_seconds": parse.as_secs_f64(),
            })
        );
    } else {
        println!("CRL with {} entries ({} bytes)", parsed, der.len());
        println!(
            "  built and signed in {:.0} ms",
            signed.as_secs_f64() * 1000.0
        );
        println!(
            "  parsed back in      {:.0} ms",
            parse.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// Parses the CRL back (so the figure covers a usable CRL) and counts its entries.
fn x509_parser_check(der: &[u8]) -> anyhow::Result<((), usize)> {
    let count = inkan_pki::crl_entry_count(der)?;
    Ok(((), count))
}
