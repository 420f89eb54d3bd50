//! The `inkan` binary: parses the command line and runs the command.

use std::process::ExitCode;

use clap::Parser;

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
