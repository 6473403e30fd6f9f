//! The files to check: given files as they are, directories walked in sorted order, skipping
//! `.git`, `target` and `node_modules` and never following symbolic links to directories.

use std::path::{Path, PathBuf};

use crate::exit::{CliError, CliResult, Code};

/// Directory names never walked into.
pub const SKIPPED_DIRS: [&str; 3] = [".git", "target", "node_modules"];

/// Every regular file under `paths` (a given file is kept even in a skipped directory).
pub fn files(paths: &[PathBuf]) -> CliResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                Code::FileNotFound
            } else {
                Code::CouldNotReadInput
            };
            CliError::new(code, format!("{}: {e}", p.display()))
        })?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else if meta.is_file() {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> CliResult<()> {
    let read = std::fs::read_dir(dir).map_err(|e| {
        CliError::new(Code::CouldNotReadInput, format!("failed to list {}: {e}", dir.display()))
    })?;
    let mut entries: Vec<_> = read.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Ok(kind) = entry.file_type() else { continue };
        let path = join(dir, &entry.file_name());
        if kind.is_dir() {
            if !SKIPPED_DIRS.iter().any(|s| entry.file_name() == *s) {
                walk(&path, out)?;
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// `dir/name`, without a leading `./` when `dir` is `.`.
fn join(dir: &Path, name: &std::ffi::OsStr) -> PathBuf {
    if dir == Path::new(".") { PathBuf::from(name) } else { dir.join(name) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_and_skips_build_and_vcs_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["a", "target", ".git", "node_modules", "a/target"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "b.txt",
            "a/z.yaml",
            "a/c.yaml",
            "target/x",
            ".git/config",
            "node_modules/m",
            "a/target/y",
        ] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let found = files(&[root.to_owned(), root.join("target/x")]).unwrap();
        let rel: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(rel, vec!["a/c.yaml", "a/z.yaml", "b.txt", "target/x"]);
    }

    #[test]
    fn a_missing_path_is_an_error_naming_it() {
        let err = files(&[PathBuf::from("/nonexistent/sealgate-check")]).unwrap_err();
        assert_eq!(err.code, Code::FileNotFound);
        assert!(err.message.contains("/nonexistent/sealgate-check"));
    }
}
