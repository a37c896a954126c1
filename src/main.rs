use std::process::ExitCode;

use clap::Parser;
use local_executor_mcp::{cli, config::Cli};

fn main() -> ExitCode {
    let args = Cli::parse();
    // stdout carries JSON-RPC while serving, so logs go to stderr, without colour codes.
    let filter = tracing_subscriber::EnvFilter::try_new(&args.settings.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    cli::run(args)
}
