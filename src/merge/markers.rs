//! Git conflict markers: two versions of a text written as one, with `<<<<<<< ours`,
//! `=======` and `>>>>>>> theirs` around the lines that differ, and such a text split back into
//! its two versions.
//!
//! Both directions work on bytes and return zeroizing buffers: `sealgate edit` runs them on
//! plaintext.

use zeroize::Zeroizing;

use super::lines::{self, Op};

/// Git's default conflict-marker size (`%L`).
pub const DEFAULT_MARKER_SIZE: usize = 7;
pub const OURS_LABEL: &str = "ours";
pub const THEIRS_LABEL: &str = "theirs";

/// A text with conflict blocks.
pub struct Joined {
    pub text: Zeroizing<Vec<u8>>,
    /// How many conflict blocks it holds.
    pub blocks: usize,
}

/// The two versions of a text with conflict blocks.
pub struct Sides {
    pub ours: Zeroizing<Vec<u8>>,
    pub theirs: Zeroizing<Vec<u8>>,
    pub blocks: usize,
}

/// A conflict block that does not close properly. Lines are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkerError {
    #[error("line {line}: a conflict marker `{marker}` where none was expected")]
    Unexpected { line: usize, marker: &'static str },
    #[error("the conflict block opened on line {line} is not closed")]
    Unclosed { line: usize },
}

/// Writes `ours` and `theirs` as one text: lines common to both once, every run of lines that
/// differs between the markers (ours first). Marker sizes below 7 are raised to 7.
pub fn join(ours: &[u8], theirs: &[u8], marker_size: usize) -> Joined {
    let size = marker_size.max(DEFAULT_MARKER_SIZE);
    let (a, b) = (lines::split_lines(ours), lines::split_lines(theirs));
    let ops = lines::diff(&a, &b);
    // Reserve everything up front so the plaintext is never left behind by a reallocation.
    let mut out = Zeroizing::new(Vec::with_capacity(ours.len() + theirs.len() + 64));
    let (mut dels, mut ins): (Vec<&[u8]>, Vec<&[u8]>) = (Vec::new(), Vec::new());
    let mut blocks = 0;
    let mut flush = |out: &mut Vec<u8>, dels: &mut Vec<&[u8]>, ins: &mut Vec<&[u8]>| {
        if dels.is_empty() && ins.is_empty() {
            return;
        }
        blocks += 1;
        out.reserve(3 * (size + 8) + 2);
        marker_line(out, b'<', size, OURS_LABEL);
        push_lines(out, dels);
        marker_line(out, b'=', size, "");
        push_lines(out, ins);
        marker_line(out, b'>', size, THEIRS_LABEL);
        dels.clear();
        ins.clear();
    };
    for op in ops {
        match op {
            Op::Equal(x, _) => {
                flush(&mut out, &mut dels, &mut ins);
                out.extend_from_slice(a[x]);
            }
            Op::Delete(x) => dels.push(a[x]),
            Op::Insert(y) => ins.push(b[y]),
        }
    }
    flush(&mut out, &mut dels, &mut ins);
    Joined { text: out, blocks }
}

fn marker_line(out: &mut Vec<u8>, ch: u8, size: usize, label: &str) {
    out.extend(std::iter::repeat_n(ch, size));
    if !label.is_empty() {
        out.push(b' ');
        out.extend_from_slice(label.as_bytes());
    }
    out.push(b'\n');
}

/// Lines inside a block end with a newline, so the closing marker starts its own line.
fn push_lines(out: &mut Vec<u8>, lines: &[&[u8]]) {
    for l in lines {
        out.extend_from_slice(l);
        if !l.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
}

/// The marker size when `line` is a conflict marker made of `ch` (at least 7 of them, then a
/// space or the end of the line).
fn marker(line: &[u8], ch: u8) -> Option<usize> {
    let n = line.iter().take_while(|&&b| b == ch).count();
    let rest = &line[n..];
    let ends = rest.is_empty() || matches!(rest[0], b' ' | b'\n' | b'\r' | b'\t');
    (n >= DEFAULT_MARKER_SIZE && ends).then_some(n)
}

/// True when some line opens a conflict block.
pub fn has_markers(text: &[u8]) -> bool {
    lines::split_lines(text).iter().any(|l| marker(l, b'<').is_some())
}

/// True when some line is any conflict marker (opening, separator, base or closing): what an
/// edited resolution must no longer contain.
pub fn has_any_marker(text: &[u8]) -> bool {
    lines::split_lines(text).iter().any(|l| b"<=>|".iter().any(|&c| marker(l, c).is_some()))
}

/// Splits a text with conflict blocks into ours' and theirs' versions. A diff3 base section
/// (`|||||||`) is dropped. Markers must nest properly and keep the opening marker's size.
///
/// # Errors
/// A separator or closing marker outside a block, a second opening inside one, or a block
/// still open at the end.
pub fn split(text: &[u8]) -> Result<Sides, MarkerError> {
    enum State {
        Out,
        Ours(usize, usize),
        Base(usize, usize),
        Theirs(usize, usize),
    }
    let mut ours = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut theirs = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut state = State::Out;
    let mut blocks = 0;
    for (i, line) in lines::split_lines(text).into_iter().enumerate() {
        let no = i + 1;
        let is = |ch: u8, size: usize| marker(line, ch) == Some(size);
        state = match state {
            State::Out => {
                if let Some(size) = marker(line, b'<') {
                    blocks += 1;
                    State::Ours(no, size)
                } else if let Some(m) = [b'=', b'>', b'|'].into_iter().find_map(|c| {
                    marker(line, c).map(|_| match c {
                        b'=' => "=======",
                        b'>' => ">>>>>>>",
                        _ => "|||||||",
                    })
                }) {
                    return Err(MarkerError::Unexpected { line: no, marker: m });
                } else {
                    ours.extend_from_slice(line);
                    theirs.extend_from_slice(line);
                    State::Out
                }
            }
            State::Ours(open, size) | State::Base(open, size) if is(b'=', size) => {
                State::Theirs(open, size)
            }
            State::Ours(open, size) if is(b'|', size) => State::Base(open, size),
            State::Theirs(_, size) if is(b'>', size) => State::Out,
            State::Ours(..) | State::Base(..) | State::Theirs(..)
                if marker(line, b'<').is_some() =>
            {
                return Err(MarkerError::Unexpected { line: no, marker: "<<<<<<<" });
            }
            State::Ours(..) | State::Theirs(..) if marker(line, b'>').is_some() => {
                return Err(MarkerError::Unexpected { line: no, marker: ">>>>>>>" });
            }
            State::Ours(open, size) => {
                ours.extend_from_slice(line);
                State::Ours(open, size)
            }
            State::Base(open, size) => State::Base(open, size),
            State::Theirs(open, size) => {
                theirs.extend_from_slice(line);
                State::Theirs(open, size)
            }
        };
    }
    match state {
        State::Out => Ok(Sides { ours, theirs, blocks }),
        State::Ours(open, _) | State::Base(open, _) | State::Theirs(open, _) => {
            Err(MarkerError::Unclosed { line: open })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(a: &str, b: &str) -> (String, usize) {
        let j = join(a.as_bytes(), b.as_bytes(), DEFAULT_MARKER_SIZE);
        (String::from_utf8(j.text.to_vec()).unwrap(), j.blocks)
    }

    #[test]
    fn identical_texts_have_no_blocks() {
        assert_eq!(joined("a\nb\n", "a\nb\n"), ("a\nb\n".to_owned(), 0));
    }

    #[test]
    fn only_differing_lines_are_between_markers() {
        let (text, blocks) = joined("a: 1\nb: ours\nc: 3\nd: 4\n", "a: 1\nb: theirs\nc: 3\nd: 5\n");
        assert_eq!(blocks, 2);
        assert_eq!(
            text,
            "a: 1\n<<<<<<< ours\nb: ours\n=======\nb: theirs\n>>>>>>> theirs\nc: 3\n\
             <<<<<<< ours\nd: 4\n=======\nd: 5\n>>>>>>> theirs\n"
        );
    }

    #[test]
    fn one_sided_blocks_and_marker_size() {
        let j = join(b"a\nb\n", b"a\nnew\nb\n", 9);
        assert_eq!(
            std::str::from_utf8(&j.text).unwrap(),
            "a\n<<<<<<<<< ours\n=========\nnew\n>>>>>>>>> theirs\nb\n"
        );
        let s = split(&j.text).unwrap();
        assert_eq!(
            (s.ours.as_slice(), s.theirs.as_slice(), s.blocks),
            (&b"a\nb\n"[..], &b"a\nnew\nb\n"[..], 1)
        );
    }

    #[test]
    fn split_inverts_join() {
        let cases = [
            ("x\ny\nz\n", "x\nY\nz\n"),
            ("{\n  \"a\": 1,\n  \"b\": 2\n}\n", "{\n  \"a\": 1\n}\n"),
            ("", "only theirs\n"),
            ("first\n", "second\n"),
        ];
        for (a, b) in cases {
            let j = join(a.as_bytes(), b.as_bytes(), 7);
            assert!(has_markers(&j.text) || a == b);
            let s = split(&j.text).unwrap();
            assert_eq!(s.ours.as_slice(), a.as_bytes());
            assert_eq!(s.theirs.as_slice(), b.as_bytes());
        }
    }

    #[test]
    fn split_drops_a_diff3_base_section() {
        let text = b"a\n<<<<<<< ours\nO\n||||||| base\nB\n=======\nT\n>>>>>>> theirs\nz\n";
        let s = split(text).unwrap();
        assert_eq!(s.ours.as_slice(), b"a\nO\nz\n");
        assert_eq!(s.theirs.as_slice(), b"a\nT\nz\n");
    }

    #[test]
    fn split_rejects_broken_blocks() {
        assert_eq!(split(b"a\n<<<<<<< ours\nb\n").err(), Some(MarkerError::Unclosed { line: 2 }));
        assert_eq!(
            split(b"a\n=======\nb\n").err(),
            Some(MarkerError::Unexpected { line: 2, marker: "=======" })
        );
        assert_eq!(
            split(b"<<<<<<< ours\n<<<<<<< ours\n").err(),
            Some(MarkerError::Unexpected { line: 2, marker: "<<<<<<<" })
        );
        assert_eq!(
            split(b"<<<<<<< ours\na\n>>>>>>> theirs\n").err(),
            Some(MarkerError::Unexpected { line: 3, marker: ">>>>>>>" })
        );
    }

    #[test]
    fn marker_detection_needs_seven_and_a_boundary() {
        assert!(has_markers(b"x\n<<<<<<< ours\n"));
        assert!(has_markers(b"<<<<<<<\n"));
        assert!(!has_markers(b"<<<<<< six\n"));
        assert!(!has_markers(b"<<<<<<<x\n"));
        assert!(!has_markers(b"  <<<<<<< indented\n"));
        assert!(has_any_marker(b"a\n=======\n"));
        assert!(!has_any_marker(b"a: =======\n"));
    }
}
