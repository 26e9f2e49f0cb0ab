//! Opening a store: its root (never a link unless named explicitly) and each of its
//! directories by handle, checked to belong to the effective uid; its layout version
//! checked, or written when the store is new.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::handles::read_regular;
use super::layout::{Dirs, Store, STORE_VERSION, SUBDIRS};
use super::store_error::{at, StoreError};
use crate::fsafe::Dir;

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// The root was named explicitly (`--store`, `REPROBE_STORE`): a link there is
    /// followed, once, when it is opened. The default root (`.reprobe` beside the graph)
    /// is never a link: a project could commit `.reprobe -> /`.
    pub explicit: bool,
    /// Create the store when there is none (else: [`StoreError::NotAStore`]).
    pub create: bool,
    /// Remove the temporaries of dead processes (not for `store gc --dry-run`, which
    /// removes nothing at all).
    pub clean: bool,
}

impl Store {
    /// Opens (creating if needed) the store at the default location (`.reprobe` beside
    /// a graph, never a link) and clears temporary files of dead processes.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Store::open_with(
            root,
            OpenOptions {
                explicit: false,
                create: true,
                clean: true,
            },
        )
    }

    /// Like [`Store::open`] for a root named explicitly (`--store`, `REPROBE_STORE`):
    /// a link there is followed once; everything below it never.
    pub fn open_explicit(root: &Path) -> Result<Store, StoreError> {
        Store::open_with(
            root,
            OpenOptions {
                explicit: true,
                create: true,
                clean: true,
            },
        )
    }

    /// Opens a store that must already exist (for `store verify` and `store gc`, which
    /// never create one). Clears temporary files of dead processes, like [`Store::open`].
    pub fn open_existing(root: &Path) -> Result<Store, StoreError> {
        Store::open_with(
            root,
            OpenOptions {
                explicit: false,
                create: false,
                clean: true,
            },
        )
    }

    /// Opens a store: its root and each of its directories by handle, each checked to
    /// be a directory (not a link) of the effective uid.
    pub fn open_with(root: &Path, options: OpenOptions) -> Result<Store, StoreError> {
        let root_dir = open_root(root, options)?;
        let has_version = match root_dir.meta_at(OsStr::new("VERSION")) {
            Ok(meta) => meta.is_some(),
            Err(source) => return Err(at(&root.join("VERSION"))(source)),
        };
        if !has_version && !options.create {
            return Err(StoreError::NotAStore {
                path: root.to_path_buf(),
            });
        }
        let real = root_dir.real_path();
        let sub = |name: &str| -> Result<Dir, StoreError> {
            let dir = root_dir.ensure_dir_at(OsStr::new(name), 0o777)?;
            Ok(dir.with_path(real.join(name)))
        };
        let dirs = Dirs {
            blobs: sub(SUBDIRS[0])?,
            actions: sub(SUBDIRS[1])?,
            builds: sub(SUBDIRS[2])?,
            tmp: sub(SUBDIRS[3])?,
            root: root_dir.with_path(real.clone()),
        };
        let store = Store {
            root: real,
            dirs: Arc::new(dirs),
        };
        if has_version {
            store.check_version()?;
        } else {
            let version = store.root.join("VERSION");
            store.write_atomic(&version, format!("{STORE_VERSION}\n").as_bytes())?;
        }
        if options.clean {
            store.remove_stale_temporaries(false);
        }
        Ok(store)
    }

    /// Fails with both versions named when `VERSION` is not this reprobe's layout.
    fn check_version(&self) -> Result<(), StoreError> {
        let path = self.root.join("VERSION");
        let text =
            read_regular(&self.dirs.root, OsStr::new("VERSION"), &path)?.ok_or_else(|| {
                StoreError::NotAStore {
                    path: self.root.clone(),
                }
            })?;
        let text = String::from_utf8_lossy(&text);
        let found = text.trim();
        if found != STORE_VERSION {
            return Err(StoreError::Version {
                path,
                found: found.to_string(),
            });
        }
        Ok(())
    }
}

/// Opens the store's root: created if asked (and missing), never a link unless named
/// explicitly, and owned by the effective uid.
fn open_root(root: &Path, options: OpenOptions) -> Result<Dir, StoreError> {
    if options.create {
        create_root(root, options.explicit)?;
    }
    let dir = match Dir::open(root, options.explicit) {
        Ok(dir) => dir,
        Err(err) if err.is_not_found() && !options.create => {
            return Err(StoreError::NotAStore {
                path: root.to_path_buf(),
            })
        }
        Err(err) => return Err(err.into()),
    };
    dir.check_owner()?;
    Ok(dir)
}

/// Creates a store's root directory if there is none: its parents as needed, the root
/// itself with `mkdir` (which never follows a link: a link there stays one, refused when
/// opened).
fn create_root(root: &Path, explicit: bool) -> Result<(), StoreError> {
    if explicit {
        return fs::create_dir_all(root).map_err(at(root));
    }
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(at(parent))?;
    }
    match fs::create_dir(root) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => Err(at(root)(err)),
        _ => Ok(()),
    }
}
