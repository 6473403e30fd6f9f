//! Finding 2: files that a `.sops.yaml` creation rule with a `path_regex` covers but that are not
//! SOPS files. The config is found upward from each file's directory (or `--config`), and the
//! rule matched as sops matches it ([`sealgate::config`]). A rule without `path_regex` (a
//! catch-all) only says how to encrypt, not that every file must be: it never makes a finding.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sealgate::config::{CONFIG_FILE_NAME, Config, find_config};
use sealgate::format::store::{self, Format};

use super::finding::{Finding, rules, shell_quote};
use super::locate::Pos;

/// `.sops.yaml` lookups, cached per directory.
pub struct CreationRules {
    cwd: PathBuf,
    explicit: Option<PathBuf>,
    by_dir: HashMap<PathBuf, Option<Rc<Config>>>,
    /// Config files already warned about (unreadable or invalid).
    warned: Vec<PathBuf>,
}

impl CreationRules {
    pub fn new(cwd: PathBuf, explicit: Option<PathBuf>) -> CreationRules {
        CreationRules { cwd, explicit, by_dir: HashMap::new(), warned: Vec::new() }
    }

    fn config_for(&mut self, file: &Path) -> Option<Rc<Config>> {
        let dir = self.cwd.join(file.parent().unwrap_or(Path::new("")));
        if let Some(c) = self.by_dir.get(&dir) {
            return c.clone();
        }
        let found =
            find_config(&dir, self.explicit.as_deref().map(|p| self.cwd.join(p)).as_deref())
                .ok()
                .and_then(|s| s.path);
        let config = found.and_then(|path| match Config::load(&path) {
            Ok(c) => Some(Rc::new(c)),
            Err(e) => {
                if !self.warned.contains(&path) {
                    eprintln!(
                        "warning: {}: {}; its creation rules are not checked",
                        path.display(),
                        crate::exit::chain(&e)
                    );
                    self.warned.push(path);
                }
                None
            }
        });
        self.by_dir.insert(dir, config.clone());
        config
    }

    /// The finding for `file` (shown as `display`), whose content is `bytes`.
    pub fn check(&mut self, display: &str, file: &Path, bytes: &[u8]) -> Option<Finding> {
        if file.file_name().is_some_and(|n| n == CONFIG_FILE_NAME) {
            return None;
        }
        let config = self.config_for(file)?;
        let rule = config.rule_for(&self.cwd, file).ok().flatten()?;
        let regex = rule.path_regex.as_ref()?;
        if is_sops_file(file, bytes) {
            return None;
        }
        Some(Finding::new(
            display,
            Pos::START,
            rules::UNENCRYPTED_FILE,
            format!(
                "not encrypted, but creation rule {} of {} (path_regex: {}) covers this file; \
                 encrypt it with `sealgate encrypt -i {}`",
                rule.index + 1,
                config.path.strip_prefix(&self.cwd).unwrap_or(&config.path).display(),
                regex.as_str(),
                shell_quote(display),
            ),
        ))
    }
}

/// Whether `bytes` is a SOPS file in the format its name gives (binary files are wrapped as
/// JSON).
fn is_sops_file(file: &Path, bytes: &[u8]) -> bool {
    match Format::from_path(file) {
        Format::Binary => store::has_metadata(Format::Json, bytes),
        format => store::has_metadata(format, bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_a_clear_file_its_rule_covers_and_not_a_catch_all() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join(".sops.yaml"),
            "creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0\n  - age: age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0\n",
        )
        .unwrap();
        std::fs::create_dir(root.join("secrets")).unwrap();
        let mut rules = CreationRules::new(root.to_owned(), None);
        let f = rules.check("secrets/a.yaml", Path::new("secrets/a.yaml"), b"a: b\n").unwrap();
        assert_eq!(f.rule, rules::UNENCRYPTED_FILE);
        assert!(f.message.contains(r"path_regex: secrets/.*\.yaml$"), "{}", f.message);
        assert!(f.message.contains("sealgate encrypt -i secrets/a.yaml"), "{}", f.message);
        assert!(rules.check("other.yaml", Path::new("other.yaml"), b"a: b\n").is_none());
        let sops = b"a: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nsops:\n    version: 3.11.0\n";
        assert!(rules.check("secrets/b.yaml", Path::new("secrets/b.yaml"), sops).is_none());
    }
}
