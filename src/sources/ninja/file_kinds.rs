//! Which paths of a build are regular files, learned by listing each directory once.
//!
//! A large build names tens of thousands of sources in a few hundred directories: one
//! `readdir` per directory answers for all of them, where a `stat` per file walks the
//! whole path each time. Entries the listing cannot classify (symlinks, file systems
//! without a type in their entries) and directories that cannot be listed are `stat`ed,
//! so every answer is what [`std::fs::metadata`] would say.

use std::fs;

use crate::model::fasthash::FastMap;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Other,
    /// A symlink or an entry without a type: ask `stat`.
    Unknown,
}

/// A directory's listing, or why there is none.
#[derive(Debug, Clone)]
enum Listing {
    Entries(FastMap<Box<str>, Kind>),
    /// The directory does not exist: nothing below it does.
    Missing,
    /// It exists but cannot be listed (no read permission, not UTF-8 names): ask `stat`.
    Unlistable,
}

/// Answers "is this absolute, normalized path a regular file (following symlinks)?".
#[derive(Debug, Clone, Default)]
pub struct FileKinds {
    dirs: FastMap<Box<str>, Listing>,
}

impl FileKinds {
    /// `Some(true)` for a regular file, `Some(false)` for anything else that exists (a
    /// directory), `None` when nothing is there.
    pub fn kind(&mut self, abs: &str) -> Option<bool> {
        let Some((dir, name)) = abs.rsplit_once('/') else {
            return stat(abs);
        };
        if name.is_empty() || name == "." || name == ".." {
            return stat(abs);
        }
        let listing = match self.dirs.get(dir) {
            Some(listing) => listing,
            None => {
                let listing = list(if dir.is_empty() { "/" } else { dir });
                self.dirs.entry(dir.into()).or_insert(listing)
            }
        };
        match listing {
            Listing::Missing => None,
            Listing::Unlistable => stat(abs),
            Listing::Entries(entries) => match entries.get(name) {
                None => None,
                Some(Kind::File) => Some(true),
                Some(Kind::Other) => Some(false),
                Some(Kind::Unknown) => stat(abs),
            },
        }
    }

    /// Whether a listing already made shows `abs` as a regular file (never touches the
    /// disk: `false` when it has not been seen, or is a symlink).
    pub fn listed_file(&self, abs: &str) -> bool {
        let Some((dir, name)) = abs.rsplit_once('/') else {
            return false;
        };
        match self.dirs.get(dir) {
            Some(Listing::Entries(entries)) => entries.get(name) == Some(&Kind::File),
            _ => false,
        }
    }
}

fn stat(abs: &str) -> Option<bool> {
    fs::metadata(abs).ok().map(|m| m.is_file())
}

fn list(dir: &str) -> Listing {
    let reader = match fs::read_dir(dir) {
        Ok(reader) => reader,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Listing::Missing,
        Err(_) => return Listing::Unlistable,
    };
    let mut entries = FastMap::default();
    for entry in reader {
        let Ok(entry) = entry else {
            return Listing::Unlistable;
        };
        let Ok(name) = entry.file_name().into_string() else {
            return Listing::Unlistable;
        };
        let kind = match entry.file_type() {
            Ok(t) if t.is_file() => Kind::File,
            Ok(t) if t.is_dir() => Kind::Other,
            Ok(t) if t.is_symlink() => Kind::Unknown,
            Ok(_) => Kind::Other,
            Err(_) => Kind::Unknown,
        };
        entries.insert(name.into_boxed_str(), kind);
    }
    Listing::Entries(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_as_stat_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap().to_string();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/a.c"), "").unwrap();
        std::os::unix::fs::symlink("a.c", dir.path().join("sub/link.c")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.path().join("sub/dangling.c")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("sub/up")).unwrap();
        let mut kinds = FileKinds::default();
        for (rel, want) in [
            ("sub/a.c", Some(true)),
            ("sub/link.c", Some(true)),
            ("sub/dangling.c", None),
            ("sub/up", Some(false)),
            ("sub", Some(false)),
            ("sub/missing.c", None),
            ("missing/a.c", None),
            ("sub/a.c/x", None),
        ] {
            let abs = format!("{root}/{rel}");
            assert_eq!(kinds.kind(&abs), want, "{rel}");
            assert_eq!(kinds.kind(&abs), stat(&abs), "{rel}");
        }
        assert_eq!(kinds.kind(&format!("{root}/sub/link.c")), Some(true));
    }
}
