//! `sealgate-controller`: the in-cluster controller's entry point.

use std::process::ExitCode;

use clap::Parser;
use sealgate::controller::config::LogFormat;
use sealgate::controller::materialize;
use sealgate::controller::{Cli, Command};
use sealgate::keys::Keyring;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Crds { output_dir }) => return print_crds(output_dir.as_deref()),
        Some(Command::Render { identity, show_values, file }) => {
            return render(identity, *show_values, file);
        }
        None => {}
    }
    // One TLS provider, installed before any client exists (crates.md).
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_logging(cli.run.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sealgate-controller: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(sealgate::controller::run(cli.run)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("sealgate-controller: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    // vaultrs and rustify log every non-2xx (expected 404s, CAS conflicts) at ERROR; our own
    // logs and statuses report Vault failures. kube's internals are noisy at INFO.
    let filter = EnvFilter::try_from_env("SEALGATE_LOG").unwrap_or_else(|_| {
        EnvFilter::new("info,kube=warn,kube_runtime=warn,rustify=off,vaultrs=off")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn print_crds(output_dir: Option<&std::path::Path>) -> ExitCode {
    for (file, crd) in sealgate::crd::all() {
        let yaml = sealgate::crd::to_yaml(&crd);
        match output_dir {
            None => print!("{yaml}"),
            Some(dir) => {
                let path = dir.join(file);
                if let Err(e) = std::fs::write(&path, yaml) {
                    eprintln!("sealgate-controller: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}

fn render(identity: &std::path::Path, show_values: bool, file: &std::path::Path) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("sealgate-controller render: {msg}");
        ExitCode::FAILURE
    };
    let keyring = match std::fs::read_to_string(identity) {
        Ok(text) => {
            let text = zeroize::Zeroizing::new(text);
            match Keyring::from_identity_text(&text, &identity.display().to_string()) {
                Ok(k) => k,
                Err(e) => return fail(e.to_string()),
            }
        }
        Err(e) => return fail(format!("cannot read {}: {e}", identity.display())),
    };
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    let es = match materialize::object_from_manifest(&bytes) {
        Ok(es) => es,
        Err(e) => return fail(format!("{}: {e}", file.display())),
    };
    match materialize::render(&es, &keyring) {
        Ok((desired, key_id)) => {
            println!("{}", materialize::preview(&desired, show_values));
            eprintln!(
                "sealgate-controller render: {}: Materialized (data key unwrapped by {})",
                file.display(),
                key_id.as_deref().unwrap_or("?")
            );
            ExitCode::SUCCESS
        }
        Err((refusal, _)) => {
            fail(format!("{}: {}: {}", file.display(), refusal.reason, refusal.message))
        }
    }
}
