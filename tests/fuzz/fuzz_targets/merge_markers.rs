//! Git conflict markers: split arbitrary text; and for two texts (split at the first NUL) that
//! hold no markers of their own, joining them and splitting the result gives them back (a last
//! line without a newline gains one when it falls inside a conflict block, as with git: the
//! closing marker must start its own line).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealgate::merge::markers;

fuzz_target!(|data: &[u8]| {
    let _ = markers::has_markers(data);
    let _ = markers::has_any_marker(data);
    if let Ok(sides) = markers::split(data) {
        assert!(sides.ours.len() + sides.theirs.len() <= 2 * data.len());
    }
    let Some(nul) = data.iter().position(|&b| b == 0) else { return };
    let (ours, theirs) = (&data[..nul], &data[nul + 1..]);
    if markers::has_any_marker(ours) || markers::has_any_marker(theirs) {
        return;
    }
    let joined = markers::join(ours, theirs, markers::DEFAULT_MARKER_SIZE);
    let sides = markers::split(&joined.text).expect("a joined text splits");
    assert!(same_text(&sides.ours, ours), "ours survives join and split");
    assert!(same_text(&sides.theirs, theirs), "theirs survives join and split");
    assert_eq!(sides.blocks, joined.blocks);
});

/// Equal, or equal but for the newline added to a last line that had none.
fn same_text(got: &[u8], want: &[u8]) -> bool {
    got == want || (!want.ends_with(b"\n") && got.strip_suffix(b"\n") == Some(want))
}
