//! The KV secrets engine, v1 and v2: what a read returns and how a path maps to the API.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use vaultrs::api::kv2::requests::ReadSecretRequest;
use vaultrs::client::VaultClient;

use super::error::VaultError;

/// KV engine version of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvVersion {
    V1,
    V2,
}

/// A KV mount: `secret` with version 2 is Vault's dev-server default.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KvEngine {
    pub mount: String,
    pub version: KvVersion,
}

/// One read of a KV path: every property, as bytes (strings as UTF-8, other JSON values as
/// their JSON text), and for KV v2 the version that was read.
#[derive(Debug, Default)]
pub struct KvSecret {
    pub data: BTreeMap<String, Zeroizing<Vec<u8>>>,
    /// The KV v2 version read (`None` for KV v1).
    pub version: Option<u64>,
}

impl KvEngine {
    /// Where `path` lives, for messages: `secret/app/db`.
    pub fn display_path(&self, path: &str) -> String {
        format!("{}/{}", self.mount.trim_matches('/'), path.trim_matches('/'))
    }
}

/// Checks a KV path before it is put in a URL: relative, no empty, `.` or `..` segments, no
/// query characters. Returns it without leading/trailing slashes.
pub fn normalize_path(path: &str) -> Result<String, VaultError> {
    let trimmed = path.trim_matches('/');
    let bad = |why: &str| Err(VaultError::Invalid(format!("KV path {path:?} {why}")));
    if trimmed.is_empty() {
        return bad("is empty");
    }
    if trimmed.chars().any(|c| c.is_control() || matches!(c, '?' | '#' | '%' | '\\')) {
        return bad("contains characters not allowed in a Vault path (?, #, %, \\ or control)");
    }
    if trimmed.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return bad("has an empty, `.` or `..` segment");
    }
    Ok(trimmed.to_owned())
}

/// Reads `path` (and for KV v2, `version` or the newest) with a client holding a valid token.
pub(crate) async fn read(
    client: &VaultClient,
    server: &str,
    engine: &KvEngine,
    path: &str,
    version: Option<u64>,
) -> Result<KvSecret, VaultError> {
    let what = match version {
        Some(v) => format!("read {} version {v} at {server}", engine.display_path(path)),
        None => format!("read {} at {server}", engine.display_path(path)),
    };
    let mount = engine.mount.trim_matches('/');
    match engine.version {
        KvVersion::V1 => {
            if version.is_some() {
                return Err(VaultError::Invalid(format!(
                    "{what}: KV version 1 mount {mount} has no versions; remove `version`"
                )));
            }
            let res = vaultrs::kv1::get_raw(client, mount, path)
                .await
                .map_err(|e| super::client::classify(e, &what))?;
            Ok(KvSecret { data: properties(res.data, &what)?, version: None })
        }
        KvVersion::V2 => {
            let endpoint = ReadSecretRequest::builder()
                .mount(mount)
                .path(path)
                .version(version)
                .build()
                .map_err(|e| VaultError::Invalid(format!("{what}: {e}")))?;
            let res = vaultrs::api::exec_with_result(client, endpoint)
                .await
                .map_err(|e| super::client::classify(e, &what))?;
            if res.metadata.destroyed || !res.metadata.deletion_time.is_empty() {
                return Err(VaultError::NotFound(format!("{what}: the version is deleted")));
            }
            Ok(KvSecret { data: properties(res.data, &what)?, version: Some(res.metadata.version) })
        }
    }
}

/// A secret's properties as bytes: strings as their UTF-8, anything else as JSON text.
fn properties(
    data: serde_json::Value,
    what: &str,
) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, VaultError> {
    let serde_json::Value::Object(map) = data else {
        return Err(VaultError::NotFound(format!("{what}: no data (deleted or destroyed)")));
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let bytes = match v {
            serde_json::Value::String(s) => Zeroizing::new(s.into_bytes()),
            other => Zeroizing::new(serde_json::to_vec(&other).map_err(|_| {
                VaultError::Invalid(format!("{what}: property {k:?} cannot be serialized"))
            })?),
        };
        out.insert(k, bytes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape_or_smuggle() {
        assert_eq!(normalize_path("/app/db/").unwrap(), "app/db");
        for bad in ["", "/", "a//b", "a/../b", "./a", "a?version=1", "a#x", "a%2F", "a\\b"] {
            assert!(normalize_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn non_string_properties_become_json_text() {
        let data = serde_json::json!({"s": "x", "n": 3, "o": {"a": true}});
        let props = properties(data, "read t").unwrap();
        assert_eq!(&**props["s"], b"x");
        assert_eq!(&**props["n"], b"3");
        assert_eq!(&**props["o"], br#"{"a":true}"#);
        assert!(matches!(
            properties(serde_json::Value::Null, "read t"),
            Err(VaultError::NotFound(_))
        ));
    }
}
