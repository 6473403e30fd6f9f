//! `.sops.yaml`: arbitrary YAML through `Config::from_tree`, then rule lookup for a few paths.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sealgate::config::Config;
use sealgate::format::store::yaml;

fuzz_target!(|data: &[u8]| {
    let Ok(docs) = yaml::parse(data) else { return };
    let Some(doc) = docs.first() else { return };
    let Ok(config) = Config::from_tree(doc, Path::new("/repo/.sops.yaml")) else { return };
    for file in ["/repo/secrets/a.enc.yaml", "/elsewhere/b.json", "/repo/.env", "/repo/x"] {
        let _ = config.rule_for(Path::new("/repo"), Path::new(file));
    }
});
