//! Printing findings: `path:line:col: message [rule]` lines, or a JSON array.

use std::io::Write;

use super::finding::Finding;
use crate::exit::{CliError, CliResult, Code};

/// One finding and its allow-list fingerprint.
pub struct Reported<'f> {
    pub finding: &'f Finding,
    pub fingerprint: String,
}

pub fn text(findings: &[Reported]) -> String {
    let mut out = String::new();
    for r in findings {
        let f = r.finding;
        out.push_str(&format!("{}:{}:{}: {} [{}]\n", f.path, f.line, f.column, f.message, f.rule));
    }
    out
}

pub fn json(findings: &[Reported]) -> String {
    let items: Vec<serde_json::Value> = findings
        .iter()
        .map(|r| {
            let f = r.finding;
            serde_json::json!({
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "rule": f.rule,
                "message": f.message,
                "fingerprint": r.fingerprint,
            })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&items).expect("JSON of plain values");
    s.push('\n');
    s
}

pub fn print(s: &str) -> CliResult {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes()).and_then(|()| out.flush()).map_err(|e| {
        CliError::new(Code::CouldNotWriteOutput, format!("failed to write the findings: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::check::locate::Pos;

    #[test]
    fn text_and_json_hold_every_field() {
        let f = Finding::new("a/b.yaml", Pos { line: 3, column: 5 }, "jwt", "msg".to_owned());
        let r = [Reported { finding: &f, fingerprint: "a/b.yaml:jwt:3".to_owned() }];
        assert_eq!(text(&r), "a/b.yaml:3:5: msg [jwt]\n");
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"path": "a/b.yaml", "line": 3, "column": 5, "rule": "jwt",
                                "message": "msg", "fingerprint": "a/b.yaml:jwt:3"}])
        );
        assert_eq!(json(&[]), "[]\n");
    }
}
