//! KV paths as the controller checks and reads them: normalised once, so that what a
//! `ClusterSecretStore`'s path prefixes allow is exactly what is read.

/// Characters refused in a path: `%` (a percent-encoded `.` or `/` would be decoded after the
/// check), `\`, `?`, `#` (they change what a URL means) and control characters.
fn refused_char(c: char) -> bool {
    matches!(c, '%' | '\\' | '?' | '#') || c.is_control()
}

/// The canonical form of a KV path under the mount: segments joined by one `/`, with empty
/// and `.` segments dropped and `..` applied. `teams/a/../b` is `teams/b`, `//a/` is `a`.
///
/// # Errors
/// A message naming the path and what is wrong: a refused character, a `..` that climbs
/// above the mount, or nothing left.
pub fn normalize(path: &str) -> Result<String, String> {
    if let Some(c) = path.chars().find(|c| refused_char(*c)) {
        return Err(format!(
            "path {path:?} contains {c:?}; write KV paths plainly, without percent-encoding, \
             backslashes, '?', '#' or control characters"
        ));
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(format!("path {path:?} climbs above the KV mount with '..'"));
                }
            }
            s => segments.push(s),
        }
    }
    if segments.is_empty() {
        return Err(format!("path {path:?} names no secret"));
    }
    Ok(segments.join("/"))
}

/// A `pathPrefixes` entry for one namespace: `{namespace}` replaced, then split into segments
/// like a path. An empty prefix (`""`, `/`) allows every path.
///
/// # Errors
/// A message naming the prefix when it has a refused character or a `..` segment.
pub fn prefix_segments(prefix: &str, namespace: &str) -> Result<Vec<String>, String> {
    let expanded = prefix.replace("{namespace}", namespace);
    if let Some(c) = expanded.chars().find(|c| refused_char(*c)) {
        return Err(format!("path prefix {prefix:?} contains {c:?}"));
    }
    let mut out = Vec::new();
    for segment in expanded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(format!("path prefix {prefix:?} contains '..'")),
            s => out.push(s.to_owned()),
        }
    }
    Ok(out)
}

/// Whether a normalised `path` lies under `prefix` (from [`prefix_segments`]), comparing whole
/// segments: `teams/a` allows `teams/a/db`, not `teams/ab/db`.
pub fn under_prefix(path: &str, prefix: &[String]) -> bool {
    let mut segments = path.split('/');
    prefix.iter().all(|p| segments.next() == Some(p.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_before_anything_is_checked() {
        assert_eq!(normalize("app/db").unwrap(), "app/db");
        assert_eq!(normalize("//app//db/").unwrap(), "app/db");
        assert_eq!(normalize("./app/./db").unwrap(), "app/db");
        assert_eq!(normalize("teams/a/../b").unwrap(), "teams/b");
        assert_eq!(normalize("teams/a/x/../../a/db").unwrap(), "teams/a/db");
    }

    #[test]
    fn paths_that_escape_or_hide_segments_are_refused() {
        for (bad, says) in [
            ("../other", "climbs above"),
            ("a/../../b", "climbs above"),
            ("teams/a/%2e%2e/b", "'%'"),
            ("teams\\a", "'\\\\'"),
            ("a?version=1", "'?'"),
            ("a#b", "'#'"),
            ("a\nb", "'\\n'"),
            ("", "names no secret"),
            ("//", "names no secret"),
            ("a/..", "names no secret"),
        ] {
            let err = normalize(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments_after_namespace_substitution() {
        let p = prefix_segments("teams/{namespace}/", "a").unwrap();
        assert_eq!(p, ["teams", "a"]);
        assert!(under_prefix("teams/a/db", &p));
        assert!(under_prefix("teams/a", &p));
        assert!(!under_prefix("teams/ab/db", &p), "a prefix is whole segments");
        assert!(!under_prefix("teams", &p));
        let no_slash = prefix_segments("teams/{namespace}", "a").unwrap();
        assert!(!under_prefix("teams/a-other/db", &no_slash));
        let all = prefix_segments("/", "a").unwrap();
        assert!(all.is_empty() && under_prefix("anything/at/all", &all));
        assert!(prefix_segments("teams/../x", "a").unwrap_err().contains("'..'"));
    }

    #[test]
    fn a_dot_dot_path_cannot_leave_its_prefix() {
        let p = prefix_segments("teams/{namespace}/", "a").unwrap();
        for sneaky in ["teams/a/../b/db", "teams/a//../../b", "teams/./a/../../etc"] {
            let allowed = normalize(sneaky).is_ok_and(|n| under_prefix(&n, &p));
            assert!(!allowed, "{sneaky} must not be allowed under teams/a/");
        }
    }
}
