//! Load generators: `inkan bench enroll|register|registry|ocsp|crl|gateway|tee|link|console|cfssl`.

mod cfssl;
mod console;
mod crl;
mod enroll;
mod gateway;
mod link;
mod load;
mod ocsp;
mod register;
mod registry;
mod tee;

use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use inkan_authority::DataDir;

use cfssl::BenchCfsslArgs;
use console::BenchConsoleArgs;
use crl::BenchCrlArgs;
use enroll::BenchEnrollArgs;
use gateway::BenchGatewayArgs;
use link::BenchLinkArgs;
use ocsp::BenchOcspArgs;
use register::BenchRegisterArgs;
use registry::BenchRegistryArgs;
use tee::BenchTeeArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// EST simpleenroll throughput over TLS keep-alive, compared with this machine's limit.
    Enroll(BenchEnrollArgs),
    /// Full device registrations per second: a new TLS connection with the ProductCert, a
    /// CSR, a DeviceCert — compared with this machine's enroll limit.
    Register(BenchRegisterArgs),
    /// Registry reads at growing sizes (device by id, certificate by serial, device pages, the
    /// revocation set), on a scratch database of either backend.
    Registry(BenchRegistryArgs),
    /// OCSP responses per second over HTTP keep-alive, from pre-built DER requests.
    Ocsp(BenchOcspArgs),
    /// Time to generate and sign a CRL with N revoked entries (in memory, no server).
    Crl(BenchCrlArgs),
    /// GET throughput through a TLS front with a client certificate (inkan gateway, nginx, ...).
    Gateway(BenchGatewayArgs),
    /// TEE enrollments end to end (TAM exchange, sealed bundle, MAC'd CSR, checked chain),
    /// compared with this machine's enroll limit; registers its units in --data-dir first.
    Tee(BenchTeeArgs),
    /// Linked-device logins approved by their anchor, end to end (request, approval over mTLS,
    /// certificate, fetch): throughput and round trip; issues its anchor in --data-dir first.
    Link(BenchLinkArgs),
    /// The console's pages over HTTPS with N certificates recorded (overview, lists, search,
    /// detail, audit): response times per page; makes its CA and authority in a new --data-dir.
    Console(BenchConsoleArgs),
    /// The enroll load (a fresh P-256 CSR per request) against a `cfssl serve`, for a
    /// same-run peer comparison (scripts/bench-peers).
    Cfssl(BenchCfsslArgs),
}

pub async fn run(data_dir: &DataDir, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Enroll(args) => enroll::enroll(data_dir, args).await,
        BenchCommand::Register(args) => register::register(data_dir, args).await,
        BenchCommand::Registry(args) => registry::registry(data_dir, args).await,
        BenchCommand::Ocsp(args) => ocsp::ocsp(data_dir, args).await,
        BenchCommand::Crl(args) => crl::crl(args).await,
        BenchCommand::Gateway(args) => gateway::gateway(args).await,
        BenchCommand::Tee(args) => tee::tee(data_dir, args).await,
        BenchCommand::Link(args) => link::link(data_dir, args).await,
        BenchCommand::Console(args) => console::console(data_dir, args).await,
        BenchCommand::Cfssl(args) => cfssl::cfssl(args).await,
    }
}

/// `count` DER CSRs, each for a fresh P-256 key (`CN=bench-<i>`), made before a run's clock
/// starts, with a progress bar unless `quiet`.
fn fresh_csrs(count: usize, quiet: bool) -> anyhow::Result<Vec<Vec<u8>>> {
    let bar = progress(count as u64, "preparing CSRs", quiet);
    let mut csrs = Vec::with_capacity(count);
    for i in 0..count {
        let key = inkan_pki::GeneratedKey::generate(inkan_pki::KeyAlgorithm::P256)?;
        csrs.push(inkan_pki::build_csr(&key, &format!("bench-{i}"), &[])?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(csrs)
}

/// A progress bar on stderr, or a hidden one for `--json`.
/// Refuses a load of no connections or no requests, before anything is prepared.
fn check_load(concurrency: usize, count: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        concurrency > 0 && count > 0,
        "--concurrency and --count must be positive"
    );
    Ok(())
}

fn progress(len: u64, message: &'static str, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

/// The `p` quantile (0..1) of sorted latencies, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let n = sorted.len();
    sorted
        .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
