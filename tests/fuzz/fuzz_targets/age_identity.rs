//! Key material and key references from untrusted text: age identity files, age recipient
//! lists, Vault transit URIs, and the binding and scope strings of sealed Secrets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::keys::{AgeRecipient, Keyring, VaultTransitUri};
use sealgate::seal::{Binding, Scope};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(keyring) = Keyring::from_identity_text(&text, "fuzz") {
        // Every line that is not a comment or blank is an identity, so the count is bounded.
        assert!(keyring.identity_count() <= text.lines().count());
        let _ = keyring.x25519_recipients();
    }
    if let Ok(recipients) = AgeRecipient::parse_list(&text) {
        for r in recipients {
            let again = AgeRecipient::parse(r.as_str()).expect("a parsed recipient re-parses");
            assert_eq!(again.as_str(), r.as_str());
        }
    }
    let _ = VaultTransitUri::parse_list(&text);
    let _ = Binding::parse(&text);
    let _ = Scope::parse(&text);
});
