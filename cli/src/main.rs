//! `sealgate`: seal Kubernetes secrets for Git. A drop-in for the common sops workflow.

mod args;
mod cluster;
mod commands;
mod exit;
mod io;
mod keysel;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.code as u8)
        }
    }
}
