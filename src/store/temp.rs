//! The store's temporaries: files and directories in `tmp/` (or in the scratch
//! directory), named after our pid so that a later run removes those of dead processes,
//! and entries moved aside there to be removed.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::layout::Store;
use super::scratch;
use super::store_error::{at, StoreError};
use crate::fsafe::{Dir, Meta};

/// Numbers the temporaries of this process, so that no two get the same name.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// A fresh, private temporary directory for one step's work; its name carries our
    /// pid so a later run can remove it if this process dies.
    pub fn temp_dir(&self, label: &str) -> Result<PathBuf, StoreError> {
        make_temp_dir(&self.dirs.tmp, label)
    }

    /// Like [`Store::temp_dir`], but below `base`, the scratch directory of
    /// [`tmpfs_work_root`] (a tmpfs, whose directory listings follow creation order,
    /// unlike ext4's hashed ones). Any other `base` must be a directory of ours, not a
    /// link.
    pub fn temp_dir_in(&self, base: &Path, label: &str) -> Result<PathBuf, StoreError> {
        if let Some(dir) = scratch::handle_of(base) {
            return make_temp_dir(dir, label);
        }
        let dir = Dir::open(base, false)?;
        dir.check_owner()?;
        make_temp_dir(&dir, label)
    }

    /// Creates a fresh temporary file in `tmp/`, named after our pid (a leftover of that
    /// name is an earlier process's that had our pid: it is replaced).
    pub(super) fn temp_file(&self) -> Result<(OsString, File), StoreError> {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = OsString::from(format!("{}-{n}.part", std::process::id()));
        let tmp = &self.dirs.tmp;
        let path = tmp.path().join(&name);
        let file = match tmp.create_file_at(&name, 0o644) {
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                tmp.remove_all_at(&name).map_err(at(&path))?;
                tmp.create_file_at(&name, 0o644)
            }
            other => other,
        };
        Ok((name, file.map_err(at(&path))?))
    }

    /// Removes a temporary file of ours from `tmp/` (after a failure, or when unused).
    pub(super) fn drop_temp(&self, name: &OsStr) {
        let _ = self.dirs.tmp.unlink_at(name);
    }

    /// Moves `name` out of `dir` into `tmp/` and removes it there, if it is still the
    /// file `expected` (a rename by a concurrent build may have replaced it with a sound
    /// one: that one is put back). Returns the removed file's metadata.
    pub(super) fn take_aside(
        &self,
        dir: &Dir,
        name: &OsStr,
        expected: Option<&Meta>,
    ) -> io::Result<Option<Meta>> {
        let aside = self.aside_name("bad");
        match dir.rename_at(name, &self.dirs.tmp, &aside) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        }
        let moved = self.dirs.tmp.meta_at(&aside)?;
        match (moved, expected) {
            (Some(moved), Some(expected)) if !moved.same_file(expected) => {
                if self
                    .dirs
                    .tmp
                    .rename_noreplace_at(&aside, dir, name)
                    .is_err()
                {
                    self.dirs.tmp.remove_all_at(&aside)?;
                }
                Ok(None)
            }
            (moved, _) => {
                self.dirs.tmp.remove_all_at(&aside)?;
                Ok(moved)
            }
        }
    }

    /// A fresh name in `tmp/` for something being moved out of the way.
    pub(super) fn aside_name(&self, what: &str) -> OsString {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        OsString::from(format!("{}-{n}-{what}.part", std::process::id()))
    }

    /// Removes temporary files and directories left by processes that no longer run, in
    /// `tmp/` and in the user's scratch directory (only there, by handle); returns how
    /// many there are. With `count_only`, nothing is removed.
    pub(super) fn remove_stale_temporaries(&self, count_only: bool) -> usize {
        let mut removed = remove_dead_process_entries(&self.dirs.tmp, count_only);
        if let Some(scratch) = scratch::existing_shared() {
            removed += remove_dead_process_entries(&scratch, count_only);
        }
        removed
    }
}

/// Makes `PID-N-LABEL` in `base` (replacing a leftover of that name: our pid, reused).
fn make_temp_dir(base: &Dir, label: &str) -> Result<PathBuf, StoreError> {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = OsString::from(format!("{}-{n}-{}", std::process::id(), sanitize(label)));
    let path = base.path().join(&name);
    match base.mkdir_at(&name, 0o777) {
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            base.remove_all_at(&name).map_err(at(&path))?;
            base.mkdir_at(&name, 0o777).map_err(at(&path))?;
        }
        other => other.map_err(at(&path))?,
    }
    Ok(path)
}

/// Where `check` makes work directories: the user's own scratch directory on a tmpfs
/// (`/dev/shm/reprobe-UID`, 0700), verified by handle, or a private fallback when that
/// name is taken by a link or another user (module `scratch`). `None` without a tmpfs.
/// There, a directory lists its entries in the order they were created, which the
/// `fileorder` variation relies on (ext4 lists them in hash order).
pub fn tmpfs_work_root() -> Option<PathBuf> {
    scratch::scratch().map(|s| s.path.clone())
}

/// Removes the entries of `dir` named `PID-...` whose process no longer runs and that
/// belong to us, by handle; returns how many there are (removed unless `count_only`).
fn remove_dead_process_entries(dir: &Dir, count_only: bool) -> usize {
    let Ok(names) = dir.names() else {
        return 0;
    };
    let me = crate::fsafe::euid();
    let mut removed = 0;
    for name in names {
        let pid = name
            .to_str()
            .and_then(|n| n.split(['-', '.']).next())
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        let ours = dir
            .meta_at(&name)
            .ok()
            .flatten()
            .is_some_and(|m| m.uid == me);
        if alive || !ours {
            continue;
        }
        if count_only || dir.remove_all_at(&name).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Removes a directory tree that reprobe made (a step's temporary directory), by
/// handle: its parent is opened, the tree is entered only through `O_NOFOLLOW` handles,
/// made writable with `fchmod` where a step left it read-only, and nothing it links to
/// is touched. The tree itself must belong to us.
pub fn remove_tree(path: &Path) {
    let _ = crate::fsafe::remove_own_tree(path);
}

fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        let stale = dir.path().join("tmp/999999999-0-x");
        fs::create_dir_all(&stale).unwrap();
        Store::open(dir.path()).unwrap();
        assert!(!stale.exists());
    }
}
