//! Content-addressed blobs (`blobs/ab/HASH`): ingested while hashed (one read), verified
//! against their name whenever read back, and removed, never served, when corrupt or
//! when something else than a regular file is at their name.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::path::Path;

use super::handles::{remove_odd_entry, shard};
use super::layout::Store;
use super::messages::warn;
use super::store_error::{at, StoreError};
use crate::fsafe::{Dir, Kind, Meta, Opened};
use crate::model::hash::{hash_reader, CopyingReader, FileHash};

/// Whether a blob is there ([`Store::blob_presence`]).
pub(super) enum Presence {
    /// A regular file.
    File,
    /// Not there.
    Missing,
    /// Removed as bad (now or earlier): why.
    Bad(String),
}

/// A blob as found by [`Store::open_blob`].
enum BlobFile {
    /// A regular file, open for reading.
    File(File, Meta),
    /// No blob of that hash.
    Missing,
    /// Something else was there (a FIFO, a directory, a link); it has been removed.
    Removed,
}

impl Store {
    /// The shard directory of a blob (`blobs/ab/`), created when `create`; `None` when
    /// it does not exist.
    fn blob_shard(&self, hash: &FileHash, create: bool) -> Result<Option<Dir>, StoreError> {
        let hex = hash.0.to_hex();
        shard(&self.dirs.blobs, &hex[..2], create)
    }

    /// Copies a file into the blob store while hashing it (one read), unless the blob is
    /// already there. Whatever is at the blob's name and is not a regular file of the
    /// right size (a FIFO, a directory, a truncated blob) is replaced.
    pub fn ingest_file(&self, src: &Path) -> Result<(FileHash, u64), StoreError> {
        let mut input = File::open(src).map_err(at(src))?;
        self.ingest_open_file(&mut input, src)
    }

    /// [`Store::ingest_file`] for a file the caller has opened (below a work directory,
    /// without following links), read from its current offset; `src` names it in errors.
    pub fn ingest_open_file(
        &self,
        input: &mut File,
        src: &Path,
    ) -> Result<(FileHash, u64), StoreError> {
        self.ingest_reader(input, src)
    }

    /// Stores bytes held in memory as a blob (a blob fetched from a remote cache and
    /// verified there); `origin` names them in errors.
    pub fn ingest_bytes(&self, bytes: &[u8], origin: &Path) -> Result<(FileHash, u64), StoreError> {
        self.ingest_reader(bytes, origin)
    }

    /// Copies what `input` yields into the blob store while hashing it.
    fn ingest_reader(
        &self,
        input: impl io::Read,
        src: &Path,
    ) -> Result<(FileHash, u64), StoreError> {
        let (tmp, mut output) = self.temp_file()?;
        let copied = hash_reader(CopyingReader {
            from: input,
            to: &mut output,
        });
        let (hash, size) = match copied {
            Ok(r) => r,
            Err(source) => {
                self.drop_temp(&tmp);
                return Err(StoreError::Io {
                    path: src.to_path_buf(),
                    source,
                });
            }
        };
        let result = self.place_blob(&tmp, &output, &hash, size);
        if result.is_err() {
            self.drop_temp(&tmp);
        }
        result.map(|()| (hash, size))
    }

    /// Puts the complete temporary file `tmp` in place as blob `hash`, or drops it when
    /// a sound-looking blob is already there (refreshing its mtime: a build uses it now).
    fn place_blob(
        &self,
        tmp: &OsStr,
        file: &File,
        hash: &FileHash,
        size: u64,
    ) -> Result<(), StoreError> {
        let hex = OsString::from(hash.0.to_hex());
        let shard = self
            .blob_shard(hash, true)?
            .ok_or_else(|| at(&self.blob_path(hash))(io::Error::from_raw_os_error(libc::ENOENT)))?;
        match shard.meta_at(&hex).map_err(at(&self.blob_path(hash)))? {
            Some(meta) if meta.kind == Kind::File && meta.size == size => {
                // A file that cannot be touched (a store shared with another user)
                // still counts; one gone meanwhile (gc) is written anew.
                match shard.touch_at(&hex) {
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    _ => {
                        self.drop_temp(tmp);
                        return Ok(());
                    }
                }
            }
            // A regular file of another size is replaced by the rename below.
            Some(meta) if meta.kind == Kind::File => {}
            Some(meta) => {
                let path = self.blob_path(hash);
                remove_odd_entry(&shard, &hex, &meta).map_err(at(&path))?;
                warn(&format!(
                    "store: {}: {} where a blob belongs; removed, and the blob was written anew",
                    path.display(),
                    meta.kind.describe()
                ));
            }
            None => {}
        }
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(fs::Permissions::from_mode(0o444));
        self.dirs
            .tmp
            .rename_at(tmp, &shard, &hex)
            .map_err(at(&self.blob_path(hash)))
    }

    /// Whether a blob is present (a regular file; its content is not verified). Anything
    /// else at its name (a FIFO, a directory, a link) is removed, as a corrupt blob is.
    pub fn has_blob(&self, hash: &FileHash) -> bool {
        let Ok(Some(shard)) = self.blob_shard(hash, false) else {
            return false;
        };
        let hex = OsString::from(hash.0.to_hex());
        match shard.meta_at(&hex) {
            Ok(Some(meta)) if meta.kind == Kind::File => true,
            Ok(Some(meta)) => {
                // Noted in `removed/`: a lookup says why the step runs again.
                self.discard_odd_blob(&shard, hash, &meta);
                false
            }
            _ => false,
        }
    }

    /// Opens a blob for reading. Never blocks (a FIFO is not opened) and never follows
    /// a link; anything but a regular file is removed and reported as gone.
    fn open_blob(&self, hash: &FileHash) -> Result<BlobFile, StoreError> {
        let Some(shard) = self.blob_shard(hash, false)? else {
            return Ok(BlobFile::Missing);
        };
        let hex = OsString::from(hash.0.to_hex());
        match shard
            .open_file_at(&hex)
            .map_err(at(&self.blob_path(hash)))?
        {
            Opened::File(file, meta) => Ok(BlobFile::File(file, meta)),
            Opened::Missing => Ok(BlobFile::Missing),
            Opened::Other(meta) => {
                self.discard_odd_blob(&shard, hash, &meta);
                Ok(BlobFile::Removed)
            }
        }
    }

    /// Opens a blob for reading (content not verified): a regular file, opened by
    /// handle, never through a link and never blocking; `None` when there is none.
    pub fn open_blob_file(&self, hash: &FileHash) -> Option<File> {
        match self.open_blob(hash) {
            Ok(BlobFile::File(file, _)) => Some(file),
            _ => None,
        }
    }

    /// Removes a non-regular entry at a blob's name, notes it in `removed/` and warns.
    fn discard_odd_blob(&self, shard: &Dir, hash: &FileHash, meta: &Meta) {
        let path = self.blob_path(hash);
        let hex = OsString::from(hash.0.to_hex());
        let why = format!("{} where a blob belongs", meta.kind.describe());
        match remove_odd_entry(shard, &hex, meta) {
            Ok(()) => {
                self.note_removed(hash, &why);
                warn(&format!(
                    "store: {}: {why}; removed, and the step that made the blob runs again",
                    path.display()
                ));
            }
            Err(err) => warn(&format!(
                "store: {}: {why}, and it cannot be removed ({err}); remove it by hand",
                path.display()
            )),
        }
    }

    /// Removes blob `hash` whose content no longer matches (it was read as `seen`), unless
    /// a build has meanwhile put a fresh one in its place; notes it in `removed/`.
    pub(super) fn discard_corrupt_blob(
        &self,
        hash: &FileHash,
        seen: &Meta,
        why: &str,
    ) -> io::Result<()> {
        let hex = OsString::from(hash.0.to_hex());
        let Ok(Some(shard)) = self.blob_shard(hash, false) else {
            return Ok(());
        };
        if self.take_aside(&shard, &hex, Some(seen))?.is_some() {
            self.note_removed(hash, why);
        }
        Ok(())
    }

    /// Whether a blob's bytes still match its hash (streamed). A corrupt blob is removed,
    /// as when it is copied out, so that the step that made it runs again.
    pub fn blob_is_intact(&self, hash: &FileHash) -> Result<bool, StoreError> {
        let (file, meta) = match self.open_blob(hash)? {
            BlobFile::File(file, meta) => (file, meta),
            BlobFile::Missing | BlobFile::Removed => return Ok(false),
        };
        let (actual, _) = hash_reader(file).map_err(at(&self.blob_path(hash)))?;
        if actual != *hash {
            let why = format!("its content hashes to {actual}");
            let _ = self.discard_corrupt_blob(hash, &meta, &why);
            warn(&format!(
                "store: {}: corrupt blob ({why}); removed, and the step that made it runs again",
                self.blob_path(hash).display()
            ));
            return Ok(false);
        }
        Ok(true)
    }

    /// Copies a blob to the new file `dest` (mode `mode`), verifying its hash on the
    /// way. A corrupt blob is removed and reported, never served.
    pub fn copy_blob(&self, hash: &FileHash, dest: &Path, mode: u32) -> Result<(), StoreError> {
        use std::os::unix::fs::PermissionsExt;
        let src = self.blob_path(hash);
        let (mut input, meta) = match self.open_blob(hash)? {
            BlobFile::File(file, meta) => (file, meta),
            BlobFile::Missing => return Err(at(&src)(io::Error::from_raw_os_error(libc::ENOENT))),
            BlobFile::Removed => return Err(StoreError::CorruptBlob(*hash)),
        };
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(at(parent))?;
        }
        let mut output = File::options()
            .write(true)
            .create_new(true)
            .open(dest)
            .map_err(at(dest))?;
        let (actual, _) = hash_reader(CopyingReader {
            from: &mut input,
            to: &mut output,
        })
        .map_err(at(dest))?;
        if actual != *hash {
            let _ =
                self.discard_corrupt_blob(hash, &meta, &format!("its content hashes to {actual}"));
            let _ = fs::remove_file(dest);
            return Err(StoreError::CorruptBlob(*hash));
        }
        output
            .set_permissions(fs::Permissions::from_mode(mode & 0o7777))
            .map_err(at(dest))
    }

    /// Whether blob `hash` is a regular file; anything else at its name is removed (and
    /// said), and a blob removed earlier as corrupt is said too.
    pub(super) fn blob_presence(&self, hash: &FileHash) -> Presence {
        if self.has_blob(hash) {
            return Presence::File;
        }
        match self.removal_reason(hash) {
            Some(why) => Presence::Bad(format!("was removed from the store ({why})")),
            None => Presence::Missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hash::Digest;

    #[test]
    fn ingest_then_copy_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let src = dir.path().join("f");
        fs::write(&src, b"hello").unwrap();
        let (hash, size) = store.ingest_file(&src).unwrap();
        assert_eq!(size, 5);
        assert_eq!(hash.0, Digest::of_bytes(b"hello"));
        let dest = dir.path().join("out/g");
        store.copy_blob(&hash, &dest, 0o755).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");
    }

    #[test]
    fn corrupt_blob_is_detected_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let src = dir.path().join("f");
        fs::write(&src, b"hello").unwrap();
        let (hash, _) = store.ingest_file(&src).unwrap();
        let blob = store.blob_path(&hash);
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&blob, b"jello").unwrap();
        let err = store
            .copy_blob(&hash, &dir.path().join("g"), 0o644)
            .unwrap_err();
        assert!(matches!(err, StoreError::CorruptBlob(_)));
        assert!(!blob.exists());
    }

    #[test]
    fn a_link_where_a_blob_belongs_is_never_read_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let secret = dir.path().join("secret");
        fs::write(&secret, b"secret").unwrap();
        let src = dir.path().join("f");
        fs::write(&src, b"hello").unwrap();
        let (hash, _) = store.ingest_file(&src).unwrap();
        let blob = store.blob_path(&hash);
        fs::remove_file(&blob).unwrap();
        std::os::unix::fs::symlink(&secret, &blob).unwrap();
        assert!(store.open_blob_file(&hash).is_none());
        assert!(blob.symlink_metadata().is_err(), "the link is removed");
        assert_eq!(fs::read(&secret).unwrap(), b"secret");
        let err = store
            .copy_blob(&hash, &dir.path().join("out"), 0o644)
            .unwrap_err();
        assert!(err.to_string().contains("No such file"), "{err}");
    }

    #[test]
    fn a_fifo_or_a_directory_where_a_blob_belongs_is_replaced_when_ingested() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let src = dir.path().join("f");
        fs::write(&src, b"hello").unwrap();
        let (hash, _) = store.ingest_file(&src).unwrap();
        let blob = store.blob_path(&hash);
        fs::remove_file(&blob).unwrap();
        nix::unistd::mkfifo(&blob, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(!store.blob_is_intact(&hash).unwrap(), "a FIFO is no blob");
        assert!(blob.symlink_metadata().is_err(), "and it is removed");
        fs::create_dir_all(blob.join("sub")).unwrap();
        store.ingest_file(&src).unwrap();
        assert_eq!(fs::read(&blob).unwrap(), b"hello");
    }
}
