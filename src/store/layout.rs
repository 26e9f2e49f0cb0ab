//! The store's layout: its version, its directories (each opened by handle once, when
//! the store is opened) and where each kind of entry lives in them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fsafe::Dir;
use crate::model::hash::{FileHash, InputHash};

/// Store layout version, written once into `VERSION`.
pub const STORE_VERSION: &str = "reprobe-store/1";

/// The directories of a store, each created by reprobe and opened by handle.
pub(super) const SUBDIRS: [&str; 4] = ["blobs", "actions", "builds", "tmp"];

/// The directory of notes on blobs removed as corrupt (`removed/HASH`): a past build's
/// manifest that names such a blob is history, not damage, for `store verify`.
pub(super) const REMOVED_DIR: &str = "removed";

/// Largest action entry or `VERSION` file read (a bigger one is not reprobe's).
pub(super) const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

/// The store's own directories, opened by handle once.
#[derive(Debug)]
pub(super) struct Dirs {
    pub(super) root: Dir,
    pub(super) blobs: Dir,
    pub(super) actions: Dir,
    pub(super) builds: Dir,
    pub(super) tmp: Dir,
}

/// An opened store directory.
#[derive(Debug, Clone)]
pub struct Store {
    /// Where the root really is (for messages, and to hide it from steps).
    pub(super) root: PathBuf,
    pub(super) dirs: Arc<Dirs>,
}

impl Store {
    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (for messages and readers; the store itself acts by handle).
    pub fn blob_path(&self, hash: &FileHash) -> PathBuf {
        let hex = hash.0.to_hex();
        self.root.join("blobs").join(&hex[..2]).join(hex)
    }

    /// Where the action entry of `key` lives (for messages; the store acts by handle).
    pub(super) fn action_path(&self, key: &InputHash) -> PathBuf {
        let (shard, name) = action_name(key);
        self.root.join("actions").join(shard).join(name)
    }

    /// The directory of build manifests.
    pub fn builds_dir(&self) -> PathBuf {
        self.root.join("builds")
    }
}

/// The shard and file name of an action entry.
pub(super) fn action_name(key: &InputHash) -> (String, String) {
    let hex = key.0.to_hex();
    (hex[..2].to_string(), format!("{hex}.json"))
}
