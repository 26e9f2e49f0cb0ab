//! The errors of the store, each naming the file involved.

use std::io;
use std::path::{Path, PathBuf};

use super::layout::STORE_VERSION;
use crate::fsafe::DirError;
use crate::model::hash::FileHash;

/// Errors of the store, each naming the file involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on a store path.
    #[error("store: {path}: {source}")]
    Io {
        /// The store path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A blob whose bytes no longer match its name; it has been removed.
    #[error("store: blob {0} is corrupt (its content no longer matches its hash); it was removed and will be rebuilt")]
    CorruptBlob(FileHash),
    /// A directory that is not a reprobe store (for commands that must not create one).
    #[error(
        "store: {path}: not a reprobe store (no VERSION file); pass --store DIR or build first"
    )]
    NotAStore {
        /// The directory.
        path: PathBuf,
    },
    /// A store written by another layout version.
    #[error("store: {path}: store layout `{found}` is not supported; this reprobe reads `{STORE_VERSION}`")]
    Version {
        /// The VERSION file.
        path: PathBuf,
        /// The version it declares.
        found: String,
    },
    /// Another `reprobe store gc` holds the store's gc lock.
    #[error("store: {0}: another `reprobe store gc` is running on this store")]
    Busy(PathBuf),
    /// A JSON entry that cannot be parsed.
    #[error("store: {path}: unreadable entry: {error}")]
    BadEntry {
        /// The entry file.
        path: PathBuf,
        /// The parser's message.
        error: String,
    },
    /// A symbolic link where the store keeps a directory of its own: reprobe never acts
    /// through one (a committed `.reprobe/tmp -> /` would have it empty `/`).
    #[error("store: {path} is a symbolic link where the store keeps a directory of its own; reprobe never acts through links: remove the link (`rm {path}`), or pass --store DIR to use another directory")]
    Link {
        /// The link.
        path: PathBuf,
    },
    /// Something else than a directory where the store keeps one, or than a regular
    /// file where it keeps a file.
    #[error("store: {path} is {kind}, where the store keeps {expected} of its own; move it away, or pass --store DIR to use another directory")]
    Misplaced {
        /// The entry.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
        /// What belongs there.
        expected: &'static str,
    },
    /// A store directory of another user.
    #[error("store: {path} belongs to uid {owner}, not to uid {me} running reprobe; reprobe only acts in store directories of its own user: pass --store DIR with a directory of yours")]
    NotOwned {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid.
        me: u32,
    },
}

impl From<DirError> for StoreError {
    fn from(err: DirError) -> StoreError {
        match err {
            DirError::Link { path } => StoreError::Link { path },
            DirError::NotADirectory { path, kind } => StoreError::Misplaced {
                path,
                kind,
                expected: "a directory",
            },
            DirError::NotOwned { path, owner, me } => StoreError::NotOwned { path, owner, me },
            DirError::Io { path, source } => StoreError::Io { path, source },
        }
    }
}

/// Attaches the path to an I/O error.
pub fn at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
