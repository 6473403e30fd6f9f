//! YAML store: parse, re-emit and re-parse arbitrary bytes; also as an encrypted file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::format::store::{self, Format};

fuzz_target!(|data: &[u8]| {
    sealgate_fuzz::plain_round_trip(Format::Yaml, data);
    let _ = store::has_metadata(Format::Yaml, data);
});
