//! Keyed fingerprints of secret data: tell "changed" from "unchanged" without a plain hash.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Domain separation: a fingerprint key is never used for anything else.
const DOMAIN: &[u8] = b"sealgate audit fingerprint v1\0";
/// The shortest installation key accepted.
pub const MIN_KEY_LEN: usize = 32;

/// `hmac-sha256:<64 hex>` of a `Secret`'s data under the installation's fingerprint key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The installation key was unusable.
#[derive(Debug, thiserror::Error)]
#[error("the audit fingerprint key is {len} bytes; it must be at least {MIN_KEY_LEN} random bytes")]
pub struct FingerprintKeyError {
    len: usize,
}

/// Computes fingerprints with the per-installation HMAC key (held in a `Secret`, wiped on drop).
pub struct Fingerprinter {
    key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprinter([REDACTED])")
    }
}

impl Fingerprinter {
    /// Uses `key` (copied into zeroizing memory); at least [`MIN_KEY_LEN`] bytes.
    pub fn new(key: &[u8]) -> Result<Self, FingerprintKeyError> {
        if key.len() < MIN_KEY_LEN {
            return Err(FingerprintKeyError { len: key.len() });
        }
        Ok(Fingerprinter { key: Zeroizing::new(key.to_vec()) })
    }

    /// A new random key for a new installation, to be stored in its `Secret`.
    pub fn generate_key(rng: &mut impl rand::RngCore) -> Zeroizing<[u8; 32]> {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        key
    }

    /// The fingerprint of a key→value map. The encoding is canonical: entries sorted by key,
    /// each key and value length-prefixed (u64 big-endian), so no two maps share an input.
    /// Duplicate keys keep their last value, as in a map.
    pub fn fingerprint<'a, I, K, V>(&self, data: I) -> Fingerprint
    where
        I: IntoIterator<Item = (&'a K, &'a V)>,
        K: AsRef<[u8]> + ?Sized + 'a,
        V: AsRef<[u8]> + ?Sized + 'a,
    {
        let sorted: std::collections::BTreeMap<&[u8], &[u8]> =
            data.into_iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(DOMAIN);
        mac.update(&(sorted.len() as u64).to_be_bytes());
        for (k, v) in sorted {
            mac.update(&(k.len() as u64).to_be_bytes());
            mac.update(k);
            mac.update(&(v.len() as u64).to_be_bytes());
            mac.update(v);
        }
        Fingerprint(format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn fp() -> Fingerprinter {
        Fingerprinter::new(&[7u8; 32]).unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn same_data_same_fingerprint_in_any_order() {
        let a = fp().fingerprint(&map(&[("a", "1"), ("b", "2")]));
        let pairs = [("b", "2"), ("a", "1")];
        let b = fp().fingerprint(pairs.iter().map(|(k, v)| (*k, *v)));
        assert_eq!(a, b);
        assert!(a.as_str().starts_with("hmac-sha256:") && a.as_str().len() == 12 + 64);
    }

    #[test]
    fn changed_value_or_moved_boundary_changes_fingerprint() {
        let base = fp().fingerprint(&map(&[("a", "1"), ("b", "2")]));
        assert_ne!(base, fp().fingerprint(&map(&[("a", "1"), ("b", "3")])));
        assert_ne!(fp().fingerprint(&map(&[("ab", "c")])), fp().fingerprint(&map(&[("a", "bc")])));
    }

    #[test]
    fn different_key_different_fingerprint_and_no_plain_hash() {
        let data = map(&[("password", "hunter2")]);
        let other = Fingerprinter::new(&[8u8; 32]).unwrap();
        assert_ne!(fp().fingerprint(&data), other.fingerprint(&data));
        let plain = hex::encode(<Sha256 as sha2::Digest>::digest(b"hunter2"));
        assert!(!fp().fingerprint(&data).as_str().contains(&plain));
    }

    #[test]
    fn short_key_is_refused_and_debug_redacts() {
        assert!(Fingerprinter::new(&[1u8; 16]).is_err());
        assert_eq!(format!("{:?}", fp()), "Fingerprinter([REDACTED])");
    }
}
