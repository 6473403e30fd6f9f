//! Test Secrets and sealing them: with the real `sealgate seal` CLI (what users run), or
//! in process with the library (for the 1,000-object runs), both giving the sealed file as
//! the JSON the apiserver is sent.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Secret;
use sealgate::format::Timestamp;
use sealgate::format::cipher::DataKey;
use sealgate::format::store::Format;
use sealgate::keys::{AgeRecipient, GroupSpec, KeySpec, wrap_data_key};
use sealgate::seal::{self, Scope, SecretManifest};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::cluster::yaml_documents;
use super::support::{Ctx, R, ensure};

/// A test Secret: throwaway values, each unique to the run so that a leak can be searched for.
#[derive(Debug, Clone)]
pub struct Plain {
    pub name: String,
    pub namespace: String,
    pub secret_type: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `data`: raw bytes (base64-encoded in the manifest).
    pub data: BTreeMap<String, Vec<u8>>,
    pub string_data: BTreeMap<String, String>,
}

impl Plain {
    /// A typical Secret: three `data` keys, two `stringData` keys, a label, an annotation and
    /// a custom type. `marker` makes every value unique (and findable in a leak search).
    pub fn typical(namespace: &str, name: &str, marker: &str) -> Plain {
        let data = [
            (
                "ca.crt",
                format!("-----BEGIN CERTIFICATE-----\n{marker}-ca\n-----END CERTIFICATE-----\n"),
            ),
            ("password", format!("{marker}-password-Zx9!")),
            ("username", format!("{marker}-user")),
        ];
        let string_data = [
            ("config.json", format!("{{\"token\":\"{marker}-token\"}}")),
            ("dsn", format!("postgres://app:{marker}-dsn@db:5432/app")),
        ];
        Plain {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            secret_type: "example.com/e2e".to_owned(),
            labels: BTreeMap::from([("app".to_owned(), "e2e".to_owned())]),
            annotations: BTreeMap::from([("example.com/owner".to_owned(), "team-e2e".to_owned())]),
            data: data.into_iter().map(|(k, v)| (k.to_owned(), v.into_bytes())).collect(),
            string_data: string_data.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    /// Every plaintext value, as text and as the base64 a Secret carries.
    pub fn values(&self) -> Vec<String> {
        let raw = self
            .data
            .values()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .chain(self.string_data.values().cloned());
        raw.flat_map(|v| [STANDARD.encode(v.as_bytes()), v]).collect()
    }

    /// The Secret manifest (JSON, which `sealgate seal` reads like YAML).
    pub fn manifest(&self) -> Value {
        let data: BTreeMap<&String, String> =
            self.data.iter().map(|(k, v)| (k, STANDARD.encode(v))).collect();
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": self.labels,
                "annotations": self.annotations,
            },
            "type": self.secret_type,
            "data": data,
            "stringData": self.string_data,
        })
    }

    /// What the produced Secret's `data` must hold: `data` and `stringData` merged, as bytes.
    pub fn expected_data(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = self.data.clone();
        out.extend(self.string_data.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())));
        out
    }

    /// Checks a Secret's values (and only its values) against this one.
    pub fn check_values(&self, secret: &Secret) -> R {
        let got: BTreeMap<String, Vec<u8>> =
            secret.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
        let want = self.expected_data();
        let got_keys: Vec<&String> = got.keys().collect();
        let want_keys: Vec<&String> = want.keys().collect();
        ensure(got_keys == want_keys, || {
            format!("Secret {} has keys {got_keys:?}, expected {want_keys:?}", self.name)
        })?;
        // Name the key that differs, never the values.
        for (k, v) in &want {
            ensure(got.get(k) == Some(v), || {
                format!("Secret {} key {k} does not hold the sealed value", self.name)
            })?;
        }
        Ok(())
    }

    pub fn to_manifest(&self) -> SecretManifest {
        SecretManifest {
            name: self.name.clone(),
            namespace: Some(self.namespace.clone()),
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            secret_type: self.secret_type.clone(),
            immutable: None,
            data: self.data.iter().map(|(k, v)| (k.clone(), Zeroizing::new(v.clone()))).collect(),
            string_data: self
                .string_data
                .iter()
                .map(|(k, v)| (k.clone(), Zeroizing::new(v.clone())))
                .collect(),
        }
    }
}

/// Seals with the CLI: `sealgate seal --age RECIPIENT -`, the manifest on standard input, run
/// in an empty directory so no `.sops.yaml` is found. Returns the sealed file as JSON.
pub fn seal_with_cli(cli: &Path, plain: &Plain, recipient: &str) -> R<Value> {
    let dir = tempfile::tempdir().ctx("cannot make a temporary directory")?;
    let mut child = Command::new(cli)
        .args(["seal", "--age", recipient, "-"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ctx(format!("cannot run {}", cli.display()))?;
    let input = serde_json::to_vec(&plain.manifest()).ctx("manifest")?;
    child.stdin.take().ctx("no stdin")?.write_all(&input).ctx("cannot feed sealgate seal")?;
    let out = child.wait_with_output().ctx("sealgate seal did not finish")?;
    ensure(out.status.success(), || {
        format!("sealgate seal failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr))
    })?;
    let mut docs = yaml_documents(&out.stdout, "the output of sealgate seal")?;
    ensure(docs.len() == 1, || format!("sealgate seal wrote {} documents, not 1", docs.len()))?;
    Ok(docs.remove(0))
}

/// Seals in process with the library (a fresh data key wrapped for `recipient`), as JSON.
pub fn seal_in_process(plain: &Plain, recipient: &str) -> R<Value> {
    let now = Timestamp::now_utc();
    let key = DataKey::generate();
    let recipient = AgeRecipient::parse(recipient).ctx("the recipient does not parse")?;
    let groups = [GroupSpec(vec![KeySpec::Age(recipient)])];
    let (key_groups, threshold) =
        wrap_data_key(&key, &groups, 0, None, now).ctx("cannot wrap the data key")?;
    let file =
        seal::seal(&plain.to_manifest(), Scope::Strict, &key, key_groups, threshold, None, now)
            .ctx(format!("cannot seal {}", plain.name))?;
    let json = file.emit_as(Format::Json).ctx("cannot write the sealed file as JSON")?;
    serde_json::from_slice(&json).ctx("the sealed JSON does not parse")
}
