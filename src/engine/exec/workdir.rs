//! A step's work directory: its declared inputs copied from the project by handle (never
//! through a link leading out) and checked against the hashes its key was computed with,
//! and its deps' outputs placed from the store's verified blobs.

use std::fs;
use std::io::{Seek, SeekFrom};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::Duration;

use super::profile::SandboxProfile;
use crate::model::hash::{hash_reader, CopyingReader, FileHash};
use crate::model::inputs::{self, StepInputs};
use crate::model::tree::{EntryType, TreeEntry};
use crate::store::{Store, StoreError};

/// Why a work directory could not be prepared.
pub(super) enum PrepareError {
    /// A dep's output blob is corrupt or missing in the store (a corrupt one has been
    /// removed by [`Store::copy_blob`]).
    BadDepBlob { hash: FileHash, why: String },
    /// Anything else.
    Other(String),
}

impl From<String> for PrepareError {
    fn from(why: String) -> Self {
        PrepareError::Other(why)
    }
}

/// Where a step's work directory is filled from.
pub(super) struct WorkdirSources<'a> {
    /// The store: the deps' outputs are its blobs, and inputs are kept in it.
    pub(super) store: &'a Store,
    /// The project's root (the graph's directory), where the inputs are.
    pub(super) project_root: &'a Path,
    /// The step's name, for messages.
    pub(super) step: &'a str,
    /// The build's file order and clock offset.
    pub(super) profile: &'a SandboxProfile,
}

impl WorkdirSources<'_> {
    /// Fills the work directory with the declared inputs and the deps' outputs.
    pub(super) fn prepare_workdir(
        &self,
        work: &Path,
        inputs: &StepInputs,
        dep_outputs: &[TreeEntry],
    ) -> Result<(), PrepareError> {
        fs::create_dir_all(work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let mut files: Vec<_> = inputs.files.iter().collect();
        if self.profile.reverse_file_order {
            files.reverse();
        }
        let project = inputs::open_root(self.project_root)
            .map_err(|e| format!("cannot open {}: {e}", self.project_root.display()))?;
        let work_fd = crate::fsafe::beneath::open_root(work)
            .map_err(|e| format!("cannot open {}: {e}", work.display()))?;
        for file in files {
            self.place_input(project.as_fd(), work_fd.as_fd(), file)
                .map_err(|e| format!("input `{}`: {e}", file.path))?;
        }
        let mut entries: Vec<&TreeEntry> = dep_outputs.iter().collect();
        if self.profile.reverse_file_order {
            entries.reverse();
            entries.sort_by_key(|e| e.kind != EntryType::Dir);
        }
        for entry in entries {
            self.materialize(work, entry).map_err(|e| match e {
                PrepareError::BadDepBlob { hash, why } => PrepareError::BadDepBlob {
                    hash,
                    why: format!("dep output `{}`: {why}", entry.path),
                },
                PrepareError::Other(why) => {
                    PrepareError::Other(format!("dep output `{}`: {why}", entry.path))
                }
            })?;
        }
        if self.profile.clock_offset_secs != 0 {
            shift_mtimes(work, -self.profile.clock_offset_secs)
                .map_err(|e| format!("clock variation: {e}"))?;
        }
        Ok(())
    }

    fn materialize(&self, work: &Path, entry: &TreeEntry) -> Result<(), PrepareError> {
        let result = self.store.materialize_entry(work, entry, entry.mode);
        match (result, entry.sha256) {
            (Ok(()), _) => Ok(()),
            (Err(err), Some(hash)) if entry.kind == EntryType::File => Err(blob_error(hash, err)),
            (Err(err), _) => Err(PrepareError::Other(err.to_string())),
        }
    }

    /// Puts one input into the work directory: a link as the same link, a file copied
    /// from the project through a handle opened below it (never through a link leading
    /// out), checked against the hash the key was computed with, and kept in the store.
    fn place_input(
        &self,
        project: BorrowedFd<'_>,
        work: BorrowedFd<'_>,
        file: &inputs::InputFile,
    ) -> Result<(), String> {
        let (dir, name) =
            crate::fsafe::beneath::make_parents(work, &file.path).map_err(|e| e.to_string())?;
        let entry =
            inputs::open_input(project, self.step, &file.path).map_err(|e| e.to_string())?;
        match (entry, &file.link) {
            (inputs::InputEntry::Link(target), Some(expected)) if target == *expected => {
                crate::fsafe::beneath::symlink_at(&target, dir.as_fd(), name)
                    .map_err(|e| e.to_string())
            }
            (inputs::InputEntry::File(mut source), None) => {
                copy_input(&mut source, dir.as_fd(), name, &file.sha256)
                    .map_err(|e| e.to_string())?;
                if !self.store.has_blob(&file.sha256) {
                    source.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
                    self.store
                        .ingest_open_file(&mut source, &self.project_root.join(&file.path))
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            _ => Err(CHANGED_DURING_BUILD.to_string()),
        }
    }
}

/// Sorts a failure to copy a blob: corrupt or missing means "rebuild the dep".
fn blob_error(hash: FileHash, err: StoreError) -> PrepareError {
    let bad = match &err {
        StoreError::CorruptBlob(_) => true,
        StoreError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    };
    if bad {
        PrepareError::BadDepBlob {
            hash,
            why: err.to_string(),
        }
    } else {
        PrepareError::Other(err.to_string())
    }
}

/// What a changed input is told with.
const CHANGED_DURING_BUILD: &str = "the file changed while the build was running";

/// Copies an open input file into the new file `name` of `dir` (with its permission
/// bits), checking that its bytes still hash to `expected`.
fn copy_input(
    source: &mut fs::File,
    dir: BorrowedFd<'_>,
    name: &str,
    expected: &FileHash,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = source.metadata()?.permissions().mode();
    let dest = crate::fsafe::beneath::create_file_at(dir, name, mode)?;
    // The creation mode went through the umask: set the bits as the source has them.
    dest.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
    let actual = hash_reader(CopyingReader {
        from: source,
        to: dest,
    })?;
    if actual.0 != *expected {
        return Err(std::io::Error::other(CHANGED_DURING_BUILD));
    }
    Ok(())
}

/// Sets every file's mtime in the work directory to now + `offset` seconds, as if the
/// inputs had been checked out at that time. `check` passes a negative offset: inputs
/// older than anything the step writes, so make and ninja see nothing out of date.
fn shift_mtimes(work: &Path, offset: i64) -> std::io::Result<()> {
    let now = std::time::SystemTime::now();
    let shifted = if offset >= 0 {
        now + Duration::from_secs(offset.unsigned_abs())
    } else {
        now - Duration::from_secs(offset.unsigned_abs())
    };
    for entry in walkdir::WalkDir::new(work).min_depth(1) {
        let entry = entry.map_err(std::io::Error::other)?;
        if entry.file_type().is_file() {
            fs::File::options()
                .write(true)
                .open(entry.path())?
                .set_modified(shifted)?;
        }
    }
    Ok(())
}
