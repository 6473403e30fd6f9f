//! What a `VaultSecret` asks for, checked and put in canonical form before anything is read:
//! the (path, version) reads, where each Secret key comes from, the refresh interval and the
//! produced Secret's template.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::controller::materialize::check_secret_type;
use crate::controller::reason::{Reason, Refusal};
use crate::crd::VaultSecretSpec;
use crate::seal::Template;
use crate::vault::KvVersion;

use super::paths::normalize;

/// The refresh interval when `spec.refreshInterval` is absent.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// The shortest refresh interval accepted: more often would only load Vault.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);

/// One read: a normalised path and an optional pinned KV v2 version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Read {
    pub path: String,
    pub version: Option<u64>,
}

impl std::fmt::Display for Read {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            Some(v) => write!(f, "{} (version {v})", self.path),
            None => f.write_str(&self.path),
        }
    }
}

/// One `spec.data` entry, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Single {
    pub secret_key: String,
    pub read: Read,
    pub property: String,
}

/// A `VaultSecret`'s spec, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Every distinct read, sorted.
    pub reads: Vec<Read>,
    pub singles: Vec<Single>,
    /// `spec.dataFrom`, in order.
    pub wholes: Vec<Read>,
    /// `None`: no periodic refresh.
    pub refresh: Option<Duration>,
    pub template: Template,
}

/// Checks a spec and puts it in canonical form.
///
/// # Errors
/// [`Reason::InvalidSpec`] naming the field and what to write instead.
pub fn plan(spec: &VaultSecretSpec) -> Result<Plan, Refusal> {
    let invalid = |m: String| Refusal::new(Reason::InvalidSpec, m);
    if spec.data.is_empty() && spec.data_from.is_empty() {
        return Err(invalid(
            "spec.data and spec.dataFrom are both empty: name at least one path to read".into(),
        ));
    }
    let refresh = match &spec.refresh_interval {
        None => Some(DEFAULT_REFRESH),
        Some(text) => {
            parse_interval(text).map_err(|e| invalid(format!("spec.refreshInterval: {e}")))?
        }
    };
    let mut keys = BTreeSet::new();
    let mut singles = Vec::new();
    for (i, d) in spec.data.iter().enumerate() {
        if !is_secret_key(&d.secret_key) {
            return Err(invalid(format!(
                "spec.data[{i}].secretKey {:?} is not a valid Secret key (letters, digits, '-', \
                 '_' and '.')",
                d.secret_key
            )));
        }
        if !keys.insert(d.secret_key.as_str()) {
            return Err(invalid(format!(
                "spec.data[{i}].secretKey {} is used twice: each Secret key comes from one place",
                d.secret_key
            )));
        }
        let path = normalize(&d.remote_ref.path)
            .map_err(|e| invalid(format!("spec.data[{i}].remoteRef: {e}")))?;
        singles.push(Single {
            secret_key: d.secret_key.clone(),
            read: Read { path, version: d.remote_ref.version },
            property: d.remote_ref.property.clone(),
        });
    }
    let mut wholes: Vec<Read> = Vec::new();
    for (i, d) in spec.data_from.iter().enumerate() {
        let path = normalize(&d.path).map_err(|e| invalid(format!("spec.dataFrom[{i}]: {e}")))?;
        let read = Read { path, version: d.version };
        if wholes.contains(&read) {
            return Err(invalid(format!("spec.dataFrom[{i}] repeats {read}")));
        }
        wholes.push(read);
    }
    let template = template_of(spec);
    check_secret_type(&template.secret_type, "")?;
    let reads: BTreeSet<Read> =
        singles.iter().map(|s| s.read.clone()).chain(wholes.iter().cloned()).collect();
    Ok(Plan { reads: reads.into_iter().collect(), singles, wholes, refresh, template })
}

impl Plan {
    /// Checks the plan against the store's KV engine: pinned versions need KV v2.
    ///
    /// # Errors
    /// [`Reason::InvalidSpec`] naming the pinned read.
    pub fn check_engine(&self, version: KvVersion, store: &str) -> Result<(), Refusal> {
        match (version, self.reads.iter().find(|r| r.version.is_some())) {
            (KvVersion::V1, Some(read)) => Err(Refusal::new(
                Reason::InvalidSpec,
                format!(
                    "{read} pins a version, but {store} uses KV version 1, which has no \
                     versions; remove the version or use a KV v2 store"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The normalised paths read, for the store's conditions.
    pub fn paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self.reads.iter().map(|r| r.path.as_str()).collect();
        paths.dedup();
        paths
    }
}

/// The produced Secret's template: `spec.template` with the defaults of `EncryptedSecret`'s.
fn template_of(spec: &VaultSecretSpec) -> Template {
    let mut t = Template::default();
    if let Some(tpl) = &spec.template {
        if let Some(ty) = &tpl.secret_type {
            t.secret_type = ty.clone();
        }
        t.immutable = tpl.immutable.unwrap_or(false);
        if let Some(meta) = &tpl.metadata {
            t.labels = meta.labels.clone().unwrap_or_default();
            t.annotations = meta.annotations.clone().unwrap_or_default();
        }
    }
    t
}

/// Whether `key` is a valid `Secret.data` key.
pub fn is_secret_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Parses `refreshInterval`: `0` (no periodic refresh, `None`) or a sequence of numbers with
/// units `s`, `m`, `h`, `d` (`1h30m`).
///
/// # Errors
/// A message naming the value, the accepted form and the minimum.
pub fn parse_interval(text: &str) -> Result<Option<Duration>, String> {
    let bad = || format!("{text:?} is not an interval: use e.g. 30m, 1h or 1h30m (or 0 for never)");
    if text == "0" {
        return Ok(None);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(bad)?;
    }
    if !digits.is_empty() || text.is_empty() {
        return Err(bad());
    }
    let interval = Duration::from_secs(total);
    if interval < MIN_REFRESH {
        return Err(format!(
            "{text:?} is shorter than the minimum of {}s; use a longer interval, or 0 for never",
            MIN_REFRESH.as_secs()
        ));
    }
    Ok(Some(interval))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{
        RemoteRef, SecretTemplate, StoreKind, StoreRef, TemplateMetadata, VaultDataFrom,
        VaultSecretData,
    };

    pub(crate) fn spec(data: &[(&str, &str, &str, Option<u64>)], from: &[&str]) -> VaultSecretSpec {
        VaultSecretSpec {
            store_ref: StoreRef { kind: StoreKind::SecretStore, name: "vault".into() },
            refresh_interval: None,
            data: data
                .iter()
                .map(|(key, path, property, version)| VaultSecretData {
                    secret_key: (*key).into(),
                    remote_ref: RemoteRef {
                        path: (*path).into(),
                        property: (*property).into(),
                        version: *version,
                    },
                })
                .collect(),
            data_from: from
                .iter()
                .map(|p| VaultDataFrom { path: (*p).into(), version: None })
                .collect(),
            template: None,
        }
    }

    #[test]
    fn reads_are_distinct_normalised_and_sorted() {
        let s = spec(
            &[
                ("password", "app/db", "password", Some(3)),
                ("user", "//app/db/", "user", Some(3)),
                ("latest", "app/db", "password", None),
            ],
            &["app/common", "teams/a/../b"],
        );
        let p = plan(&s).unwrap();
        let reads: Vec<String> = p.reads.iter().map(ToString::to_string).collect();
        assert_eq!(reads, ["app/common", "app/db", "app/db (version 3)", "teams/b"]);
        assert_eq!(p.paths(), ["app/common", "app/db", "teams/b"]);
        assert_eq!(p.singles[1].read, Read { path: "app/db".into(), version: Some(3) });
        assert_eq!(p.refresh, Some(DEFAULT_REFRESH));
        assert_eq!(p.template.secret_type, "Opaque");
    }

    #[test]
    fn bad_specs_are_invalid_with_the_field_named() {
        let cases: Vec<(VaultSecretSpec, &str)> = vec![
            (spec(&[], &[]), "spec.data and spec.dataFrom are both empty"),
            (spec(&[("a b", "p", "x", None)], &[]), "spec.data[0].secretKey \"a b\""),
            (
                spec(&[("k", "p", "x", None), ("k", "q", "y", None)], &[]),
                "spec.data[1].secretKey k is used twice",
            ),
            (spec(&[("k", "../p", "x", None)], &[]), "spec.data[0].remoteRef: path \"../p\""),
            (spec(&[], &["a", "a/"]), "spec.dataFrom[1] repeats a"),
            (spec(&[], &["a%2f"]), "spec.dataFrom[0]: path"),
        ];
        for (s, says) in cases {
            let err = plan(&s).unwrap_err();
            assert_eq!(err.reason, Reason::InvalidSpec);
            assert!(err.message.contains(says), "{says}: {}", err.message);
        }
        let mut token = spec(&[], &["a"]);
        token.template = Some(SecretTemplate {
            secret_type: Some("kubernetes.io/service-account-token".into()),
            ..Default::default()
        });
        assert!(plan(&token).unwrap_err().message.contains("service-account-token"));
        let mut fast = spec(&[], &["a"]);
        fast.refresh_interval = Some("1s".into());
        assert!(plan(&fast).unwrap_err().message.contains("spec.refreshInterval"));
    }

    #[test]
    fn the_template_carries_type_labels_and_annotations() {
        let mut s = spec(&[], &["a"]);
        s.template = Some(SecretTemplate {
            secret_type: Some("kubernetes.io/basic-auth".into()),
            metadata: Some(TemplateMetadata {
                labels: Some([("app".to_owned(), "db".to_owned())].into()),
                annotations: Some([("team".to_owned(), "a".to_owned())].into()),
            }),
            immutable: None,
        });
        let t = plan(&s).unwrap().template;
        assert_eq!(t.secret_type, "kubernetes.io/basic-auth");
        assert_eq!(t.labels["app"], "db");
        assert_eq!(t.annotations["team"], "a");
        assert!(!t.immutable);
    }

    #[test]
    fn pinned_versions_need_kv_v2() {
        let p = plan(&spec(&[("k", "app/db", "x", Some(2))], &[])).unwrap();
        assert_eq!(p.check_engine(KvVersion::V2, "SecretStore vault"), Ok(()));
        let err = p.check_engine(KvVersion::V1, "SecretStore vault").unwrap_err();
        assert!(err.message.contains("app/db (version 2) pins a version"), "{}", err.message);
    }

    #[test]
    fn intervals_parse_with_units_and_a_minimum() {
        assert_eq!(parse_interval("1h"), Ok(Some(Duration::from_secs(3600))));
        assert_eq!(parse_interval("1h30m"), Ok(Some(Duration::from_secs(5400))));
        assert_eq!(parse_interval("2d"), Ok(Some(Duration::from_secs(172_800))));
        assert_eq!(parse_interval("45s"), Ok(Some(Duration::from_secs(45))));
        assert_eq!(parse_interval("0"), Ok(None));
        for bad in ["", "1", "h", "1.5h", "1w", "-1h", "99999999999999999999d"] {
            assert!(parse_interval(bad).unwrap_err().contains("not an interval"), "{bad}");
        }
        assert!(parse_interval("5s").unwrap_err().contains("minimum"));
    }
}
