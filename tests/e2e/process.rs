//! The binaries under test, and a controller replica run out of cluster as a child process:
//! its probes and metrics over plain HTTP, its log file, its peak memory, and its end by PID.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{Ctx, R};

/// A built binary of this workspace: `override_var` if set, else next to the test executable
/// (`target/<profile>/deps/e2e-…` → `target/<profile>/NAME`), else `fallback` (a path cargo
/// gave at compile time).
pub fn binary(name: &str, override_var: &str, fallback: Option<&str>) -> R<PathBuf> {
    if let Some(path) = std::env::var_os(override_var) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{override_var}={} is not a file", path.display()))
        };
    }
    let exe = std::env::current_exe().ctx("cannot locate the test executable")?;
    let sibling = exe.parent().and_then(Path::parent).map(|dir| dir.join(name));
    let candidates = sibling.into_iter().chain(fallback.map(PathBuf::from));
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "the {name} binary was not found next to {}: build it with `cargo build --workspace` \
         (same profile as the tests), or set {override_var}",
        exe.display()
    ))
}

/// A free TCP port on 127.0.0.1 (bound and released; the race with other processes is
/// accepted).
pub fn free_addr() -> R<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").ctx("cannot bind a free local port")?;
    listener.local_addr().ctx("cannot read the bound port")
}

/// How to start one replica.
pub struct ReplicaSpec<'a> {
    pub binary: &'a Path,
    pub kubeconfig: &'a Path,
    pub controller_namespace: &'a str,
    pub watch_namespaces: &'a [String],
    pub identity: &'a str,
    pub lease_name: Option<&'a str>,
    pub log_dir: &'a Path,
    /// `--transit-store` (hc_vault data keys through that store).
    pub transit_store: Option<&'a str>,
}

/// One controller replica, killed by PID when dropped.
pub struct Replica {
    pub identity: String,
    pub health: SocketAddr,
    pub metrics: SocketAddr,
    pub log: PathBuf,
    child: Child,
}

impl Replica {
    /// Starts the controller with text logs going to `<log_dir>/<identity>.log`.
    pub fn start(spec: &ReplicaSpec<'_>) -> R<Replica> {
        let (health, metrics) = (free_addr()?, free_addr()?);
        let log = spec.log_dir.join(format!("{}.log", spec.identity));
        let file = std::fs::File::create(&log).ctx(format!("cannot create {}", log.display()))?;
        let err = file.try_clone().ctx("cannot share the log file")?;
        let mut cmd = Command::new(spec.binary);
        cmd.env("KUBECONFIG", spec.kubeconfig)
            .env("SEALGATE_LOG", "info,kube=warn,kube_runtime=warn")
            .arg("--controller-namespace")
            .arg(spec.controller_namespace)
            .arg("--leader-elect=true")
            .arg("--identity")
            .arg(spec.identity)
            .arg("--health-addr")
            .arg(health.to_string())
            .arg("--metrics-addr")
            .arg(metrics.to_string())
            .arg("--log-format")
            .arg("text")
            .arg("--watch-namespaces")
            .arg(spec.watch_namespaces.join(","))
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err);
        if let Some(lease) = spec.lease_name {
            cmd.arg("--lease-name").arg(lease);
        }
        if let Some(store) = spec.transit_store {
            cmd.arg("--transit-store").arg(store);
        }
        let child = cmd.spawn().ctx(format!("cannot start {}", spec.binary.display()))?;
        Ok(Replica { identity: spec.identity.to_owned(), health, metrics, log, child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Err` with the exit status when the process has ended (it must not, on its own).
    pub fn check_running(&mut self) -> R {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "controller {} exited ({status}); see {}",
                self.identity,
                self.log.display()
            )),
            Err(e) => Err(format!("cannot check controller {}: {e}", self.identity)),
        }
    }

    /// Kills the process (SIGKILL, by its PID) and reaps it. Idempotent.
    pub fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Peak resident memory (`VmHWM` of /proc/PID/status) in KiB, while the process lives.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// `GET path` on the probe port: the HTTP status code.
    pub async fn probe(&self, path: &str) -> R<u16> {
        Ok(http_get(self.health, path).await?.0)
    }

    /// One sample (no labels) from `/metrics`.
    pub async fn metric(&self, name: &str) -> R<f64> {
        let (code, body) = http_get(self.metrics, "/metrics").await?;
        if code != 200 {
            return Err(format!("/metrics of {} answered {code}", self.identity));
        }
        metric_value(&body, name).ctx(format!("no sample {name} in /metrics of {}", self.identity))
    }

    /// Every sample of `name` summed over its labels, from `/metrics`.
    pub async fn metric_total(&self, name: &str) -> R<f64> {
        let (code, body) = http_get(self.metrics, "/metrics").await?;
        if code != 200 {
            return Err(format!("/metrics of {} answered {code}", self.identity));
        }
        metric_total(&body, name).ctx(format!("no sample {name} in /metrics of {}", self.identity))
    }

    /// The last `lines` lines of the log, for failure reports.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The sum of every sample of `name` in Prometheus text, whatever its labels (`None` when
/// there is none), e.g. reconciles of all kinds from `…_count{kind="…"}`.
pub fn metric_total(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let rest = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once('}')?.1,
                None => rest,
            };
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The value of an unlabelled sample in Prometheus text.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A minimal HTTP/1.1 GET (the controller's probe server answers one request per connection).
async fn http_get(addr: SocketAddr, path: &str) -> R<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ctx(format!("GET http://{addr}{path} timed out"))?
        .ctx(format!("GET http://{addr}{path}"))?;
    let text = String::from_utf8_lossy(&raw);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ctx(format!("GET http://{addr}{path}: not an HTTP answer"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((code, body))
}
