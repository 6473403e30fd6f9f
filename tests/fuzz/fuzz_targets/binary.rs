//! Binary store: any bytes are a plain binary file that writes back unchanged; as an encrypted
//! binary file (JSON with a `sops` entry) they parse or fail cleanly, and what parses writes
//! back to a file that parses to the same documents and metadata.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::format::store::{self, Format};

fuzz_target!(|data: &[u8]| {
    let docs = store::parse_plain(Format::Binary, data).expect("any bytes are a binary file");
    let out = store::emit_plain(Format::Binary, &docs).expect("a binary file writes back");
    assert_eq!(&out[..], data, "the binary store changed the bytes");

    let Ok((docs, metadata)) = store::parse_encrypted(Format::Binary, data) else { return };
    let written = store::emit_encrypted(Format::Binary, &docs, &metadata)
        .expect("a parsed encrypted binary file writes back");
    let (docs2, metadata2) = store::parse_encrypted(Format::Binary, &written)
        .expect("what we wrote parses as an encrypted binary file");
    let rewritten = store::emit_encrypted(Format::Binary, &docs2, &metadata2)
        .expect("the re-parsed file writes back");
    assert_eq!(written, rewritten, "emit(parse(x)) is not a fixpoint");
});
