//! Input decoding as go-yaml's reader does it: BOM, UTF-8/UTF-16, no control characters.

use std::borrow::Cow;

use super::YamlError;

/// The input as UTF-8 without a byte order mark (borrowed unless it was UTF-16). The scanner
/// reads past the end as NUL, go-yaml's end-of-input marker.
pub(super) fn decode(input: &[u8]) -> Result<Cow<'_, [u8]>, YamlError> {
    let text = match input {
        [0xFF, 0xFE, rest @ ..] => Cow::Owned(utf16(rest, u16::from_le_bytes)?),
        [0xFE, 0xFF, rest @ ..] => Cow::Owned(utf16(rest, u16::from_be_bytes)?),
        [0xEF, 0xBB, 0xBF, rest @ ..] => Cow::Borrowed(utf8(rest)?),
        _ => Cow::Borrowed(utf8(input)?),
    };
    check_characters(&text)?;
    Ok(text)
}

fn utf8(bytes: &[u8]) -> Result<&[u8], YamlError> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(bytes),
        Err(e) => {
            let (line, column) = position(&bytes[..e.valid_up_to()]);
            Err(YamlError {
                line,
                column,
                message: "the input is not valid UTF-8 (YAML files must be UTF-8 or UTF-16 text)"
                    .into(),
            })
        }
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<Vec<u8>, YamlError> {
    let units = bytes.chunks(2).map(|c| match c {
        [a, b] => Ok(unit([*a, *b])),
        _ => Err(()),
    });
    let mut out = String::with_capacity(bytes.len());
    let mut pending = Vec::new();
    for u in units {
        match u {
            Ok(u) => pending.push(u),
            Err(()) => return Err(utf16_error(&out)),
        }
    }
    for c in char::decode_utf16(pending) {
        match c {
            Ok(c) => out.push(c),
            Err(_) => return Err(utf16_error(&out)),
        }
    }
    Ok(out.into_bytes())
}

fn utf16_error(decoded: &str) -> YamlError {
    let (line, column) = position(decoded.as_bytes());
    YamlError { line, column, message: "the input is not valid UTF-16".into() }
}

/// go-yaml accepts TAB, LF, CR, printable ASCII, NEL and everything from U+00A0 except
/// surrogates and U+FFFE/U+FFFF.
fn check_characters(text: &[u8]) -> Result<(), YamlError> {
    // Fast path: printable ASCII, tabs and line breaks.
    if text.iter().all(|&b| (0x20..0x7F).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r')) {
        return Ok(());
    }
    let s = std::str::from_utf8(text).map_err(|_| YamlError {
        line: 1,
        column: 1,
        message: "the input is not valid UTF-8".into(),
    })?;
    for (i, c) in s.char_indices() {
        let ok = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{85}')
            || ('\u{A0}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}';
        if !ok {
            let (line, column) = position(&text[..i]);
            return Err(YamlError {
                line,
                column,
                message: "control characters are not allowed in YAML (escape them in a \
                          double-quoted string)"
                    .into(),
            });
        }
    }
    Ok(())
}

/// The 1-based line and column just after `prefix`.
fn position(prefix: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
