//! `berth`: the Docker-like command line.

mod cli;
mod commands;
mod exit;

use clap::Parser;
use cli::{Cli, Command};
use exit::Failure;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::ENGINE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    init_logging(cli.log_level.as_deref());
    let roots = berth_engine::paths::Roots::resolve(cli.root.clone(), cli.run_root.clone());
    let result = match &cli.command {
        Command::Version => commands::version::run(),
        Command::Info => commands::info::run(&roots),
        other => Err(Failure::not_built(other.name())),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(failure) => {
            eprintln!("berth: {:#}", failure.error);
            std::process::exit(failure.code);
        }
    }
}

/// Logs go to stderr, quiet (warnings only) unless `--log-level` or `BERTH_LOG` asks for more.
fn init_logging(level: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_new(level.unwrap_or("warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
