//! Vault/OpenBao transit key URIs (`https://host:8200/v1/<engine path>/keys/<name>`), split and
//! joined the way sops's `hcvault` key source does it.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::format::metadata::VaultStanza;

/// A transit key: where the server is, which transit mount, which key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VaultTransitUri {
    /// `scheme://host[:port]`, no trailing slash (the stanza's `vault_address`).
    pub address: String,
    /// The transit mount path, e.g. `transit` or `team/transit` (the stanza's `engine_path`).
    pub engine_path: String,
    /// The key's name (the stanza's `key_name`).
    pub key_name: String,
}

/// A transit URI that sops would not accept (or that sealgate refuses as unsafe).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid Vault transit URI {uri:?}: {reason} (expected a URI like https://vault.example.com:8200/v1/transit/keys/keyName)"
)]
pub struct VaultUriError {
    pub uri: String,
    pub reason: &'static str,
}

/// A path with a prefix before the API version, which sops refuses (reverse-proxy setups).
/// (`[0-9]`, not `\d`: Go's `\d` is ASCII-only, the `regex` crate's is Unicode.)
static PREFIXED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"/[^/]+/v[0-9]+/[^/]+/[^/]+/[^/]+").expect("static regex"));
/// The shape sops requires somewhere in the path: `/v<N>/<engine…>/<x>/<name>`.
static WELL_FORMED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"/v[0-9]+/[^/]+/[^/]+/[^/]+").expect("static regex"));

impl VaultTransitUri {
    /// Parses a key URI as sops does: the address is `scheme://authority`; of the path, the
    /// first segment (the API version) is dropped, the last is the key name, the one before it
    /// (normally `keys`) is dropped, and the rest, joined and cleaned, is the engine path.
    ///
    /// Stricter than sops where sops would build a broken key: a query, fragment, user info,
    /// empty host, or a scheme other than `http`/`https` is refused.
    pub fn parse(uri: &str) -> Result<VaultTransitUri, VaultUriError> {
        let err = |reason| VaultUriError { uri: uri.to_owned(), reason };
        if uri.is_empty() {
            return Err(err("the URI is empty"));
        }
        if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("it contains whitespace or control characters"));
        }
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| err("missing scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(err("the scheme must be http or https"));
        }
        if rest.contains(['?', '#']) {
            return Err(err("a query or fragment is not allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(err("the host is empty"));
        }
        if authority.contains('@') {
            return Err(err("credentials in the URI are not supported (use VAULT_TOKEN)"));
        }
        if PREFIXED.is_match(path) {
            return Err(err("running Vault with a prefixed URL is not supported"));
        }
        if !WELL_FORMED.is_match(path) {
            return Err(err("the path does not look like /v1/<engine path>/keys/<key name>"));
        }
        let dirs: Vec<&str> = path.trim_matches('/').split('/').collect();
        // WELL_FORMED guarantees at least four segments.
        let key_name = dirs[dirs.len() - 1].to_owned();
        let engine_path = clean_join(&dirs[1..dirs.len() - 2]);
        if engine_path.is_empty() || engine_path.starts_with("..") {
            return Err(err("the engine path is empty after cleaning"));
        }
        Ok(VaultTransitUri { address: format!("{scheme}://{authority}"), engine_path, key_name })
    }

    /// A comma-separated list as `--hc-vault-transit` takes it (empty pieces are skipped, as
    /// sops's `NewMasterKeysFromURIs` does).
    pub fn parse_list(input: &str) -> Result<Vec<VaultTransitUri>, VaultUriError> {
        input.split(',').filter(|s| !s.is_empty()).map(VaultTransitUri::parse).collect()
    }

    /// The key a stored `hc_vault` entry refers to (fields taken as written, not validated).
    pub fn from_stanza(stanza: &VaultStanza) -> VaultTransitUri {
        VaultTransitUri {
            address: stanza.vault_address.clone(),
            engine_path: stanza.engine_path.clone(),
            key_name: stanza.key_name.clone(),
        }
    }
}

/// Go's `path.Join` of relative segments: empty and `.` segments dropped, `..` pops.
fn clean_join(segments: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in segments.iter().flat_map(|s| s.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                if matches!(out.last(), Some(last) if *last != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

impl fmt::Display for VaultTransitUri {
    /// The URI as sops prints a Vault key: `{address}/v1/{engine_path}/keys/{key_name}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/v1/{}/keys/{}", self.address, self.engine_path, self.key_name)
    }
}

impl std::str::FromStr for VaultTransitUri {
    type Err = VaultUriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VaultTransitUri::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_fixture_uri_like_sops() {
        // fixtures vault/transit.json: the stanza sops wrote for this URI.
        let uri =
            VaultTransitUri::parse("http://127.0.0.1:18200/v1/transit/keys/sops-fixture").unwrap();
        assert_eq!(uri.address, "http://127.0.0.1:18200");
        assert_eq!(uri.engine_path, "transit");
        assert_eq!(uri.key_name, "sops-fixture");
        assert_eq!(uri.to_string(), "http://127.0.0.1:18200/v1/transit/keys/sops-fixture");
    }

    #[test]
    fn nested_engine_paths_and_trailing_slash() {
        let uri =
            VaultTransitUri::parse("https://vault.example.com:8200/v1/team/a/transit/keys/k/")
                .unwrap();
        assert_eq!(uri.address, "https://vault.example.com:8200");
        assert_eq!(uri.engine_path, "team/a/transit");
        assert_eq!(uri.key_name, "k");
        let no_port = VaultTransitUri::parse("HTTPS://vault/v1/transit/keys/k").unwrap();
        assert_eq!(no_port.address, "https://vault");
    }

    #[test]
    fn rejects_a_path_prefix_before_v1() {
        let e = VaultTransitUri::parse("https://v.example/prefix/v1/transit/keys/k").unwrap_err();
        assert!(e.to_string().contains("prefixed URL is not supported"), "{e}");
    }

    #[test]
    fn rejects_malformed_uris() {
        for bad in [
            "",
            "vault.example.com/v1/transit/keys/k",
            "https://v.example/secret/foo/bar",
            "https://v.example/v1/transit/keys",
            "https://v.example/v1/transit/keys/k?x=1",
            "https://user:pw@v.example/v1/transit/keys/k",
            "ftp://v.example/v1/transit/keys/k",
            "https:///v1/transit/keys/k",
            "https://v.example/v1/transit/keys/k name",
            "https://v.example/v1/a//b/keys/k",
        ] {
            assert!(VaultTransitUri::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn uri_lists_skip_empty_pieces() {
        let list = VaultTransitUri::parse_list("https://a/v1/t/keys/x,,https://b/v1/t/keys/y,");
        assert_eq!(list.unwrap().len(), 2);
        assert!(VaultTransitUri::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn cleans_the_engine_path_like_go_path_join() {
        assert_eq!(clean_join(&["a", ".", "b", "..", "c"]), "a/c");
        let uri = VaultTransitUri::parse("https://v/v1/a/./b/keys/k").unwrap();
        assert_eq!(uri.engine_path, "a/b");
    }
}
