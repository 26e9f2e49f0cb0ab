//! Single entries of the store's directories, by handle: a shard directory opened (or
//! made), a regular file read (anything else there is never opened), an entry that is
//! not what belongs there removed.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::Path;

use super::layout::MAX_ENTRY_BYTES;
use super::store_error::{at, StoreError};
use crate::fsafe::{Dir, Meta, Opened};

/// The shard directory `name` of `dir` (`blobs/ab`, `actions/ab`), created when asked;
/// `None` when it does not exist.
pub(super) fn shard(dir: &Dir, name: &str, create: bool) -> Result<Option<Dir>, StoreError> {
    if create {
        return Ok(Some(dir.ensure_dir_at(OsStr::new(name), 0o777)?));
    }
    match dir.open_dir_at(OsStr::new(name)) {
        Ok(shard) => {
            shard.check_owner()?;
            Ok(Some(shard))
        }
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Reads the regular file `name` of `dir` (`None` when absent); anything else there is
/// [`StoreError::Misplaced`], and is never opened.
pub(super) fn read_regular(
    dir: &Dir,
    name: &OsStr,
    path: &Path,
) -> Result<Option<Vec<u8>>, StoreError> {
    match dir.open_file_at(name).map_err(at(path))? {
        Opened::Missing => Ok(None),
        Opened::Other(meta) => Err(StoreError::Misplaced {
            path: path.to_path_buf(),
            kind: meta.kind.describe(),
            expected: "a regular file",
        }),
        Opened::File(file, _) => {
            let mut bytes = Vec::new();
            file.take(MAX_ENTRY_BYTES)
                .read_to_end(&mut bytes)
                .map_err(at(path))?;
            Ok(Some(bytes))
        }
    }
}

/// Removes the non-regular entry `name` of `dir` if it is still what `meta` describes.
pub(super) fn remove_odd_entry(dir: &Dir, name: &OsStr, meta: &Meta) -> io::Result<()> {
    match dir.meta_at(name)? {
        Some(now) if now.same_file(meta) => dir.remove_all_at(name),
        _ => Ok(()),
    }
}
