//! Where Ninja's paths land in a reprobe graph, and how commands are made path-independent.
//!
//! Ninja runs every command in the build directory `B`; its paths are relative to `B`
//! (`../src/x.c`) or absolute (CMake writes `/home/me/proj/src/x.c`). reprobe's graph has
//! one root `R` (an ancestor of `B` and of the sources) and a step's work directory mirrors
//! `R`. So each imported command first `cd`s into `B`'s place below the work directory,
//! and every absolute spelling of `R` in a command is replaced by the placeholder
//! [`ROOT_PLACEHOLDER`], which names the project's root where the step runs: absolute
//! paths stay absolute, as in the native build (so a path the compiler records differs
//! between two checkouts in the sandbox too), and no host path enters the input hash.

use std::path::{Path, PathBuf};

use crate::model::graph::ROOT_PLACEHOLDER;

/// Host directories whose files belong to the toolchain, never to the project.
const SYSTEM_PREFIXES: &[&str] = &[
    "/usr/", "/lib/", "/lib32/", "/lib64/", "/bin/", "/sbin/", "/etc/", "/opt/", "/nix/", "/gnu/",
    "/proc/", "/dev/",
];

/// Whether an absolute path, held as a string, is a system (toolchain) file.
pub fn is_system_str(path: &str) -> bool {
    SYSTEM_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// `path` relative to `base` (both absolute, normalized strings), when inside it.
pub fn relative_inside_str<'p>(base: &str, path: &'p str) -> Option<&'p str> {
    let rest = path.strip_prefix(base)?;
    if rest.is_empty() {
        return Some("");
    }
    if base == "/" {
        return Some(rest);
    }
    rest.strip_prefix('/')
}

/// The deepest directory holding both `a` and `b` (both absolute and normalized).
pub fn common_ancestor(a: &Path, b: &Path) -> PathBuf {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.as_os_str())
        .collect()
}

/// `path` relative to `base` as a `/`-joined string, when `path` is inside `base`.
pub fn relative_inside(base: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(base).ok()?;
    let parts: Vec<String> = rest
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// Replaces every absolute spelling of the graph root in a command by
/// [`ROOT_PLACEHOLDER`].
#[derive(Debug, Clone)]
pub struct Rewriter {
    /// Absolute spellings of the root, longest first.
    aliases: Vec<String>,
    /// What they become.
    replacement: String,
}

impl Rewriter {
    /// A rewriter for `aliases` of the root.
    pub fn new(mut aliases: Vec<String>) -> Rewriter {
        aliases.sort_by_key(|a| std::cmp::Reverse(a.len()));
        aliases.dedup();
        Rewriter {
            aliases,
            replacement: ROOT_PLACEHOLDER.to_string(),
        }
    }

    /// Appends [`Rewriter::rewrite`] of `text` to `out`.
    pub fn rewrite_into(&self, out: &mut String, text: &str) {
        if self
            .aliases
            .iter()
            .any(|alias| text.contains(alias.as_str()))
        {
            out.push_str(&self.rewrite(text));
        } else {
            out.push_str(text);
        }
    }

    /// The command with the root's absolute spellings replaced.
    pub fn rewrite(&self, text: &str) -> String {
        let mut text = text.to_string();
        for alias in &self.aliases {
            if text.contains(alias.as_str()) {
                text = replace_path_prefix(&text, alias, &self.replacement);
            }
        }
        text
    }
}

/// Replaces `prefix` where it is a whole path (or a path's leading directories).
fn replace_path_prefix(text: &str, prefix: &str, replacement: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let after = rest[at + prefix.len()..].chars().next();
        let whole = starts_a_path(&rest[..at]) && after.is_none_or(|c| !is_path_char(c));
        out.push_str(&rest[..at]);
        out.push_str(if whole { replacement } else { prefix });
        rest = &rest[at + prefix.len()..];
    }
    out.push_str(rest);
    out
}

/// Whether a path beginning after `before` is a path of its own, not the tail of a longer
/// one: `-I/x` and ` /x` begin paths, `/a/x` and `a/x` continue one.
fn starts_a_path(before: &str) -> bool {
    let word = before.trim_end_matches(is_path_char);
    !word.ends_with('/')
}

fn is_path_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '+' | '@' | '~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_root_paths_stay_absolute_through_the_placeholder() {
        let r = Rewriter::new(vec!["/home/me/proj".into()]);
        assert_eq!(
            r.rewrite(
                "cd /home/me/proj/build && cc -I/home/me/proj/include -c /home/me/proj/src/a.c"
            ),
            "cd ${REPROBE_ROOT}/build && cc -I${REPROBE_ROOT}/include -c ${REPROBE_ROOT}/src/a.c"
        );
        assert_eq!(
            r.rewrite("cc /home/me/project2/a.c /x/home/me/proj/a.c"),
            "cc /home/me/project2/a.c /x/home/me/proj/a.c"
        );
        assert_eq!(r.rewrite("echo /home/me/proj"), "echo ${REPROBE_ROOT}");
        assert_eq!(
            r.rewrite("-ffile-prefix-map=/home/me/proj=."),
            "-ffile-prefix-map=${REPROBE_ROOT}=."
        );
    }

    #[test]
    fn relative_paths_inside_a_base() {
        assert_eq!(relative_inside_str("/a/b", "/a/b/c/d"), Some("c/d"));
        assert_eq!(relative_inside_str("/a/b", "/a/bc"), None);
        assert_eq!(relative_inside_str("/a/b", "/a/b"), Some(""));
    }

    #[test]
    fn ancestors_and_system_paths() {
        assert_eq!(
            common_ancestor(Path::new("/a/b/build"), Path::new("/a/b/src/x")),
            Path::new("/a/b")
        );
        assert!(is_system_str("/usr/include/stdio.h"));
        assert!(!is_system_str("/home/me/x.h"));
    }
}
