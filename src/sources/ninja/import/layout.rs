//! The build directory on the host, as the user named it and as it really is, and where
//! each path of the build file lands there: an absolute, normalized host path and the
//! edge producing it, worked out once per spelling.

use std::path::{Path, PathBuf};

use crate::model::fasthash::FastMap;
use crate::model::lexical_path::{join_to_normal, join_to_normal_into, normalize_abs};
use crate::sources::ninja::paths::relative_inside_str;

/// The build directory as the user named it and as it really is.
pub(super) struct Layout {
    /// The build file, as the user named it (for messages).
    pub(super) file: String,
    /// The canonical build directory.
    pub(super) build: PathBuf,
    /// The same, as a string.
    pub(super) build_str: String,
    /// `(spelling, canonical)`: a symlinked prefix the build directory was reached through.
    pub(super) alias: Option<(PathBuf, PathBuf)>,
    /// The same, as strings.
    alias_str: Option<(String, String)>,
}

impl Layout {
    /// The layout of the directory holding `ninja_file`, where Ninja runs.
    pub(super) fn new(ninja_file: &Path) -> std::io::Result<Layout> {
        let file = ninja_file.display().to_string();
        let dir = match ninja_file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let given = normalize_abs(&std::path::absolute(dir)?);
        let build = std::fs::canonicalize(dir)?;
        let alias = symlink_alias(&given, &build);
        let alias_str = alias.as_ref().map(|(a, b)| {
            (
                a.to_string_lossy().into_owned(),
                b.to_string_lossy().into_owned(),
            )
        });
        Ok(Layout {
            file,
            build_str: build.to_string_lossy().into_owned(),
            build,
            alias,
            alias_str,
        })
    }

    /// A Ninja path as an absolute, normalized host path.
    pub(super) fn absolute(&self, path: &str) -> String {
        let mut out = String::new();
        self.absolute_into(path, &mut out);
        out
    }

    /// [`Layout::absolute`] into `out` (cleared first).
    pub(super) fn absolute_into(&self, path: &str, out: &mut String) {
        // Both directories are canonical: only `path` needs normalizing.
        join_to_normal_into(out, &self.build_str, path);
        if let Some((spelling, real)) = &self.alias_str {
            if let Some(rest) = relative_inside_str(spelling, out) {
                *out = join_to_normal(real, rest);
            }
        }
    }
}

/// When the build directory was named through a symlink (`/tmp` -> `/private/tmp`), the
/// differing leading directories of the two spellings.
fn symlink_alias(given: &Path, real: &Path) -> Option<(PathBuf, PathBuf)> {
    if given == real {
        return None;
    }
    let mut a: Vec<_> = given.components().collect();
    let mut b: Vec<_> = real.components().collect();
    while a.len() > 2 && b.len() > 2 && a.last() == b.last() {
        a.pop();
        b.pop();
    }
    Some((a.iter().collect(), b.iter().collect()))
}

/// A Ninja path on the host, worked out once per spelling.
#[derive(Clone, Copy)]
pub(super) struct Resolved {
    /// Where the absolute, normalized host path lies in [`Resolver::text`].
    start: usize,
    /// Where it ends.
    end: usize,
    /// The edge producing it, if any.
    pub(super) producer: Option<usize>,
}

/// The paths already resolved, by spelling: the same text always lands in the same place,
/// so a path named by many edges (an object every link reads) is worked out once. Their
/// absolute paths share one buffer instead of one allocation each.
#[derive(Default)]
pub(super) struct Resolver<'a> {
    known: FastMap<&'a str, Resolved>,
    /// Every absolute path resolved, one after another.
    text: String,
    /// Where a path is worked out before it joins `text`.
    scratch: String,
}

impl<'a> Resolver<'a> {
    pub(super) fn with_capacity(paths: usize) -> Resolver<'a> {
        Resolver {
            known: FastMap::with_capacity_and_hasher(paths, Default::default()),
            text: String::with_capacity(paths * 64),
            scratch: String::new(),
        }
    }

    /// Where `path` lands, computed on first use.
    pub(super) fn resolve(
        &mut self,
        layout: &Layout,
        index: &FastMap<String, usize>,
        path: &'a str,
    ) -> Resolved {
        if let Some(&known) = self.known.get(path) {
            return known;
        }
        layout.absolute_into(path, &mut self.scratch);
        let start = self.text.len();
        self.text.push_str(&self.scratch);
        let resolved = Resolved {
            start,
            end: self.text.len(),
            producer: index.get(&self.scratch).copied(),
        };
        self.known.insert(path, resolved);
        resolved
    }

    /// The absolute path of a resolved path.
    pub(super) fn abs(&self, resolved: Resolved) -> &str {
        &self.text[resolved.start..resolved.end]
    }
}
