//! Writing into the store: every write goes to a temporary file in `tmp/` and is renamed
//! into place, so readers never see half an entry; durability is batched (one `syncfs`
//! when a build ends), except for manifests, fsynced one by one.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::Path;

use super::layout::Store;
use super::store_error::{at, StoreError};
use crate::fsafe::Dir;

impl Store {
    /// Writes a file atomically and durably: temp file, fsync, rename (manifests). `dest`
    /// must be a file directly in the store's directory or in `builds/`.
    pub fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let (dir, name) = self.locate(dest)?;
        self.write_renamed(dir, name, bytes, true)
    }

    /// The handle of the store directory holding `dest`, and its name there.
    fn locate<'a>(&self, dest: &'a Path) -> Result<(&Dir, &'a OsStr), StoreError> {
        let parent = dest.parent().unwrap_or(Path::new(""));
        let dir = [&self.dirs.root, &self.dirs.builds]
            .into_iter()
            .find(|d| d.path() == parent);
        match (dir, dest.file_name()) {
            (Some(dir), Some(name)) => Ok((dir, name)),
            _ => Err(StoreError::BadEntry {
                path: dest.to_path_buf(),
                error: format!(
                    "not a file of the store's directory or of its builds/ ({})",
                    self.root.display()
                ),
            }),
        }
    }

    /// Flushes everything written to the store's file system (`syncfs`): the end of a
    /// build's batch of blobs and action entries.
    pub fn sync(&self) -> Result<(), StoreError> {
        // SAFETY: syncfs on a live fd.
        let rc = unsafe { libc::syncfs(self.dirs.root.raw_fd()) };
        if rc != 0 {
            return Err(at(&self.root)(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Temp file, optionally fsynced, renamed to `name` in `dir`.
    pub(super) fn write_renamed(
        &self,
        dir: &Dir,
        name: &OsStr,
        bytes: &[u8],
        fsync: bool,
    ) -> Result<(), StoreError> {
        let (tmp, mut file) = self.temp_file()?;
        let tmp_path = self.dirs.tmp.path().join(&tmp);
        let result = file
            .write_all(bytes)
            .and_then(|_| if fsync { file.sync_all() } else { Ok(()) })
            .map_err(at(&tmp_path))
            .and_then(|_| {
                self.dirs
                    .tmp
                    .rename_at(&tmp, dir, name)
                    .map_err(at(&dir.path().join(name)))
            });
        if result.is_err() {
            self.drop_temp(&tmp);
        }
        result
    }
}
