//! Finding where a key path sits in a file's text: the tree model keeps no positions, so the
//! line and column of a key are found again in the text (block YAML and JSON).

use sealgate::format::store::Format;

/// One step of a key path: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// The text of one file split for lookups: its lines and, for YAML, the line ranges of the
/// documents that have content.
pub struct Located<'t> {
    format: Format,
    text: &'t str,
    lines: Vec<&'t str>,
    /// YAML: `[start, end)` line indices of each document with content.
    docs: Vec<(usize, usize)>,
}

impl<'t> Located<'t> {
    pub fn new(format: Format, text: &'t str) -> Located<'t> {
        let lines: Vec<&str> = text.lines().collect();
        let docs = if format == Format::Yaml { yaml_documents(&lines) } else { vec![] };
        Located { format, text, lines, docs }
    }

    /// The position of the last step of `path` in document `doc` (counting only documents
    /// with content), or of the deepest step found; the document's first line when nothing is.
    pub fn find(&self, doc: usize, path: &[Step]) -> Pos {
        match self.format {
            Format::Json => self.find_json(path),
            _ => self.find_yaml(doc, path),
        }
    }

    fn find_yaml(&self, doc: usize, path: &[Step]) -> Pos {
        let Some(&(start, end)) = self.docs.get(doc) else { return Pos::START };
        let mut found = Pos { line: start + 1, column: 1 };
        // The block being searched: lines [lo, end) deeper than `parent`.
        let mut lo = start;
        let mut parent: isize = -1;
        for step in path {
            let hit = match step {
                Step::Key(key) => self.yaml_key(lo, end, parent, key),
                Step::Index(n) => self.yaml_item(lo, end, parent, *n),
            };
            let Some((line, col)) = hit else { break };
            found = Pos { line: line + 1, column: col + 1 };
            lo = line + 1;
            parent = col as isize;
            if let Step::Index(_) = step {
                // An item's own first key sits on the dash line: search it again.
                lo = line;
            }
        }
        found
    }

    /// The lines of the block that starts at `lo` and holds lines indented deeper than `parent`.
    fn block(&self, lo: usize, end: usize, parent: isize) -> impl Iterator<Item = (usize, &str)> {
        let mut first = true;
        self.lines[lo.min(end)..end].iter().enumerate().map(move |(i, l)| (lo + i, *l)).take_while(
            move |(_, l)| {
                let t = l.trim_start();
                let keep =
                    first || t.is_empty() || t.starts_with('#') || indent(l) as isize > parent;
                first = false;
                keep
            },
        )
    }

    fn yaml_key(&self, lo: usize, end: usize, parent: isize, key: &str) -> Option<(usize, usize)> {
        self.block(lo, end, parent).find_map(|(i, line)| {
            let mut col = indent(line);
            let mut rest = &line[col..];
            // `- key:` puts a map key after a list dash.
            while let Some(after) = rest.strip_prefix("- ") {
                let skip = rest.len() - after.trim_start().len();
                col += skip;
                rest = &rest[skip..];
            }
            (col as isize > parent && key_matches(rest, key)).then(|| (i, char_col(line, col)))
        })
    }

    fn yaml_item(&self, lo: usize, end: usize, parent: isize, n: usize) -> Option<(usize, usize)> {
        let mut dash_indent = None;
        self.block(lo, end, parent)
            .filter(|(_, l)| {
                let t = l.trim_start();
                (t == "-" || t.starts_with("- ")) && indent(l) as isize >= parent
            })
            .filter(|(_, l)| *dash_indent.get_or_insert(indent(l)) == indent(l))
            .nth(n)
            .map(|(i, l)| (i, char_col(l, indent(l))))
    }

    fn find_json(&self, path: &[Step]) -> Pos {
        let mut offset = 0;
        let mut found = None;
        for step in path {
            let Step::Key(key) = step else { continue };
            let Ok(quoted) = serde_json::to_string(key) else { break };
            let mut from = offset;
            let hit = loop {
                let Some(rel) = self.text[from..].find(&quoted) else { break None };
                let at = from + rel;
                let after = self.text[at + quoted.len()..].trim_start();
                if after.starts_with(':') {
                    break Some(at);
                }
                from = at + quoted.len();
            };
            let Some(at) = hit else { break };
            found = Some(at);
            offset = at + quoted.len();
        }
        found.map_or(Pos::START, |at| offset_pos(self.text, at))
    }
}

/// The `[start, end)` line ranges of YAML documents with content (not only comments).
fn yaml_documents(lines: &[&str]) -> Vec<(usize, usize)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let is_content = |l: &&str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && !t.starts_with('%')
    };
    let push = |s: usize, e: usize, docs: &mut Vec<(usize, usize)>| {
        if lines[s..e].iter().any(is_content) {
            docs.push((s, e));
        }
    };
    for (i, line) in lines.iter().enumerate() {
        if *line == "---" || line.starts_with("--- ") || *line == "..." {
            push(start, i, &mut docs);
            start = i + 1;
        }
    }
    push(start, lines.len(), &mut docs);
    docs
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// 0-based character column of byte `byte` in `line`.
fn char_col(line: &str, byte: usize) -> usize {
    line[..byte].chars().count()
}

/// Whether `rest` (a line from its key on) starts with `key:`, plain or quoted.
fn key_matches(rest: &str, key: &str) -> bool {
    let candidates = [key.to_owned(), format!("\"{key}\""), format!("'{key}'")];
    candidates.iter().any(|c| {
        rest.strip_prefix(c.as_str())
            .is_some_and(|after| after.trim_start_matches(' ').starts_with(':'))
    })
}

/// Line and column of byte `offset` in `text`.
pub fn offset_pos(text: &str, offset: usize) -> Pos {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Pos { line, column: before[line_start..].chars().count() + 1 }
}

/// Builds a key path from string keys.
pub fn keys(path: &[&str]) -> Vec<Step> {
    path.iter().map(|k| Step::Key((*k).to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &str = "\
# leading comment
---
apiVersion: v1
kind: ConfigMap
data:
  a: b
---
apiVersion: v1
kind: Secret
metadata:
  name: x
data:
  password: aGk=
stringData:
    \"token\": abc
list:
  - name: one
    value: 1
  - name: two
    value: 2
";

    #[test]
    fn finds_keys_in_the_right_document() {
        let l = Located::new(Format::Yaml, MULTI);
        assert_eq!(l.find(0, &keys(&["data"])), Pos { line: 5, column: 1 });
        assert_eq!(l.find(1, &keys(&["data"])), Pos { line: 12, column: 1 });
        assert_eq!(l.find(1, &keys(&["data", "password"])), Pos { line: 13, column: 3 });
        assert_eq!(l.find(1, &keys(&["stringData", "token"])), Pos { line: 15, column: 5 });
    }

    #[test]
    fn does_not_find_a_key_outside_its_parent_block() {
        let l = Located::new(Format::Yaml, MULTI);
        // `name` exists under metadata, not under data: the deepest found step is data.
        assert_eq!(l.find(1, &keys(&["data", "name"])), Pos { line: 12, column: 1 });
    }

    #[test]
    fn finds_list_items_and_their_keys() {
        let l = Located::new(Format::Yaml, MULTI);
        let path = vec![Step::Key("list".into()), Step::Index(1), Step::Key("value".into())];
        assert_eq!(l.find(1, &path), Pos { line: 20, column: 5 });
        let path = vec![Step::Key("list".into()), Step::Index(0), Step::Key("name".into())];
        assert_eq!(l.find(1, &path), Pos { line: 17, column: 5 });
    }

    #[test]
    fn finds_json_keys_in_order() {
        let text = "{\n  \"kind\": \"Secret\",\n  \"data\": {\n    \"kind\": \"x\"\n  }\n}\n";
        let l = Located::new(Format::Json, text);
        assert_eq!(l.find(0, &keys(&["data"])), Pos { line: 3, column: 3 });
        assert_eq!(l.find(0, &keys(&["data", "kind"])), Pos { line: 4, column: 5 });
    }
}
