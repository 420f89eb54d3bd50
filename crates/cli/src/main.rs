//! The `inkan` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser;

/// Issuance allocates and frees many small buffers per request on every worker thread;
/// mimalloc's per-thread heaps measured faster than glibc malloc under `inkan bench enroll`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`inkan cert list | head`), as other Unix tools do.
    sigpipe::reset();
    let cli = inkan::Cli::parse();
    inkan::init_logging(cli.verbose);
    match inkan::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
