//! `.sops.yaml` creation rules: discovery from the working directory and rule matching.
//!
//! Behaviour follows sops 3.11 (`config/config.go`), checked against the real binary:
//! the search starts at the working directory and walks up at most 100 levels for `.sops.yaml`
//! (a `.sops.yml` is only warned about); the first rule whose `path_regex` matches the file's
//! path relative to the config file's directory wins; a config without `creation_rules` behaves
//! as no config at all, while one whose rules all miss is an error. Unknown fields are ignored
//! as sops ignores them, with a warning. Unlike sops, every rule is validated when the file is
//! loaded (sops only checks the rule it selects).

use std::path::{Component, Path, PathBuf};

use regex::Regex;

use crate::format::rules::EncryptionRule;
use crate::format::scalar::{Scalar, format_float_plain};
use crate::format::tree::{Map, Node};
use crate::keys::{AgeRecipient, GroupSpec, KeyError, KeySpec, VaultTransitUri};

/// The only file name sops looks for.
pub const CONFIG_FILE_NAME: &str = ".sops.yaml";
/// The name people often mean; sops ignores it with a warning.
const ALTERNATE_FILE_NAME: &str = ".sops.yml";
/// How many directories sops walks up (the starting one included).
const MAX_DEPTH: usize = 100;

const TOP_FIELDS: [&str; 3] = ["creation_rules", "destination_rules", "stores"];
/// Rule fields sops 3.11 knows, plus newer key types (`hckms`, `plugins`) kept as foreign keys.
const RULE_FIELDS: [&str; 20] = [
    "path_regex",
    "kms",
    "aws_profile",
    "age",
    "pgp",
    "gcp_kms",
    "hckms",
    "azure_keyvault",
    "hc_vault_transit_uri",
    "key_groups",
    "shamir_threshold",
    "plugins",
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
    "mac_only_encrypted",
    "timeout",
];
const GROUP_FIELDS: [&str; 9] =
    ["merge", "kms", "gcp_kms", "hckms", "azure_keyvault", "hc_vault", "age", "pgp", "plugins"];

/// A loaded `.sops.yaml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (as given).
    pub path: PathBuf,
    /// `None` when the file has no `creation_rules` (missing or null): sops then behaves as if
    /// there were no config file. `Some(vec![])` (an explicit `[]`) matches nothing.
    pub creation_rules: Option<Vec<CreationRule>>,
    pub stores: StoresConfig,
    /// Things sops silently ignores that are probably mistakes (unknown fields).
    pub warnings: Vec<String>,
}

/// Output settings from `stores:` (`None` when not set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoresConfig {
    pub yaml_indent: Option<i64>,
    pub json_indent: Option<i64>,
    pub json_binary_indent: Option<i64>,
}

/// One entry of `creation_rules`.
#[derive(Debug, Clone)]
pub struct CreationRule {
    /// Position in `creation_rules` (0-based), for messages.
    pub index: usize,
    /// `None` (missing or empty) matches every file.
    pub path_regex: Option<Regex>,
    /// The key groups: `key_groups` when non-empty, else one group of the rule-level keys
    /// (possibly empty: encrypting with such a rule fails as in sops).
    pub key_groups: Vec<GroupSpec>,
    /// 0 when not set.
    pub shamir_threshold: usize,
    /// The rule's encryption rule, when it sets one of the six fields.
    pub rule: Option<EncryptionRule>,
    /// `None` when the field is absent (sops treats that as false).
    pub mac_only_encrypted: Option<bool>,
}

/// The outcome of looking for `.sops.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSearch {
    /// The config file to use, if any.
    pub path: Option<PathBuf>,
    /// A warning to show (a `.sops.yml` seen on the way, which sops ignores).
    pub warning: Option<String>,
}

/// A `.sops.yaml` that could not be found, read or understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("failed to read config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {} is not valid YAML: line {line}, column {column}: {message}", path.display())]
    Yaml { path: PathBuf, line: usize, column: usize, message: String },
    #[error("config file {}: {location}: {reason}", path.display())]
    Invalid { path: PathBuf, location: String, reason: String },
    #[error("config file {}: {location}: invalid key", path.display())]
    Key {
        path: PathBuf,
        location: String,
        #[source]
        source: KeyError,
    },
    #[error(
        "no matching creation rule in {} for {file}: add a rule whose path_regex matches this path \
         (relative to the config file's directory), or a last rule without path_regex",
        path.display()
    )]
    NoMatchingRule { path: PathBuf, file: String },
}

/// Finds the config file as sops does. `explicit` (from `--config` or `SOPS_CONFIG`) skips the
/// search and must exist. Otherwise `cwd` and up to 99 parents are searched for `.sops.yaml`;
/// finding none is not an error (`path: None`).
pub fn find_config(cwd: &Path, explicit: Option<&Path>) -> Result<ConfigSearch, ConfigError> {
    if let Some(path) = explicit {
        let path = cwd.join(path);
        return match std::fs::metadata(&path) {
            Ok(_) => Ok(ConfigSearch { path: Some(path), warning: None }),
            Err(source) => Err(ConfigError::Read { path, source }),
        };
    }
    let mut dir = cwd.to_path_buf();
    let mut alternate: Option<PathBuf> = None;
    for _ in 0..MAX_DEPTH {
        let candidate = dir.join(CONFIG_FILE_NAME);
        if candidate.metadata().is_ok() {
            let warning = alternate.map(|alt| {
                format!(
                    "ignoring {} when searching for config file; the config file must be called \
                     {CONFIG_FILE_NAME:?}; using {} instead",
                    alt.display(),
                    candidate.display()
                )
            });
            return Ok(ConfigSearch { path: Some(candidate), warning });
        }
        if alternate.is_none() {
            let alt = dir.join(ALTERNATE_FILE_NAME);
            if alt.metadata().is_ok() {
                alternate = Some(alt);
            }
        }
        match dir.parent() {
            Some(parent) => dir = parent.to_path_buf(),
            None => break,
        }
    }
    let warning = alternate.map(|alt| {
        format!(
            "ignoring {} when searching for config file; the config file must be called {CONFIG_FILE_NAME:?}",
            alt.display()
        )
    });
    Ok(ConfigSearch { path: None, warning })
}

impl Config {
    /// Reads and parses a config file (the first YAML document, as sops does).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let docs = crate::format::store::yaml::parse(&bytes).map_err(|e| ConfigError::Yaml {
            path: path.to_owned(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        match docs.first() {
            Some(doc) => Config::from_tree(doc, path),
            None => Config::from_tree(&Map::new(), path),
        }
    }

    /// Builds the config from a parsed YAML document; `origin` is the file named in messages.
    pub fn from_tree(doc: &Map, origin: &Path) -> Result<Config, ConfigError> {
        let mut p = Parser { path: origin, warnings: Vec::new() };
        p.check_fields(doc, &TOP_FIELDS, "top level");
        let creation_rules = match doc.get("creation_rules") {
            None | Some(Node::Scalar(Scalar::Null)) => None,
            Some(node) => {
                let items = p.list(node, "creation_rules")?;
                let rules = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| p.rule(i, item))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(rules)
            }
        };
        let stores = match doc.get("stores") {
            None | Some(Node::Scalar(Scalar::Null)) => StoresConfig::default(),
            Some(node) => p.stores(node)?,
        };
        Ok(Config { path: origin.to_owned(), creation_rules, stores, warnings: p.warnings })
    }

    /// The first rule whose `path_regex` matches `file`, made absolute against `cwd` and then
    /// relative to the config file's directory (a file outside that directory is matched by its
    /// absolute path, as sops does). `Ok(None)` when the config has no `creation_rules`.
    ///
    /// # Errors
    /// [`ConfigError::NoMatchingRule`] when rules exist but none matches (sops exits 1 then,
    /// even when keys are given on the command line).
    pub fn rule_for(&self, cwd: &Path, file: &Path) -> Result<Option<&CreationRule>, ConfigError> {
        let Some(rules) = &self.creation_rules else { return Ok(None) };
        let config_dir = clean_absolute(cwd, self.path.parent().unwrap_or(Path::new("")));
        let file_abs = clean_absolute(cwd, file);
        let relative = match file_abs.strip_prefix(&config_dir) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.to_string_lossy().into_owned(),
            _ => file_abs.to_string_lossy().into_owned(),
        };
        rules
            .iter()
            .find(|r| r.path_regex.as_ref().is_none_or(|re| re.is_match(&relative)))
            .map(Some)
            .ok_or_else(|| ConfigError::NoMatchingRule { path: self.path.clone(), file: relative })
    }
}

/// Go's `filepath.Abs`: joined onto `cwd` when relative, then cleaned lexically (`.` dropped,
/// `..` pops a component; symlinks are not resolved).
fn clean_absolute(cwd: &Path, path: &Path) -> PathBuf {
    let joined = cwd.join(path);
    let mut out = PathBuf::new();
    for comp in joined.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Field-by-field reading with locations for messages.
struct Parser<'a> {
    path: &'a Path,
    warnings: Vec<String>,
}

impl Parser<'_> {
    fn invalid(&self, location: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            location: location.to_owned(),
            reason: reason.into(),
        }
    }

    fn key_error(&self, location: &str, source: KeyError) -> ConfigError {
        ConfigError::Key { path: self.path.to_owned(), location: location.to_owned(), source }
    }

    fn check_fields(&mut self, map: &Map, known: &[&str], location: &str) {
        for (key, _) in map.entries() {
            if !known.contains(&key) {
                self.warnings.push(format!(
                    "{}: {location}: unknown field {key:?} is ignored (as sops ignores it); \
                     check its spelling",
                    self.path.display()
                ));
            }
        }
    }

    fn map<'n>(&self, node: &'n Node, location: &str) -> Result<&'n Map, ConfigError> {
        node.as_map().ok_or_else(|| self.invalid(location, "expected a mapping"))
    }

    /// A sequence's items, comments skipped; null is an empty list.
    fn list<'n>(&self, node: &'n Node, location: &str) -> Result<Vec<&'n Node>, ConfigError> {
        match node {
            Node::List(items) => {
                Ok(items.iter().filter(|n| !matches!(n, Node::Comment(_))).collect())
            }
            Node::Scalar(Scalar::Null) => Ok(Vec::new()),
            _ => Err(self.invalid(location, "expected a list")),
        }
    }

    /// A scalar read into a Go string field (go-yaml accepts any scalar there).
    fn string(&self, node: &Node, location: &str) -> Result<String, ConfigError> {
        match node {
            Node::Scalar(Scalar::Null) => Ok(String::new()),
            Node::Scalar(Scalar::Str(_)) => node
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| self.invalid(location, "not UTF-8 text")),
            Node::Scalar(Scalar::Int(i)) => Ok(i.to_string()),
            Node::Scalar(Scalar::Float(f)) => Ok(format_float_plain(*f)),
            Node::Scalar(Scalar::Bool(b)) => Ok(b.to_string()),
            Node::Scalar(Scalar::Time(t)) => Ok(t.to_rfc3339_nano()),
            _ => Err(self.invalid(location, "expected a string")),
        }
    }

    fn optional_string(&self, map: &Map, field: &str, ctx: &str) -> Result<String, ConfigError> {
        map.get(field).map_or(Ok(String::new()), |n| self.string(n, &format!("{ctx}.{field}")))
    }

    /// A Go `bool` field: YAML booleans, and go-yaml's YAML 1.1 forms (`yes`, `on`, `n`, …).
    fn boolean(&self, node: &Node, location: &str) -> Result<Option<bool>, ConfigError> {
        match node {
            Node::Scalar(Scalar::Null) => Ok(None),
            Node::Scalar(Scalar::Bool(b)) => Ok(Some(*b)),
            _ => match node.as_str() {
                Some("y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON") => Ok(Some(true)),
                Some("n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF") => Ok(Some(false)),
                _ => Err(self.invalid(location, "expected true or false")),
            },
        }
    }

    /// A Go `int` field.
    fn integer(&self, node: &Node, location: &str) -> Result<i64, ConfigError> {
        match node {
            Node::Scalar(Scalar::Null) => Ok(0),
            Node::Scalar(Scalar::Int(i)) => Ok(*i),
            Node::Scalar(Scalar::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
            _ => Err(self.invalid(location, "expected a whole number")),
        }
    }

    /// A rule-level key field: a comma-separated string (blanks skipped) or a list of strings.
    /// List items are joined and split on commas again, as sops does, so an empty piece there
    /// is an error.
    fn key_list(&self, node: &Node, location: &str) -> Result<Vec<String>, ConfigError> {
        match node {
            Node::Scalar(Scalar::Null) => Ok(Vec::new()),
            Node::List(_) => {
                let mut out = Vec::new();
                for (i, item) in self.list(node, location)?.into_iter().enumerate() {
                    let loc = format!("{location}[{i}]");
                    let text = item
                        .as_str()
                        .ok_or_else(|| self.invalid(&loc, "expected a string in the list"))?;
                    for piece in text.split(',') {
                        if piece.trim().is_empty() {
                            return Err(self.invalid(&loc, "empty key (stray comma?)"));
                        }
                        out.push(piece.trim().to_owned());
                    }
                }
                Ok(out)
            }
            Node::Scalar(Scalar::Str(_)) => Ok(self
                .string(node, location)?
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()),
            _ => Err(self.invalid(location, "expected a string or a list of strings")),
        }
    }

    /// A key-group field that must be a list of strings (go-yaml `[]string`).
    fn string_list(&self, node: &Node, location: &str) -> Result<Vec<String>, ConfigError> {
        self.list(node, location)?
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Node::Scalar(_) => self.string(item, &format!("{location}[{i}]")),
                _ => Err(self.invalid(&format!("{location}[{i}]"), "expected a string")),
            })
            .collect()
    }

    fn age(&self, text: &str, location: &str) -> Result<KeySpec, ConfigError> {
        AgeRecipient::parse(text).map(KeySpec::Age).map_err(|e| self.key_error(location, e))
    }

    fn vault(&self, text: &str, location: &str) -> Result<KeySpec, ConfigError> {
        VaultTransitUri::parse(text.trim())
            .map(KeySpec::HcVault)
            .map_err(|e| self.key_error(location, e.into()))
    }

    fn foreign(key_type: &str, id: impl Into<String>) -> KeySpec {
        KeySpec::Foreign { key_type: key_type.to_owned(), id: id.into() }
    }

    fn rule(&mut self, index: usize, node: &Node) -> Result<CreationRule, ConfigError> {
        let ctx = format!("creation_rules[{index}]");
        let map = self.map(node, &ctx)?;
        self.check_fields(map, &RULE_FIELDS, &ctx);

        let path_regex = match self.optional_string(map, "path_regex", &ctx)? {
            s if s.is_empty() => None,
            s => Some(Regex::new(&s).map_err(|e| {
                self.invalid(
                    &format!("{ctx}.path_regex"),
                    format!("invalid regular expression: {e}"),
                )
            })?),
        };

        let mut rules = Vec::new();
        for field in EncryptionRule::FIELD_NAMES {
            let value = self.optional_string(map, field, &ctx)?;
            if !value.is_empty() {
                rules.push((field, value));
            }
        }
        let rule = match rules.as_slice() {
            [] => None,
            [(field, value)] => Some(
                EncryptionRule::from_field(field, value)
                    .map_err(|e| self.invalid(&format!("{ctx}.{field}"), e.to_string()))?,
            ),
            _ => {
                let names: Vec<&str> = rules.iter().map(|(f, _)| *f).collect();
                return Err(self.invalid(
                    &ctx,
                    format!(
                        "sets {}, but a rule may use at most one of encrypted_suffix, \
                         unencrypted_suffix, encrypted_regex, unencrypted_regex, \
                         encrypted_comment_regex and unencrypted_comment_regex",
                        names.join(" and ")
                    ),
                ));
            }
        };

        let shamir_threshold = match map.get("shamir_threshold") {
            None => 0,
            Some(n) => {
                let loc = format!("{ctx}.shamir_threshold");
                let t = self.integer(n, &loc)?;
                usize::try_from(t).map_err(|_| self.invalid(&loc, "must not be negative"))?
            }
        };
        let mac_only_encrypted = match map.get("mac_only_encrypted") {
            None => None,
            Some(n) => self.boolean(n, &format!("{ctx}.mac_only_encrypted"))?,
        };

        let groups_node = map.get("key_groups").map(|n| self.list(n, &format!("{ctx}.key_groups")));
        let key_groups = match groups_node.transpose()? {
            Some(groups) if !groups.is_empty() => groups
                .into_iter()
                .enumerate()
                .map(|(i, g)| {
                    let loc = format!("{ctx}.key_groups[{i}]");
                    let mut keys = self.group(g, &loc)?;
                    dedupe(&mut keys);
                    Ok(GroupSpec(keys))
                })
                .collect::<Result<Vec<_>, ConfigError>>()?,
            _ => vec![GroupSpec(self.rule_level_keys(map, &ctx)?)],
        };

        Ok(CreationRule {
            index,
            path_regex,
            key_groups,
            shamir_threshold,
            rule,
            mac_only_encrypted,
        })
    }

    /// The one group of a rule without `key_groups`, in sops's order (no de-duplication).
    fn rule_level_keys(&self, map: &Map, ctx: &str) -> Result<Vec<KeySpec>, ConfigError> {
        let field = |name: &str| -> Result<Vec<String>, ConfigError> {
            map.get(name).map_or(Ok(Vec::new()), |n| self.key_list(n, &format!("{ctx}.{name}")))
        };
        let mut keys = Vec::new();
        for r in field("age")? {
            keys.push(self.age(&r, &format!("{ctx}.age"))?);
        }
        keys.extend(field("pgp")?.into_iter().map(|fp| Self::foreign("pgp", fp.replace(' ', ""))));
        keys.extend(field("kms")?.into_iter().map(|arn| Self::foreign("kms", arn)));
        keys.extend(field("gcp_kms")?.into_iter().map(|id| Self::foreign("gcp_kms", id)));
        keys.extend(field("hckms")?.into_iter().map(|id| Self::foreign("hckms", id)));
        keys.extend(
            field("azure_keyvault")?.into_iter().map(|url| Self::foreign("azure_keyvault", url)),
        );
        for uri in field("hc_vault_transit_uri")? {
            keys.push(self.vault(&uri, &format!("{ctx}.hc_vault_transit_uri"))?);
        }
        if let Some(n) = map.get("plugins") {
            keys.extend(self.plugins(n, &format!("{ctx}.plugins"))?);
        }
        Ok(keys)
    }

    /// One entry of `key_groups` (with its `merge` groups first), as sops's `extractMasterKeys`.
    fn group(&mut self, node: &Node, ctx: &str) -> Result<Vec<KeySpec>, ConfigError> {
        let map = self.map(node, ctx)?;
        self.check_fields(map, &GROUP_FIELDS, ctx);
        let mut keys = Vec::new();
        if let Some(n) = map.get("merge") {
            for (i, g) in self.list(n, &format!("{ctx}.merge"))?.into_iter().enumerate() {
                keys.extend(self.group(g, &format!("{ctx}.merge[{i}]"))?);
            }
        }
        let strings = |name: &str| -> Result<Vec<String>, ConfigError> {
            map.get(name).map_or(Ok(Vec::new()), |n| self.string_list(n, &format!("{ctx}.{name}")))
        };
        for (i, entry) in strings("age")?.into_iter().enumerate() {
            let loc = format!("{ctx}.age[{i}]");
            for piece in entry.split(',') {
                keys.push(self.age(piece, &loc)?);
            }
        }
        keys.extend(
            strings("pgp")?.into_iter().map(|fp| Self::foreign("pgp", fp.replace(' ', ""))),
        );
        let entries = |name: &str, id_field: &str| -> Result<Vec<KeySpec>, ConfigError> {
            let Some(n) = map.get(name) else { return Ok(Vec::new()) };
            let loc = format!("{ctx}.{name}");
            self.list(n, &loc)?
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_loc = format!("{loc}[{i}]");
                    let m = self.map(item, &item_loc)?;
                    Ok(Self::foreign(name, self.optional_string(m, id_field, &item_loc)?))
                })
                .collect()
        };
        keys.extend(entries("kms", "arn")?);
        keys.extend(entries("gcp_kms", "resource_id")?);
        keys.extend(entries("hckms", "key_id")?);
        keys.extend(entries("azure_keyvault", "vaultUrl")?);
        for (i, uri) in strings("hc_vault")?.into_iter().enumerate() {
            keys.push(self.vault(&uri, &format!("{ctx}.hc_vault[{i}]"))?);
        }
        if let Some(n) = map.get("plugins") {
            keys.extend(self.plugins(n, &format!("{ctx}.plugins"))?);
        }
        Ok(keys)
    }

    fn plugins(&self, node: &Node, location: &str) -> Result<Vec<KeySpec>, ConfigError> {
        self.list(node, location)?
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let loc = format!("{location}[{i}]");
                let m = self.map(item, &loc)?;
                Ok(Self::foreign("plugin", self.optional_string(m, "binary_name", &loc)?))
            })
            .collect()
    }

    fn stores(&mut self, node: &Node) -> Result<StoresConfig, ConfigError> {
        let map = self.map(node, "stores")?;
        self.check_fields(map, &["dotenv", "ini", "json_binary", "json", "yaml"], "stores");
        let indent = |name: &str| -> Result<Option<i64>, ConfigError> {
            let loc = format!("stores.{name}");
            match map.get(name) {
                None | Some(Node::Scalar(Scalar::Null)) => Ok(None),
                Some(n) => match self.map(n, &loc)?.get("indent") {
                    None => Ok(None),
                    Some(v) => self.integer(v, &format!("{loc}.indent")).map(Some),
                },
            }
        };
        Ok(StoresConfig {
            yaml_indent: indent("yaml")?,
            json_indent: indent("json")?,
            json_binary_indent: indent("json_binary")?,
        })
    }
}

/// Removes repeated keys of the same type and name, keeping the first (sops `deduplicateKeygroup`).
fn dedupe(keys: &mut Vec<KeySpec>) {
    let mut seen: Vec<(String, String)> = Vec::new();
    keys.retain(|k| {
        let id = (k.type_name().to_owned(), k.to_string());
        if seen.contains(&id) {
            false
        } else {
            seen.push(id);
            true
        }
    });
}

#[cfg(test)]
mod tests;
