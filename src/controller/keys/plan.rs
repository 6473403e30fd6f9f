//! The keyring's pure decisions: which key is newest, whether a new one is due, the
//! recipients text, and the key `Secret` to create. No I/O, no clock.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use zeroize::Zeroizing;

use super::{KEY_DATA, KEY_LABEL, KEY_LABEL_ACTIVE, RECIPIENTS_CONFIGMAP, RECIPIENTS_KEY};
use crate::keys::Keyring;

/// Annotation on a generated key `Secret`: when the controller made it (RFC 3339).
pub const CREATED_ANNOTATION: &str = "sealgate.dev/key-created";

/// One key `Secret` as the loader keeps it: its identity file text (secret, wiped on drop) and
/// when it was created.
pub struct KeyEntry {
    pub created: Option<jiff::Timestamp>,
    pub text: Zeroizing<String>,
}

/// What the key `Secret`s add up to.
pub struct Loaded {
    pub keyring: Keyring,
    /// X25519 recipients, newest key first.
    pub recipients: Vec<String>,
    /// Creation time of the newest key that parsed.
    pub newest: Option<jiff::Timestamp>,
    /// Names of key `Secret`s that did not parse, with the reason (never their content).
    pub skipped: Vec<(String, String)>,
}

/// Names ordered newest first: by creation time, then by name (later names first), so the
/// order is total even for equal timestamps.
pub fn newest_first(entries: &BTreeMap<String, KeyEntry>) -> Vec<&str> {
    let mut names: Vec<&str> = entries.keys().map(String::as_str).collect();
    names.sort_by(|a, b| (entries[*b].created, *b).cmp(&(entries[*a].created, *a)));
    names
}

/// Builds the keyring from every entry, newest first. An entry that does not parse is skipped
/// and reported; the others still load. Origins name the `Secret`, never the key.
pub fn load(namespace: &str, entries: &BTreeMap<String, KeyEntry>) -> Loaded {
    let mut keyring = Keyring::empty();
    let mut newest = None;
    let mut skipped = Vec::new();
    for name in newest_first(entries) {
        let entry = &entries[name];
        let origin = format!("Secret {namespace}/{name}");
        match keyring.add_identity_text(&entry.text, &origin) {
            Ok(()) => {
                if newest.is_none() {
                    newest = Some(entry.created);
                }
            }
            Err(e) => skipped.push((name.to_owned(), e.to_string())),
        }
    }
    let recipients = keyring.x25519_recipients();
    Loaded { keyring, recipients, newest: newest.flatten(), skipped }
}

/// Whether a new key must be made now: there is no usable key, or renewal is on (`period` >
/// 0) and the newest key is at least `period` old (a key without a creation time counts as
/// old). A key dated in the future is not old.
pub fn renewal_due(
    any_key: bool,
    newest: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
    period: Duration,
) -> bool {
    if !any_key {
        return true;
    }
    if period.is_zero() {
        return false;
    }
    let Some(newest) = newest else { return true };
    let age = now.as_second().saturating_sub(newest.as_second());
    age >= 0 && age.unsigned_abs() >= period.as_secs()
}

/// The ConfigMap's `recipients.txt`: one recipient per line, newest first, nothing else, so
/// `--recipients-file` and `age -R` read it as is.
pub fn recipients_text(recipients: &[String]) -> String {
    let mut out = String::new();
    for r in recipients {
        out.push_str(r);
        out.push('\n');
    }
    out
}

/// The name of a key made at `now`: `sealgate-key-YYYYMMDDHHMMSS` (UTC).
pub fn key_secret_name(now: jiff::Timestamp) -> String {
    format!("sealgate-key-{}", now.strftime("%Y%m%d%H%M%S"))
}

/// The JSON body of a new key `Secret`, built into a zeroizing buffer (it holds the identity).
///
/// # Errors
/// Only if serialization fails, which it does not for these types.
pub fn key_secret_body(
    namespace: &str,
    name: &str,
    created: jiff::Timestamp,
    identity_text: &str,
) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body<'a> {
        api_version: &'static str,
        kind: &'static str,
        metadata: serde_json::Value,
        #[serde(rename = "type")]
        type_: &'static str,
        string_data: BTreeMap<&'static str, &'a str>,
    }
    let body = Body {
        api_version: "v1",
        kind: "Secret",
        metadata: serde_json::json!({
            "name": name,
            "namespace": namespace,
            "labels": {
                KEY_LABEL: KEY_LABEL_ACTIVE,
                "app.kubernetes.io/managed-by": "sealgate",
            },
            "annotations": { CREATED_ANNOTATION: created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string() },
        }),
        type_: "Opaque",
        string_data: BTreeMap::from([(KEY_DATA, identity_text)]),
    };
    // Large enough that the writer never reallocates (a reallocation would leave a copy).
    let mut out = Zeroizing::new(Vec::with_capacity(2048 + identity_text.len() * 2));
    serde_json::to_writer(&mut *out, &body)?;
    Ok(out)
}

/// The server-side apply body of the recipients ConfigMap.
pub fn recipients_configmap(namespace: &str, recipients: &[String]) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": RECIPIENTS_CONFIGMAP,
            "namespace": namespace,
            "labels": { "app.kubernetes.io/managed-by": "sealgate" },
        },
        "data": { RECIPIENTS_KEY: recipients_text(recipients) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE_KEYS: &str = include_str!("../../../tests/fixtures/sops/keys.txt");
    const FIXTURE_RECIPIENT: &str =
        "age1lw9hd9zvd5cfsxx5mf8u0ulcs2w746827ylyj7th78yzdd0l29ssjdhuz0";

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn entry(created: Option<&str>, text: &str) -> KeyEntry {
        KeyEntry { created: created.map(ts), text: Zeroizing::new(text.to_owned()) }
    }

    #[test]
    fn newest_is_by_creation_time_then_name() {
        let entries = BTreeMap::from([
            ("b".to_owned(), entry(Some("2026-01-01T00:00:00Z"), "")),
            ("a".to_owned(), entry(Some("2026-03-01T00:00:00Z"), "")),
            ("c".to_owned(), entry(Some("2026-01-01T00:00:00Z"), "")),
            ("z".to_owned(), entry(None, "")),
        ]);
        assert_eq!(newest_first(&entries), ["a", "c", "b", "z"]);
    }

    #[test]
    fn a_broken_key_is_skipped_by_name_and_the_rest_load() {
        let (generated, recipient) =
            crate::keys::generate_identity_file(crate::format::timestamp::Timestamp::now_utc());
        let entries = BTreeMap::from([
            ("old".to_owned(), entry(Some("2026-01-01T00:00:00Z"), FIXTURE_KEYS)),
            ("new".to_owned(), entry(Some("2026-02-01T00:00:00Z"), &generated)),
            ("broken".to_owned(), entry(Some("2026-03-01T00:00:00Z"), "AGE-SECRET-KEY-1NOPE\n")),
        ]);
        let loaded = load("sealgate-system", &entries);
        assert_eq!(loaded.keyring.identity_count(), 2);
        assert_eq!(loaded.recipients, [recipient.as_str(), FIXTURE_RECIPIENT]);
        assert_eq!(loaded.newest, Some(ts("2026-02-01T00:00:00Z")));
        assert_eq!(loaded.skipped.len(), 1);
        assert_eq!(loaded.skipped[0].0, "broken");
        assert!(
            loaded.skipped[0].1.contains("Secret sealgate-system/broken"),
            "{:?}",
            loaded.skipped
        );
        assert!(!loaded.skipped[0].1.contains("NOPE"), "the key text leaked: {:?}", loaded.skipped);
        let origins = loaded.keyring.identity_origins();
        assert!(origins[0].starts_with("Secret sealgate-system/new"), "{origins:?}");
    }

    #[test]
    fn renewal_is_due_without_keys_or_after_the_period() {
        let day = Duration::from_secs(86_400);
        let t0 = ts("2026-01-01T00:00:00Z");
        let now = ts("2026-01-31T00:00:00Z");
        assert!(renewal_due(false, None, now, Duration::ZERO), "no key: always make one");
        assert!(renewal_due(false, None, now, 30 * day));
        assert!(renewal_due(true, Some(t0), now, 30 * day), "exactly 30 days old");
        assert!(!renewal_due(true, Some(t0), now, 31 * day));
        assert!(!renewal_due(true, Some(t0), now, Duration::ZERO), "0 never renews");
        assert!(!renewal_due(true, Some(now), t0, day), "a key from the future is not old");
        assert!(renewal_due(true, None, now, day), "no creation time counts as old");
    }

    #[test]
    fn recipients_text_is_one_per_line_and_nothing_else() {
        let text = recipients_text(&["age1new".to_owned(), "age1old".to_owned()]);
        assert_eq!(text, "age1new\nage1old\n");
        assert_eq!(recipients_text(&[]), "");
    }

    #[test]
    fn the_key_secret_is_labelled_opaque_and_holds_the_identity_file() {
        let now = ts("2026-12-02T12:48:21.5Z");
        let name = key_secret_name(now);
        assert_eq!(name, "sealgate-key-20261202124821");
        let body = key_secret_body("sealgate-system", &name, now, FIXTURE_KEYS).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["type"], "Opaque");
        assert_eq!(v["metadata"]["name"], name);
        assert_eq!(v["metadata"]["namespace"], "sealgate-system");
        assert_eq!(v["metadata"]["labels"][KEY_LABEL], KEY_LABEL_ACTIVE);
        assert_eq!(v["metadata"]["annotations"][CREATED_ANNOTATION], "2026-12-02T12:48:21Z");
        assert_eq!(v["stringData"][KEY_DATA], FIXTURE_KEYS);
    }

    #[test]
    fn the_configmap_publishes_recipients_newest_first() {
        let v = recipients_configmap("ns", &["age1b".to_owned(), "age1a".to_owned()]);
        assert_eq!(v["metadata"]["name"], "sealgate-recipients");
        assert_eq!(v["metadata"]["namespace"], "ns");
        assert_eq!(v["data"]["recipients.txt"], "age1b\nage1a\n");
    }
}
