//! `skiff`: manage Skiff machines (the VM that runs the engine) and point
//! the docker CLI at them.

mod args;
mod commands;
mod hidden;

use std::io::IsTerminal;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    // The supervisor logs its story to supervisor.log; commands only warn.
    let supervisor = matches!(
        cli.command,
        args::Command::Machine(args::MachineCommand::Supervise { .. })
    );
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(if supervisor { "info" } else { "warn" })
            }),
        )
        .init();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("skiff: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
