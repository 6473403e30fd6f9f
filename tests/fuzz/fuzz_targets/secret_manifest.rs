//! Kubernetes Secret manifests: arbitrary YAML through `SecretManifest::from_documents`; a
//! manifest that reads validates, and writing it as a document and reading that back gives
//! the same document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::format::store::{self, Format};
use sealgate::seal::SecretManifest;

fuzz_target!(|data: &[u8]| {
    let Ok(docs) = store::parse_plain(Format::Yaml, data) else { return };
    for namespace in [None, Some("default")] {
        let Ok((secrets, _warnings)) = SecretManifest::from_documents(&docs, namespace) else {
            continue;
        };
        for secret in secrets {
            let _ = secret.validate();
            let _ = secret.describe();
            let doc = secret.to_document();
            let (again, _) = SecretManifest::from_document(&doc, namespace)
                .expect("a manifest written as a document reads back");
            assert_eq!(again.to_document(), doc, "manifest → document → manifest changed it");
        }
    }
});
