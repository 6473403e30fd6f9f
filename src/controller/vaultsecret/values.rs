//! What was read from Vault → the produced Secret's data: `spec.data` entries by property,
//! `spec.dataFrom` every property, each Secret key from exactly one place.

use std::collections::BTreeMap;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::plan::{Plan, Read, is_secret_key};
use crate::controller::reason::{Reason, Refusal};
use crate::crd::PathVersion;
use crate::seal::SecretValue;
use crate::vault::KvSecret;

/// The result of every read of a plan.
pub type ReadResults = BTreeMap<Read, Arc<KvSecret>>;

/// Builds the Secret's data from the reads. Values are copied into zeroizing buffers.
///
/// # Errors
/// [`Reason::PathNotFound`] for a property the path does not have (naming both);
/// [`Reason::InvalidSpec`] for a Secret key that two entries produce, or a property of a
/// `dataFrom` path that is not a valid Secret key.
pub fn secret_data(
    plan: &Plan,
    results: &ReadResults,
) -> Result<BTreeMap<String, SecretValue>, Refusal> {
    let mut out: BTreeMap<String, SecretValue> = BTreeMap::new();
    // Where each key came from, for collision messages.
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |key: &str, value: &Zeroizing<Vec<u8>>, from: String| {
        if let Some(first) = origin.get(key) {
            return Err(Refusal::new(
                Reason::InvalidSpec,
                format!(
                    "Secret key {key} would come from both {first} and {from}; rename one (read \
                     it through spec.data with another secretKey) or drop one of the entries"
                ),
            ));
        }
        origin.insert(key.to_owned(), from);
        out.insert(key.to_owned(), Zeroizing::new(value.to_vec()));
        Ok(())
    };
    for (i, read) in plan.wholes.iter().enumerate() {
        let secret = result(results, read)?;
        for (property, value) in &secret.data {
            if !is_secret_key(property) {
                return Err(Refusal::new(
                    Reason::InvalidSpec,
                    format!(
                        "property {property:?} of {read} (spec.dataFrom[{i}]) is not a valid \
                         Secret key; read it through spec.data with a valid secretKey instead"
                    ),
                ));
            }
            put(property, value, format!("spec.dataFrom[{i}] ({read})"))?;
        }
    }
    for (i, single) in plan.singles.iter().enumerate() {
        let secret = result(results, &single.read)?;
        let Some(value) = secret.data.get(&single.property) else {
            let names: Vec<&str> = secret.data.keys().map(String::as_str).collect();
            return Err(Refusal::new(
                Reason::PathNotFound,
                format!(
                    "{} has no property {} (spec.data[{i}]); it has: {}",
                    single.read,
                    single.property,
                    if names.is_empty() { "nothing".to_owned() } else { names.join(", ") }
                ),
            ));
        };
        put(&single.secret_key, value, format!("spec.data[{i}]"))?;
    }
    Ok(out)
}

/// The read's result; every read of a plan has one.
fn result<'r>(results: &'r ReadResults, read: &Read) -> Result<&'r KvSecret, Refusal> {
    results
        .get(read)
        .map(AsRef::as_ref)
        .ok_or_else(|| Refusal::new(Reason::PathNotFound, format!("{read} was not read")))
}

/// The KV version read of each path, for the status.
pub fn versions(results: &ReadResults) -> Vec<PathVersion> {
    let mut out: Vec<PathVersion> = results
        .iter()
        .map(|(read, secret)| PathVersion { path: read.path.clone(), version: secret.version })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::vaultsecret::plan::plan;
    use crate::crd::{
        RemoteRef, StoreKind, StoreRef, VaultDataFrom, VaultSecretData, VaultSecretSpec,
    };

    fn kv(pairs: &[(&str, &str)], version: Option<u64>) -> Arc<KvSecret> {
        Arc::new(KvSecret {
            data: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
                .collect(),
            version,
        })
    }

    fn spec(data: &[(&str, &str, &str)], from: &[&str]) -> VaultSecretSpec {
        VaultSecretSpec {
            store_ref: StoreRef { kind: StoreKind::SecretStore, name: "vault".into() },
            refresh_interval: None,
            data: data
                .iter()
                .map(|(key, path, property)| VaultSecretData {
                    secret_key: (*key).into(),
                    remote_ref: RemoteRef {
                        path: (*path).into(),
                        property: (*property).into(),
                        version: None,
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

    fn read(path: &str) -> Read {
        Read { path: path.into(), version: None }
    }

    fn text(data: &BTreeMap<String, SecretValue>, key: &str) -> String {
        String::from_utf8(data[key].to_vec()).unwrap()
    }

    #[test]
    fn data_takes_one_property_and_data_from_takes_all() {
        let p = plan(&spec(&[("password", "app/db", "password")], &["app/common"])).unwrap();
        let results: ReadResults = [
            (read("app/db"), kv(&[("password", "hunter2"), ("user", "admin")], Some(3))),
            (read("app/common"), kv(&[("host", "db.local"), ("port", "5432")], Some(1))),
        ]
        .into();
        let data = secret_data(&p, &results).unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["host", "password", "port"]);
        assert_eq!(text(&data, "password"), "hunter2");
        assert_eq!(text(&data, "port"), "5432");
        assert_eq!(
            versions(&results),
            [
                PathVersion { path: "app/common".into(), version: Some(1) },
                PathVersion { path: "app/db".into(), version: Some(3) },
            ]
        );
    }

    #[test]
    fn a_missing_property_is_path_not_found_naming_path_and_property() {
        let p = plan(&spec(&[("password", "app/db", "pasword")], &[])).unwrap();
        let results: ReadResults = [(read("app/db"), kv(&[("password", "hunter2")], None))].into();
        let err = secret_data(&p, &results).unwrap_err();
        assert_eq!(err.reason, Reason::PathNotFound);
        assert!(err.message.contains("app/db has no property pasword"), "{}", err.message);
        assert!(err.message.contains("it has: password"), "{}", err.message);
        assert!(!err.message.contains("hunter2"), "no values in messages");
    }

    #[test]
    fn colliding_keys_are_invalid_spec() {
        let p = plan(&spec(&[], &["a", "b"])).unwrap();
        let results: ReadResults =
            [(read("a"), kv(&[("host", "x")], None)), (read("b"), kv(&[("host", "y")], None))]
                .into();
        let err = secret_data(&p, &results).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidSpec);
        assert!(err.message.contains("Secret key host would come from both"), "{}", err.message);
        assert!(err.message.contains("spec.dataFrom[0] (a)") && err.message.contains("(b)"));

        let p = plan(&spec(&[("host", "c", "h")], &["a"])).unwrap();
        let results: ReadResults =
            [(read("a"), kv(&[("host", "x")], None)), (read("c"), kv(&[("h", "y")], None))].into();
        let err = secret_data(&p, &results).unwrap_err();
        assert!(err.message.contains("spec.data[0]"), "{}", err.message);
    }

    #[test]
    fn a_data_from_property_that_is_no_secret_key_is_invalid_spec() {
        let p = plan(&spec(&[], &["a"])).unwrap();
        let results: ReadResults = [(read("a"), kv(&[("not ok", "x")], None))].into();
        let err = secret_data(&p, &results).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidSpec);
        assert!(err.message.contains("\"not ok\" of a"), "{}", err.message);
    }
}
