//! Ninja's canonical spelling of a path (`a/./b` is `a/b`, `a/../b` is `b`): every path of
//! a build file is canonicalized as it is read, so two spellings of one file are one
//! node of the graph, as in Ninja.

use crate::model::lexical_path::has_empty_or_dot_part;

/// Ninja's path canonicalization: drops `.` and empty components and folds `dir/..`.
/// Unlike [`crate::model::lexical_path::normalize_abs`] it keeps a path relative (leading
/// `..` components stay, an empty result is `.`), as Ninja spells its paths.
pub fn canonicalize_path(path: &str) -> String {
    if is_canonical(path) {
        return path.to_string();
    }
    canonicalize_slow(path)
}

/// [`canonicalize_path`] of an owned path, which is kept when already canonical.
pub(super) fn canonicalize_owned(path: String) -> String {
    if is_canonical(&path) {
        return path;
    }
    canonicalize_slow(&path)
}

/// Whether [`canonicalize_path`] leaves a path as it is (the common case, checked fast).
fn is_canonical(path: &str) -> bool {
    // Leading `..` components stay as they are (`../src/a.c` is canonical).
    let mut rest = path;
    while let Some(after) = rest.strip_prefix("../") {
        rest = after;
    }
    if rest.len() < path.len() && rest.starts_with('/') {
        return false;
    }
    let path = rest;
    !path.is_empty()
        && !path.starts_with('.')
        && !path.ends_with('/')
        && !has_empty_or_dot_part(path)
}

fn canonicalize_slow(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalization_keeps_leading_parents_and_the_fast_path_agrees() {
        assert_eq!(canonicalize_path("/a/../../b"), "/b");
        assert_eq!(canonicalize_path("../../x"), "../../x");
        for path in [
            "../src/a.c",
            "../../a",
            "..//a",
            "../a/../b",
            "../",
            "../.",
            "a/b",
            "/x/../y",
        ] {
            let fast = canonicalize_path(path);
            assert_eq!(fast, canonicalize_slow(path), "{path}");
        }
    }
}
