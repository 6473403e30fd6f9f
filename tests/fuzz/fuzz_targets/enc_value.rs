//! The `ENC[AES256_GCM,…]` value parser: what parses re-serialises to the same string (the
//! parse is strict and canonical), and decrypting it with a fixed key fails cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::format::cipher::{self, DataKey, EncValue};
use sealgate::format::scalar::{Scalar, ValueType};
use zeroize::Zeroizing;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = EncValue::is_encrypted(text);
    if let Ok(value) = EncValue::parse(text) {
        assert_eq!(value.to_string_form(), text, "a strictly parsed value re-serialises as read");
        let key = DataKey::from_slice(&[7u8; 32]).expect("32 bytes");
        let _ = cipher::decrypt(&key, &value, b"a:");
        let _ = cipher::iv_of(&value);
    }
    // Decrypted plaintexts are untrusted too: every type's reader must fail cleanly.
    for ty in [ValueType::Int, ValueType::Float, ValueType::Bool, ValueType::Time] {
        if let Ok(scalar) = Scalar::from_plaintext(ty, Zeroizing::new(data.to_vec())) {
            let canonical = scalar.canonical_bytes();
            let again = Scalar::from_plaintext(ty, canonical.clone())
                .expect("the canonical form of a parsed value parses");
            assert_eq!(again.canonical_bytes(), canonical, "canonical form is stable");
        }
    }
});
