//! Finding age identities the way sops does: `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`,
//! `SOPS_AGE_KEY_CMD`, the user's `sops/age/keys.txt`, and SSH keys, all of them together.
//!
//! The environment comes through [`EnvSource`] so that tests never read the real one.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use super::keyring::Keyring;
use super::{KeyError, age as age_src};

/// Identity sources larger than this are refused (the limit Go's age uses).
const MAX_SOURCE_LEN: u64 = 16 << 20;

/// The process environment as key discovery sees it.
pub trait EnvSource {
    /// An environment variable; `None` when unset (set-but-empty is `Some("")`).
    fn var(&self, name: &str) -> Option<OsString>;

    /// Reads a file (identity files, SSH keys). At most 16 MiB.
    fn read_file(&self, path: &Path) -> io::Result<Zeroizing<Vec<u8>>> {
        let file = std::fs::File::open(path)?;
        let mut buf = Zeroizing::new(Vec::new());
        file.take(MAX_SOURCE_LEN + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > MAX_SOURCE_LEN {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "file larger than 16 MiB"));
        }
        Ok(buf)
    }

    /// Runs `argv` without a shell (for `SOPS_AGE_KEY_CMD`) and returns its standard output.
    /// Standard input is empty and standard error is discarded, as sops does.
    fn run_command(&self, argv: &[String]) -> io::Result<Zeroizing<Vec<u8>>> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
        let output =
            Command::new(program).args(args).stdin(Stdio::null()).stderr(Stdio::null()).output()?;
        let stdout = Zeroizing::new(output.stdout);
        if !output.status.success() {
            return Err(io::Error::other(format!("it failed ({})", output.status)));
        }
        Ok(stdout)
    }
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }
}

/// A fixed set of variables (for tests and for callers that build their own environment);
/// files and commands are still real. `Debug` shows variable names only (`SOPS_AGE_KEY` holds
/// secret keys).
#[derive(Clone, Default)]
pub struct MapEnv {
    vars: BTreeMap<String, OsString>,
}

impl std::fmt::Debug for MapEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapEnv").field("vars", &self.vars.keys().collect::<Vec<_>>()).finish()
    }
}

impl MapEnv {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }
}

impl EnvSource for MapEnv {
    fn var(&self, name: &str) -> Option<OsString> {
        self.vars.get(name).cloned()
    }
}

/// A non-empty variable as a path.
fn var_path(env: &dyn EnvSource, name: &str) -> Option<PathBuf> {
    env.var(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `os.UserConfigDir` on Unix: `$XDG_CONFIG_HOME` (must be absolute), else `$HOME/.config`.
fn user_config_dir(env: &dyn EnvSource) -> Result<PathBuf, &'static str> {
    match var_path(env, "XDG_CONFIG_HOME") {
        Some(dir) if dir.is_absolute() => Ok(dir),
        Some(_) => Err("the path in $XDG_CONFIG_HOME is relative"),
        None => var_path(env, "HOME")
            .map(|home| home.join(".config"))
            .ok_or("neither $XDG_CONFIG_HOME nor $HOME is set"),
    }
}

impl Keyring {
    /// Collects identities from every place sops looks, all at once:
    /// `SOPS_AGE_KEY` (the key text), `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD` (a command, split
    /// like a shell line but run without one, whose output holds keys),
    /// `$XDG_CONFIG_HOME/sops/age/keys.txt` (default `~/.config/sops/age/keys.txt`),
    /// `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`.
    ///
    /// As in sops, a source that exists but cannot be used does not stop the others: it is
    /// recorded in [`Keyring::problems`] and reported if no key works.
    pub fn discover(env: &dyn EnvSource) -> Keyring {
        let mut keyring = Keyring::empty();
        if let Some(value) = env.var("SOPS_AGE_KEY") {
            match value.into_string() {
                Ok(text) => {
                    let text = Zeroizing::new(text);
                    keyring.absorb(age_src::parse_identity_file(&text, "SOPS_AGE_KEY"));
                }
                Err(bad) => {
                    drop(Zeroizing::new(bad.into_encoded_bytes()));
                    keyring.problem("SOPS_AGE_KEY is not UTF-8 text".into());
                }
            }
        }
        if let Some(path) = var_path(env, "SOPS_AGE_KEY_FILE") {
            let origin = format!("SOPS_AGE_KEY_FILE ({})", path.display());
            keyring.load_text_file(env, &path, &origin, false);
        }
        if let Some(cmd) = env.var("SOPS_AGE_KEY_CMD") {
            keyring.load_command(env, &cmd.to_string_lossy());
        }
        match user_config_dir(env) {
            Ok(dir) => {
                let path = dir.join("sops").join("age").join("keys.txt");
                let origin = path.display().to_string();
                keyring.load_text_file(env, &path, &origin, true);
            }
            Err(reason) if keyring.identities.is_empty() => {
                keyring.problem(format!("cannot locate sops/age/keys.txt: {reason}"));
            }
            Err(_) => {}
        }
        if let Some(path) = var_path(env, "SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            let origin = format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE ({})", path.display());
            keyring.load_ssh_file(env, &path, &origin, false);
        }
        if let Some(home) = var_path(env, "HOME") {
            for name in ["id_ed25519", "id_rsa"] {
                let path = home.join(".ssh").join(name);
                let origin = path.display().to_string();
                keyring.load_ssh_file(env, &path, &origin, true);
            }
        }
        keyring
    }

    fn problem(&mut self, text: String) {
        tracing::debug!(problem = %text, "age identity source skipped");
        self.problems.push(text);
    }

    fn absorb(&mut self, parsed: Result<Vec<age_src::LoadedIdentity>, KeyError>) {
        match parsed {
            Ok(ids) => self.identities.extend(ids),
            Err(e) => self.problem(e.to_string()),
        }
    }

    fn read_source(
        &mut self,
        env: &dyn EnvSource,
        path: &Path,
        origin: &str,
        optional: bool,
    ) -> Option<Zeroizing<Vec<u8>>> {
        match env.read_file(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if optional && e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                self.problem(format!("failed to read {origin}: {e}"));
                None
            }
        }
    }

    fn load_text_file(&mut self, env: &dyn EnvSource, path: &Path, origin: &str, optional: bool) {
        let Some(bytes) = self.read_source(env, path, origin, optional) else { return };
        match std::str::from_utf8(&bytes) {
            Ok(text) => self.absorb(age_src::parse_identity_file(text, origin)),
            Err(_) => self.problem(format!("{origin} is not UTF-8 text")),
        }
    }

    fn load_ssh_file(&mut self, env: &dyn EnvSource, path: &Path, origin: &str, optional: bool) {
        let Some(bytes) = self.read_source(env, path, origin, optional) else { return };
        match age_src::parse_ssh_identity(&bytes, origin) {
            Ok(id) => self.identities.push(id),
            Err(e) => self.problem(e.to_string()),
        }
    }

    fn load_command(&mut self, env: &dyn EnvSource, command: &str) {
        let argv = match split_command(command) {
            Some(argv) if !argv.is_empty() => argv,
            Some(_) => return self.problem("SOPS_AGE_KEY_CMD is empty".into()),
            None => return self.problem("SOPS_AGE_KEY_CMD has an unterminated quote".into()),
        };
        let program = argv[0].clone();
        match env.run_command(&argv) {
            Ok(out) => match std::str::from_utf8(&out) {
                Ok(text) => self.absorb(age_src::parse_identity_file(text, "SOPS_AGE_KEY_CMD")),
                Err(_) => {
                    self.problem("SOPS_AGE_KEY_CMD printed something that is not UTF-8".into())
                }
            },
            Err(e) => self.problem(format!("failed to run SOPS_AGE_KEY_CMD ({program}): {e}")),
        }
    }
}

/// Splits a command line into words like a POSIX shell without expansions (what sops does with
/// google/shlex): whitespace separates, `'…'` is literal, `"…"` and bare `\` escape the next
/// character, `#` at the start of a word begins a comment. `None` for an unterminated quote.
pub(crate) fn split_command(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None => return Some(words),
            Some('#') => return Some(words),
            Some(_) => {}
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\'' => loop {
                    match chars.next()? {
                        '\'' => break,
                        other => word.push(other),
                    }
                },
                '"' => loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => word.push(chars.next()?),
                        other => word.push(other),
                    }
                },
                '\\' => word.push(chars.next()?),
                other => word.push(other),
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_like_shlex() {
        assert_eq!(split_command("cat /tmp/k"), Some(vec!["cat".into(), "/tmp/k".into()]));
        assert_eq!(
            split_command(r#"sh -c 'echo "$X"' "a b" c\ d # comment"#),
            Some(vec!["sh".into(), "-c".into(), "echo \"$X\"".into(), "a b".into(), "c d".into()])
        );
        assert_eq!(split_command("  "), Some(vec![]));
        assert_eq!(split_command("echo 'oops"), None);
    }

    #[test]
    fn map_env_debug_shows_names_not_values() {
        let env = MapEnv::new().with("SOPS_AGE_KEY", "AGE-SECRET-KEY-1XYZ");
        let debug = format!("{env:?}");
        assert!(debug.contains("SOPS_AGE_KEY") && !debug.contains("XYZ"), "{debug}");
    }

    #[test]
    fn keyring_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Keyring>();
    }

    #[test]
    fn config_dir_follows_go_user_config_dir() {
        let env = MapEnv::new().with("HOME", "/home/u");
        assert_eq!(user_config_dir(&env), Ok(PathBuf::from("/home/u/.config")));
        let env = env.with("XDG_CONFIG_HOME", "/xdg");
        assert_eq!(user_config_dir(&env), Ok(PathBuf::from("/xdg")));
        let env = MapEnv::new().with("XDG_CONFIG_HOME", "rel");
        assert!(user_config_dir(&env).is_err());
        assert!(user_config_dir(&MapEnv::new()).is_err());
    }
}
