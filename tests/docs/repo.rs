//! The repository's files as the documentation checks see them: read by path from the crate
//! root, and every Markdown file found by walking the tree (build output and installed
//! packages left out).

use std::path::{Path, PathBuf};

/// The crate root: every path the checks name is relative to it.
pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The text of `relative` (a path from the crate root).
pub(crate) fn read(relative: impl AsRef<Path>) -> String {
    let path = root().join(relative.as_ref());
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `path` relative to the crate root, with `/` separators, for messages.
pub(crate) fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// `path` relative to the crate root with `.` and `..` resolved by their names, as a link
/// means them (`docs/how-to/../reference/x.md` is `docs/reference/x.md`).
pub(crate) fn normal(path: &Path) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let shown = shown(path);
    for part in shown.split('/') {
        match part {
            "." | "" => {}
            ".." => drop(parts.pop()),
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// Directories never searched: build output, installed packages, git's own.
const SKIPPED: &[&str] = &["target", "node_modules", ".git"];

/// Every file under `dir` (relative to the crate root) whose name ends in `extension`,
/// sorted.
pub(crate) fn files(dir: &str, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root().join(dir)];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !SKIPPED.contains(&name.as_str()) {
                    pending.push(path);
                }
            } else if name.ends_with(extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
