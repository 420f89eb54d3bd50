//! The `inkan` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser;

/// Issuance allocates and frees many small buffers per request on every worker thread;
/// mimalloc's per-thread heaps measured faster than glibc malloc under `inkan bench enroll`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = inkan::Cli::parse();
    // Short commands die quietly on a closed pipe (`inkan cert list | head`), as other Unix
    // tools do. Servers and network clients keep Rust's default (SIGPIPE ignored): a peer that
    // closes its socket early must cost one connection an EPIPE, not the whole process.
    if !cli.command.talks_to_peers() {
        sigpipe::reset();
    }
    inkan::init_logging(cli.verbose);
    match inkan::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
