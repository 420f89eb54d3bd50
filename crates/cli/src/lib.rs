//! The `inkan` command line: the authority (`serve`), admin commands, `quickstart` and `bench`.

mod cli;
mod commands;
mod output;
mod running;

pub use cli::Cli;

/// Logs go to stderr; `INKAN_LOG` (or `RUST_LOG`) overrides the level.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,inkan=info,inkan_server=info,inkan_authority=info",
        1 => "info",
        _ => "debug",
    };
    let filter = std::env::var("INKAN_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(commands::dispatch(cli))
}
