//! Which paths of a build are regular files, learned by listing each directory once.
//!
//! A large build names tens of thousands of sources in a few hundred directories: one
//! `readdir` per directory answers for all of them, where a `stat` per file walks the
//! whole path each time. Entries the listing cannot classify (symlinks, file systems
//! without a type in their entries) and directories that cannot be listed are `stat`ed,
//! so every answer is what [`std::fs::metadata`] would say.
//!
//! Also the reader of the files users name to the graph and Ninja readers
//! ([`read_regular`]): regular files only, so a FIFO or a device cannot block a read.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::model::fasthash::FastMap;

/// What a file that is not a regular file is, for messages: "FIFO", "directory", ...
pub fn kind_name(kind: fs::FileType) -> &'static str {
    if kind.is_dir() {
        "directory"
    } else if kind.is_fifo() {
        "FIFO"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// The error for a path that is not a regular file.
fn not_regular(kind: fs::FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "is a {}, not a regular file (reprobe reads only regular files)",
            kind_name(kind)
        ),
    )
}

/// Opens a file a user named (a graph, a build file, an include, a depfile) only if it
/// is a regular file (following symlinks): reading a FIFO waits forever for a writer,
/// and a device such as `/dev/zero` never ends. It is looked at before it is opened
/// (no device is opened), opened with `O_NONBLOCK` (opening a FIFO put there meanwhile
/// does not wait) and checked again on the open descriptor, which is what is read.
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    let kind = fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(not_regular(kind));
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(not_regular(kind));
    }
    Ok(file)
}

/// Reads a whole file through [`open_regular`].
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

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

    /// Whether `abs` is a regular file.
    pub fn is_file(&mut self, abs: &str) -> bool {
        self.kind(abs) == Some(true)
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
    use std::path::PathBuf;

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        std::os::unix::fs::symlink(&file, dir.path().join("link")).unwrap();
        assert_eq!(read_regular(&dir.path().join("link")).unwrap(), b"x");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::os::unix::fs::symlink(&fifo, dir.path().join("to-fifo")).unwrap();
        for (path, kind) in [
            (fifo, "FIFO"),
            (dir.path().join("to-fifo"), "FIFO"),
            (PathBuf::from("/dev/zero"), "character device"),
            (dir.path().to_path_buf(), "directory"),
        ] {
            let err = read_regular(&path).unwrap_err().to_string();
            assert!(
                err.contains(&format!("is a {kind}, not a regular file")),
                "{err}"
            );
        }
    }

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
        assert!(kinds.is_file(&format!("{root}/sub/link.c")));
    }
}
