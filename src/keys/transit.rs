//! The extension point for Vault/OpenBao transit keys ([`TransitClient`]) and an in-memory
//! implementation that speaks transit's ciphertext format, for tests and offline use.

use std::collections::HashMap;
use std::sync::Mutex;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use zeroize::Zeroizing;

use super::vault_uri::VaultTransitUri;

/// Encrypts and decrypts with a transit key. Implementations talk to a server (the real one
/// lives outside this module); sops's wire format is `POST {address}/v1/{engine}/encrypt/{name}`
/// with `{"plaintext": base64(bytes)}` and the returned `data.ciphertext` stored as is.
///
/// Implementations must not put plaintext, tokens or ciphertext in their errors.
pub trait TransitClient: Send + Sync {
    /// Wraps `plaintext` (the raw data key or Shamir share); returns the `vault:v…:` ciphertext.
    fn encrypt(&self, key: &VaultTransitUri, plaintext: &[u8]) -> Result<String, TransitError>;
    /// Unwraps a `vault:v…:` ciphertext back to the raw bytes.
    fn decrypt(
        &self,
        key: &VaultTransitUri,
        ciphertext: &str,
    ) -> Result<Zeroizing<Vec<u8>>, TransitError>;
}

/// Why a transit call failed. Messages name the key and the failure, never the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitError {
    /// The server could not be reached or answered 5xx/429: worth retrying.
    #[error("Vault transit unavailable: {0}")]
    Unavailable(String),
    /// Authentication or authorisation failed (no token, 403).
    #[error("Vault transit denied the request: {0}")]
    Denied(String),
    /// The key does not exist or the ciphertext was refused (4xx, bad ciphertext).
    #[error("Vault transit rejected the request: {0}")]
    Rejected(String),
}

/// Transit in memory: AES-256-GCM keys (transit's default `aes256-gcm96` type, not derived),
/// ciphertexts `vault:v<version>:` + base64(12-byte nonce ‖ ciphertext ‖ tag), exactly what
/// OpenBao returns. Keys can be imported from `transit/export/encryption-key/<name>`.
#[derive(Default)]
pub struct InMemoryTransit {
    /// Key versions (index 0 = version 1) per key; the newest encrypts.
    keys: Mutex<HashMap<VaultTransitUri, Vec<Zeroizing<[u8; 32]>>>>,
}

impl std::fmt::Debug for InMemoryTransit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = match self.keys.lock() {
            Ok(keys) => keys.keys().map(ToString::to_string).collect(),
            Err(_) => Vec::new(),
        };
        f.debug_struct("InMemoryTransit").field("keys", &names).finish()
    }
}

impl InMemoryTransit {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next version of `key` from raw key bytes (for example an exported key).
    pub fn with_key_version(self, key: &VaultTransitUri, raw: [u8; 32]) -> Self {
        if let Ok(mut keys) = self.keys.lock() {
            keys.entry(key.clone()).or_default().push(Zeroizing::new(raw));
        }
        self
    }

    /// Adds a fresh random version of `key` (as `transit/keys/<name>/rotate` would).
    pub fn with_generated_key(self, key: &VaultTransitUri) -> Self {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        self.with_key_version(key, raw)
    }

    fn key_version(
        &self,
        key: &VaultTransitUri,
        version: Option<usize>,
    ) -> Result<(usize, Zeroizing<[u8; 32]>), TransitError> {
        let keys = self.keys.lock().map_err(|_| TransitError::Unavailable("poisoned".into()))?;
        let versions =
            keys.get(key).ok_or_else(|| TransitError::Rejected(format!("no key {key}")))?;
        let v = version.unwrap_or(versions.len());
        let raw = versions
            .get(v.wrapping_sub(1))
            .ok_or_else(|| TransitError::Rejected(format!("key {key} has no version {v}")))?;
        Ok((v, raw.clone()))
    }
}

impl TransitClient for InMemoryTransit {
    fn encrypt(&self, key: &VaultTransitUri, plaintext: &[u8]) -> Result<String, TransitError> {
        let (version, raw) = self.key_version(key, None)?;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = Aes256Gcm::new((&*raw).into())
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .map_err(|_| TransitError::Rejected("encryption failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!("vault:v{version}:{}", B64.encode(blob)))
    }

    fn decrypt(
        &self,
        key: &VaultTransitUri,
        ciphertext: &str,
    ) -> Result<Zeroizing<Vec<u8>>, TransitError> {
        let malformed = || TransitError::Rejected("invalid ciphertext".into());
        let rest = ciphertext.strip_prefix("vault:v").ok_or_else(malformed)?;
        let (version, b64) = rest.split_once(':').ok_or_else(malformed)?;
        let version: usize = version.parse().map_err(|_| malformed())?;
        let blob = B64.decode(b64).map_err(|_| malformed())?;
        if blob.len() < 12 + 16 {
            return Err(malformed());
        }
        let (_, raw) = self.key_version(key, Some(version))?;
        Aes256Gcm::new((&*raw).into())
            .decrypt(Nonce::from_slice(&blob[..12]), &blob[12..])
            .map(Zeroizing::new)
            .map_err(|_| malformed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_transit() -> (InMemoryTransit, VaultTransitUri) {
        // tests/fixtures/sops/vault/transit-key-export.json: the OpenBao key behind vault.enc.yaml.
        let raw: [u8; 32] =
            B64.decode("CBkoMXHT/4EQVOHG75qscgQT7iIVOiPNR1oHz3JmlFg=").unwrap().try_into().unwrap();
        let uri =
            VaultTransitUri::parse("http://127.0.0.1:18200/v1/transit/keys/sops-fixture").unwrap();
        (InMemoryTransit::new().with_key_version(&uri, raw), uri)
    }

    #[test]
    fn decrypts_what_openbao_wrote_for_the_fixture() {
        let (transit, uri) = fixture_transit();
        // vault.enc.yaml's hc_vault enc and manifest.json data_key_hex.
        let enc = "vault:v1:y2slNe/Kwnxsq/Gnc4kd+qcgI9Nup7m5o1iPqy0NdShqutJa2QsSdbUNBmdS+f6Q7ceTrEMYiNZTcP4J";
        let key = transit.decrypt(&uri, enc).unwrap();
        assert_eq!(
            hex::encode(&*key),
            "8bab21a649f304dea0d63aadfc22e145914bd4d0a04c9844198b3529c3ad5ea4"
        );
    }

    #[test]
    fn round_trips_and_refuses_tampering_and_unknown_keys() {
        let (transit, uri) = fixture_transit();
        let ct = transit.encrypt(&uri, b"0123456789abcdef0123456789abcdef").unwrap();
        assert!(ct.starts_with("vault:v1:"));
        assert_eq!(&*transit.decrypt(&uri, &ct).unwrap(), b"0123456789abcdef0123456789abcdef");
        let mut bad = ct.clone().into_bytes();
        let last = bad.len() - 3;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(matches!(transit.decrypt(&uri, &bad), Err(TransitError::Rejected(_))));
        let other = VaultTransitUri { key_name: "other".into(), ..uri.clone() };
        assert!(matches!(transit.encrypt(&other, b"x"), Err(TransitError::Rejected(_))));
        assert!(matches!(transit.decrypt(&uri, "vault:v9:AAAA"), Err(TransitError::Rejected(_))));
    }

    #[test]
    fn newest_version_encrypts_older_versions_still_decrypt() {
        let (transit, uri) = fixture_transit();
        let old = transit.encrypt(&uri, b"k").unwrap();
        let transit = transit.with_generated_key(&uri);
        let new = transit.encrypt(&uri, b"k").unwrap();
        assert!(new.starts_with("vault:v2:"));
        assert_eq!(&*transit.decrypt(&uri, &old).unwrap(), b"k");
        assert_eq!(&*transit.decrypt(&uri, &new).unwrap(), b"k");
    }
}
