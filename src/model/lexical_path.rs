//! Lexical path normalization: `.` dropped and `dir/..` folded as text, never asking the
//! file system (no symlink is followed). One home for it, so the sandbox's view of the
//! paths a step opened and the Ninja import's view of a build's paths agree.
//!
//! Normalizers elsewhere that do something else on purpose say so in their names: the Ninja
//! import's `canonicalize_path` (Ninja's own rule for relative paths, which keeps leading
//! `..`), and the graph's `drop_dot_and_empty_parts` (an input's spelling: `.` and empty
//! components dropped, `..` refused before it gets there).

use std::path::{Component, Path, PathBuf};

/// Lexically normalizes an absolute path (`.` dropped, `a/..` folded, `..` at the root
/// staying at the root); a relative path is taken as relative to `/`.
pub fn normalize_abs(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Lexically normalizes `base/path` (or `path` alone when it is absolute) as a string, for
/// a `base` that is already absolute and normalized (a canonical directory): only `path`
/// is worked through. The fast form of [`normalize_abs`] used for every path of a large
/// build file.
pub fn join_to_normal(base: &str, path: &str) -> String {
    let mut out = String::with_capacity(base.len() + path.len() + 1);
    join_to_normal_into(&mut out, base, path);
    out
}

/// [`join_to_normal`] into `out`, which is cleared first (a buffer reused across calls).
pub fn join_to_normal_into(out: &mut String, base: &str, path: &str) {
    out.clear();
    out.reserve(base.len() + path.len() + 1);
    if !path.starts_with('/') && base != "/" {
        out.push_str(base);
    }
    push_normalized(out, path);
    if out.is_empty() {
        out.push('/');
    }
}

/// Appends the components of `path` to the normalized absolute path `out` (`""` being
/// `/`), folding `.` and `..` as they come.
fn push_normalized(out: &mut String, mut path: &str) {
    // The common spellings (`obj/a.o`, `../src/a.c`) are copied whole after their
    // leading `..` components.
    while let Some(rest) = path.strip_prefix("../") {
        let parent = out.rfind('/').unwrap_or(0);
        out.truncate(parent);
        path = rest;
    }
    if is_plain_relative(path) {
        out.push('/');
        out.push_str(path);
        return;
    }
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                let parent = out.rfind('/').unwrap_or(0);
                out.truncate(parent);
            }
            part => {
                out.push('/');
                out.push_str(part);
            }
        }
    }
}

/// Whether a relative path has only plain components (no empty one, no `.` or `..`, nor
/// any starting with a dot): normalizing it changes nothing.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with(['.', '/'])
        && !path.ends_with('/')
        && !has_empty_or_dot_part(path)
}

/// Whether a `/` in `path` is followed by `.` or another `/` (what `contains("/.")` or
/// `contains("//")` says, in one pass: `str::contains` sets up a searcher per call, which
/// costs more than a byte loop over paths this short). The quick test every normalizer
/// here and above makes before it splits a path into components.
pub fn has_empty_or_dot_part(path: &str) -> bool {
    let bytes = path.as_bytes();
    let next = bytes.get(1..).unwrap_or_default();
    bytes
        .iter()
        .zip(next)
        .any(|(&byte, &after)| byte == b'/' && matches!(after, b'.' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_normalization_matches_the_path_form() {
        assert_eq!(join_to_normal("/", ".."), "/");
        assert_eq!(join_to_normal("/a/b", "../c/./d"), "/a/c/d");
        assert_eq!(join_to_normal("/", "x/../../y"), "/y");
        assert_eq!(join_to_normal("/a", "/x//y/.."), "/x");
        assert_eq!(
            normalize_abs(Path::new("/a/b/../c/./d")),
            Path::new("/a/c/d")
        );
    }
}
