//! Shared helpers for the CLI tests: a private sandbox per test (work dir, HOME, key file),
//! hermetic runs of `sealgate`, the real `sops`, `age` and `ssh-keygen`, and the fixture paths.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sealgate");
/// The repository root (the CLI crate lives in `cli/`).
pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Recipients of the public fixture keys (tests/fixtures/sops/README.md).
pub const RECIPIENT_A: &str = "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0";
pub const RECIPIENT_B: &str = "age19esvgf22wysel4wf0pmfyptvc6x0vp0pdt7ylu0j73yz8m9e2eys3jpwuw";
pub const RECIPIENT_C: &str = "age1szdv2dvtwgnyr2dqpy9v39xywg7tv4s4zdqpu3ktmvpqdx7tqu3suxfu3r";
pub const RECIPIENT_OTHER: &str = "age126895q3kqtq5dpgjt4u905ehahv5yz37jkrrr6ny8z8ae27hce7qksttn6";

pub fn fixtures() -> PathBuf {
    Path::new(ROOT).join("tests/fixtures/sops")
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

pub fn input(name: &str) -> PathBuf {
    fixtures().join("inputs").join(name)
}

pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn read_text(path: impl AsRef<Path>) -> String {
    String::from_utf8(read(path)).expect("UTF-8 file")
}

/// A real binary the tests need. A missing one fails the test: a skipped interop test must
/// never count as a pass.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` is not on PATH: run `bash .ci/run` (it installs age, sops 3.11, ssh-keygen \
         and OpenBao), or install it yourself"
    );
}

/// A private directory for one test: `work/` (the working directory of every command),
/// `home/` (HOME), and the key file given to sops and sealgate.
pub struct Sandbox {
    _tmp: tempfile::TempDir,
    pub work: PathBuf,
    pub home: PathBuf,
    /// `SOPS_AGE_KEY_FILE`; `None` leaves it unset.
    pub key_file: Option<PathBuf>,
    /// Extra variables for every command run in this sandbox.
    pub env: Vec<(String, String)>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

impl Sandbox {
    /// A sandbox whose key file is the main fixture identity (keys.txt).
    pub fn new() -> Sandbox {
        let tmp = tempfile::Builder::new().prefix("sealgate-clitest-").tempdir().expect("tempdir");
        let work = tmp.path().join("work");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&work).expect("work dir");
        std::fs::create_dir_all(&home).expect("home dir");
        Sandbox { _tmp: tmp, work, home, key_file: Some(fixture("keys.txt")), env: Vec::new() }
    }

    pub fn with_key_file(mut self, file: &str) -> Sandbox {
        self.key_file = Some(fixture(file));
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(&path, bytes).expect("write");
        path
    }

    /// Copies a fixture file (or input, with `inputs/NAME`) into the work dir under `name`.
    pub fn copy_fixture(&self, from: &str, name: &str) -> PathBuf {
        self.write(name, read(fixture(from)))
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        read(self.path(name))
    }

    pub fn read_text(&self, name: &str) -> String {
        read_text(self.path(name))
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .current_dir(&self.work)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("SOPS_DISABLE_VERSION_CHECK", "1");
        if let Some(k) = &self.key_file {
            cmd.env("SOPS_AGE_KEY_FILE", k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// `sealgate ARGS` in this sandbox.
    pub fn sealgate<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Run {
        let mut cmd = self.command(Path::new(BIN));
        cmd.args(args);
        Run::new(cmd, format!("sealgate {}", show(args)))
    }

    /// The real `sops ARGS` in this sandbox.
    pub fn sops<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Run {
        let mut cmd = self.command(&tool("sops"));
        cmd.args(args);
        Run::new(cmd, format!("sops {}", show(args)))
    }

    /// Any other tool (`age`, `ssh-keygen`) in this sandbox.
    pub fn tool<S: AsRef<std::ffi::OsStr>>(&self, name: &str, args: &[S]) -> Run {
        let mut cmd = self.command(&tool(name));
        cmd.args(args);
        Run::new(cmd, format!("{name} {}", show(args)))
    }

    /// A fresh ssh-ed25519 key pair in the work dir; returns (private key path, public line).
    pub fn ssh_keygen(&self, name: &str) -> (PathBuf, String) {
        let key = self.path(name);
        self.tool("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
            .arg(&key)
            .ok();
        let public = read_text(key.with_extension("pub")).trim().to_owned();
        (key, public)
    }
}

fn show<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

/// A command about to run.
pub struct Run {
    cmd: Command,
    label: String,
    stdin: Option<Vec<u8>>,
}

impl Run {
    fn new(cmd: Command, label: String) -> Run {
        Run { cmd, label, stdin: None }
    }

    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Run {
        self.label.push(' ');
        self.label.push_str(&a.as_ref().to_string_lossy());
        self.cmd.arg(a);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Run {
        self.cmd.env(k, v);
        self
    }

    pub fn env_remove(mut self, k: &str) -> Run {
        self.cmd.env_remove(k);
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Run {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn run(mut self) -> Out {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child =
            self.cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{}`: {e}", self.label));
        if let Some(bytes) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("stdin pipe");
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let out = child.wait_with_output().expect("wait");
        Out {
            label: self.label,
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts exit 0.
    pub fn ok(self) -> Out {
        let out = self.run();
        assert_eq!(out.code, 0, "`{}` failed:\n{}", out.label, out.stderr);
        out
    }

    /// Runs and asserts the exit code.
    pub fn fails(self, code: i32) -> Out {
        let out = self.run();
        assert_eq!(
            out.code,
            code,
            "`{}`: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            out.label,
            String::from_utf8_lossy(&out.stdout),
            out.stderr
        );
        out
    }
}

/// What a command did.
pub struct Out {
    pub label: String,
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("UTF-8 stdout")
    }
}

/// Asserts two byte strings are equal, showing both as text when they differ.
#[track_caller]
pub fn assert_same_bytes(what: &str, ours: &[u8], theirs: &[u8]) {
    if ours != theirs {
        panic!(
            "{what}: outputs differ\n--- sealgate side ({} bytes):\n{}\n--- sops side ({} bytes):\n{}",
            ours.len(),
            String::from_utf8_lossy(ours),
            theirs.len(),
            String::from_utf8_lossy(theirs)
        );
    }
}

/// The first line of `text` that contains `needle`.
pub fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?}"))
}
