//! Json store: parse, re-emit and re-parse arbitrary bytes; convert to every other format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::format::store::{self, Format};

fuzz_target!(|data: &[u8]| {
    sealgate_fuzz::plain_round_trip(Format::Json, data);
    let _ = store::has_metadata(Format::Json, data);
});
