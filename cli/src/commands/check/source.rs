//! One file being checked: its path as shown in findings and the position finder over its text.

use sealgate::format::store::Format;

use super::locate::Located;

/// A YAML or JSON file read for checking.
pub struct Source<'t> {
    /// The path as shown in findings.
    pub display: String,
    pub located: Located<'t>,
}

impl<'t> Source<'t> {
    pub fn new(display: &str, format: Format, text: &'t str) -> Source<'t> {
        Source { display: display.to_owned(), located: Located::new(format, text) }
    }
}
