//! The SOPS MAC: SHA-512 over the canonical bytes of the leaves, uppercase hex, stored encrypted
//! under the data key with the re-formatted `lastmodified` as associated data.

use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::cipher::{self, CipherError, DataKey, EncValue};
use super::scalar::ValueType;

/// Accumulates the MAC input in walk order.
pub struct MacHasher(Sha512);

/// Why the MAC did not verify. The three cases sops distinguishes (all exit 51).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    #[error("MAC mismatch: the file has no MAC (it was removed, or the file was never finished)")]
    Missing,
    #[error(
        "cannot decrypt the MAC: `lastmodified` or the MAC was changed, or the MAC belongs to another file"
    )]
    Undecryptable,
    #[error(
        "MAC mismatch: the file's values were changed, removed, added or reordered since it was encrypted"
    )]
    Mismatch,
}

impl MacHasher {
    /// With `mac_only_encrypted`, the hash is first fed SHA-256("sops") so the two modes never
    /// produce the same MAC.
    pub fn new(mac_only_encrypted: bool) -> Self {
        let mut h = Sha512::new();
        if mac_only_encrypted {
            h.update(Sha256::digest(b"sops"));
        }
        MacHasher(h)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The 128-character uppercase hex digest.
    pub fn finish(self) -> String {
        hex::encode_upper(self.0.finalize())
    }
}

/// Encrypts a MAC for storage in `sops.mac`.
pub fn seal(key: &DataKey, mac_hex: &str, aad: &str) -> String {
    cipher::encrypt(key, mac_hex.as_bytes(), aad.as_bytes(), ValueType::Str, cipher::random_iv())
}

/// Checks the stored, encrypted MAC against the one computed while decrypting.
pub fn verify(
    key: &DataKey,
    stored: Option<&str>,
    computed: &str,
    aad: &str,
) -> Result<(), MacError> {
    let stored = stored.ok_or(MacError::Missing)?;
    let value = EncValue::parse(stored).map_err(|_| MacError::Undecryptable)?;
    // sops reads the MAC back as its declared type and refuses anything but a string
    // ("Unknown datatype", or the hex failing to parse as a number): the tag is not
    // authenticated, so a changed tag must not slip through here either.
    if value.type_tag != ValueType::Str.as_str() {
        return Err(MacError::Undecryptable);
    }
    let plain = cipher::decrypt(key, &value, aad.as_bytes()).map_err(|e| match e {
        CipherError::Malformed | CipherError::Authentication | CipherError::IvLength(_) => {
            MacError::Undecryptable
        }
    })?;
    if plain.as_slice().ct_eq(computed.as_bytes()).into() {
        Ok(())
    } else {
        Err(MacError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_only_encrypted_prefix_changes_the_digest() {
        let mut a = MacHasher::new(false);
        let mut b = MacHasher::new(true);
        a.update(b"x");
        b.update(b"x");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn digest_is_uppercase_hex_of_sha512() {
        let h = MacHasher::new(false).finish();
        assert_eq!(h.len(), 128);
        assert!(h.starts_with("CF83E1357EEFB8BD"), "SHA-512 of nothing: {h}");
    }

    #[test]
    fn verify_distinguishes_missing_wrong_aad_and_mismatch() {
        let key = DataKey::generate();
        let sealed = seal(&key, "ABC", "2026-01-01T00:00:00Z");
        assert_eq!(verify(&key, Some(&sealed), "ABC", "2026-01-01T00:00:00Z"), Ok(()));
        assert_eq!(verify(&key, None, "ABC", "t"), Err(MacError::Missing));
        assert_eq!(
            verify(&key, Some(&sealed), "ABC", "2026-01-01T00:00:01Z"),
            Err(MacError::Undecryptable)
        );
        assert_eq!(
            verify(&key, Some(&sealed), "ABD", "2026-01-01T00:00:00Z"),
            Err(MacError::Mismatch)
        );
    }

    #[test]
    fn rejects_a_mac_whose_type_tag_is_not_str() {
        let key = DataKey::generate();
        let sealed = seal(&key, "ABC", "t");
        for tag in ["Atr", "int", "float", "comment", "bytes"] {
            let changed = sealed.replace(",type:str]", &format!(",type:{tag}]"));
            assert_eq!(verify(&key, Some(&changed), "ABC", "t"), Err(MacError::Undecryptable));
        }
    }
}
