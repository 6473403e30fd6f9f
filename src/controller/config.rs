//! The controller's settings: command-line flags, each with an environment-variable fallback.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The namespace the controller's keys, lease and recipients ConfigMap live in by default.
pub const DEFAULT_CONTROLLER_NAMESPACE: &str = "sealgate-system";

/// `sealgate-controller`: decrypts `EncryptedSecret`s and materializes `Secret`s.
#[derive(Parser, Debug, Clone)]
#[command(name = "sealgate-controller", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: ControllerConfig,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Print the CRD manifests (what is committed under crds/), or write them into a directory.
    Crds {
        /// Write one file per CRD into this directory instead of printing them.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<std::path::PathBuf>,
    },
    /// Show the Secret the controller would make of an EncryptedSecret file, offline: the same
    /// checks and decryption as in the cluster, with an identity file instead of key Secrets.
    Render {
        /// age identity file (AGE-SECRET-KEY-1… lines) to decrypt with.
        #[arg(long, value_name = "FILE")]
        identity: std::path::PathBuf,
        /// Print the values (base64, as Secret.data holds them) instead of their sizes.
        #[arg(long)]
        show_values: bool,
        /// The EncryptedSecret manifest (YAML or JSON), as it would be applied.
        file: std::path::PathBuf,
    },
}

/// How the controller runs. Connection: in-cluster, or the `KUBECONFIG` / `~/.kube/config`
/// context, so the same binary also runs out of cluster against any cluster.
#[derive(Args, Debug, Clone)]
pub struct ControllerConfig {
    /// Namespace of the controller's own objects: age identity Secrets, the leader Lease and
    /// the `sealgate-recipients` ConfigMap.
    #[arg(
        long,
        env = "SEALGATE_CONTROLLER_NAMESPACE",
        default_value = DEFAULT_CONTROLLER_NAMESPACE
    )]
    pub controller_namespace: String,

    /// Namespaces to watch, comma-separated; empty means all namespaces.
    #[arg(long, env = "SEALGATE_WATCH_NAMESPACES", value_delimiter = ',', num_args = 0..)]
    pub watch_namespaces: Vec<String>,

    /// Only `EncryptedSecret`s and `VaultSecret`s matching this label selector are handled (e.g.
    /// `team=payments`). Stores are not filtered.
    #[arg(long, env = "SEALGATE_LABEL_SELECTOR")]
    pub label_selector: Option<String>,

    /// Requests per second to the apiserver (sustained). Defaults are generous on purpose: a
    /// low limit makes a resync of thousands of objects take minutes.
    #[arg(long, env = "SEALGATE_KUBE_QPS", default_value_t = 200.0)]
    pub kube_qps: f64,

    /// Requests allowed in a burst above `--kube-qps`.
    #[arg(long, env = "SEALGATE_KUBE_BURST", default_value_t = 400)]
    pub kube_burst: u32,

    /// How many objects are reconciled at once.
    #[arg(long, env = "SEALGATE_WORKERS", default_value_t = 16)]
    pub workers: u16,

    /// Address of the Prometheus metrics endpoint (`/metrics`).
    #[arg(long, env = "SEALGATE_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Address of the probes (`/healthz`, `/readyz`).
    #[arg(long, env = "SEALGATE_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    pub health_addr: SocketAddr,

    /// A new age identity is generated this often; older ones stay for decryption. `0` never
    /// renews. Units: s, m, h, d (e.g. `720h`, `30d`).
    #[arg(
        long,
        env = "SEALGATE_KEY_RENEW_PERIOD",
        default_value = "30d",
        value_parser = parse_duration
    )]
    pub key_renew_period: Duration,

    /// Elect one active writer among replicas through a Lease. Turn off only for a single
    /// replica run by hand.
    #[arg(
        long,
        env = "SEALGATE_LEADER_ELECT",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub leader_elect: bool,

    /// Name of the leader-election Lease in the controller namespace.
    #[arg(long, env = "SEALGATE_LEASE_NAME", default_value = "sealgate-controller")]
    pub lease_name: String,

    /// This replica's identity in the Lease; defaults to the pod name (`POD_NAME`) or the
    /// host name.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Unwrap `hc_vault` (Vault transit) data keys through this store's Vault and
    /// credentials: `ClusterSecretStore/NAME` or `SecretStore/NAMESPACE/NAME`. The address
    /// written in a file is never contacted.
    #[arg(long, env = "SEALGATE_TRANSIT_STORE", value_name = "STORE")]
    pub transit_store: Option<String>,

    /// Append the audit trail (one hash-chained JSON line per access) to this file, rolled
    /// over at 100 MB with the chain carried across files (`sealgate audit verify`).
    #[arg(long, env = "SEALGATE_AUDIT_LOG", value_name = "PATH")]
    pub audit_log: Option<std::path::PathBuf>,

    /// Write the audit trail to stdout too (logs go to stderr: never mixed).
    #[arg(long, env = "SEALGATE_AUDIT_STDOUT", default_value_t = false, action = clap::ArgAction::Set)]
    pub audit_stdout: bool,

    /// Serve the validating admission webhook (HTTPS) on this address, e.g. `0.0.0.0:9443`.
    /// Unset: no webhook.
    #[arg(long, env = "SEALGATE_WEBHOOK_ADDR")]
    pub webhook_addr: Option<SocketAddr>,

    /// Directory holding the webhook's `tls.crt` and `tls.key`; re-read when they change.
    #[arg(
        long,
        env = "SEALGATE_WEBHOOK_CERT_DIR",
        value_name = "DIR",
        default_value = "/var/run/sealgate/webhook-certs"
    )]
    pub webhook_cert_dir: std::path::PathBuf,

    /// Users whose Secret writes the webhook always allows, comma-separated; default: the
    /// controller's ServiceAccount, `system:serviceaccount:<controller-namespace>:sealgate-controller`.
    #[arg(long, env = "SEALGATE_WEBHOOK_ALLOWED_USERS", value_delimiter = ',', num_args = 0..)]
    pub webhook_allowed_users: Vec<String>,

    /// Secret types anyone may write in guarded namespaces, comma-separated: `TYPE`, or
    /// `TYPE@ANNOTATION` to require that annotation too.
    #[arg(
        long,
        env = "SEALGATE_WEBHOOK_ALLOWED_SECRET_TYPES",
        value_delimiter = ',',
        num_args = 0..,
        default_value = "kubernetes.io/service-account-token,helm.sh/release.v1,kubernetes.io/tls@cert-manager.io/certificate-name"
    )]
    pub webhook_allowed_secret_types: Vec<String>,

    /// Log format: `text` or `json`.
    #[arg(long, env = "SEALGATE_LOG_FORMAT", default_value = "json")]
    pub log_format: LogFormat,
}

/// Log line format.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Parses `30d`, `720h`, `90m`, `45s` or a plain number of seconds; `0` is zero.
///
/// # Errors
/// A message naming the value and the accepted units.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a duration: use a number with s, m, h or d (e.g. 30d)")
    })?;
    let secs = match unit {
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(|| {
        format!("{text:?} is not a duration: use a number with s, m, h or d (e.g. 30d)")
    })?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("720h"), Ok(Duration::from_secs(720 * 3600)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "d", "3w", "-1d", "1.5h", "99999999999999999999d"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("not a duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn defaults_are_not_client_go_defaults() {
        let cli = Cli::try_parse_from(["sealgate-controller"]).unwrap();
        assert!(cli.run.kube_qps >= 50.0, "QPS 5 made Sealed Secrets resync take minutes");
        assert!(cli.run.kube_burst as f64 >= cli.run.kube_qps);
        assert_eq!(cli.run.controller_namespace, DEFAULT_CONTROLLER_NAMESPACE);
        assert!(cli.run.watch_namespaces.is_empty());
        assert!(cli.run.leader_elect);
    }

    #[test]
    fn watched_namespaces_are_comma_separated() {
        let cli =
            Cli::try_parse_from(["sealgate-controller", "--watch-namespaces", "a,b"]).unwrap();
        assert_eq!(cli.run.watch_namespaces, ["a", "b"]);
    }
}
