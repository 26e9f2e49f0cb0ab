//! The local store (`.reprobe/`): content-addressed blobs, the action cache and build
//! manifests (docs/design.md section 8).
//!
//! Every write goes to a temporary file in the store's own `tmp/` and is renamed into
//! place, so readers never see half an entry and several processes can share one store.
//! A blob is verified against its name whenever it is read back, and an action entry
//! that does not parse is a miss.
//!
//! Durability is batched, as git's `core.fsyncMethod=batch`: blobs and action entries are
//! not fsynced one by one (two fsyncs were a tenth of a trivial step's cost); the executor
//! calls [`Store::sync`] (one `syncfs`) when a build ends, before its manifest is written
//! and fsynced. A power cut in the middle of a build can thus lose that build's newest
//! entries (cache misses, rebuilt next time), never serve a wrong one: what was renamed
//! into place but not flushed reads back short or empty, and fails verification. What
//! `check` stores while re-running single steps (cascades, bisection) is left to the
//! kernel's writeback: losing it loses nothing a later run does not redo.
//!
//! The store never acts through a link. Its root and each of its directories are opened
//! once, `O_DIRECTORY|O_NOFOLLOW`, checked to belong to the effective uid, and every
//! creation, rename, chmod and removal below them is relative to those handles (module
//! [`crate::fsafe`]): a link where a store directory belongs is an error naming it, and
//! a project that commits `.reprobe/tmp -> /` gets that error, not an empty `/`. Only a
//! root given explicitly (`--store`, `REPROBE_STORE`) may itself be a link, followed once
//! when it is opened. Anything that is not a regular file where a blob or an action entry
//! belongs (a FIFO, a directory) is never opened: it is removed, by handle, like a
//! corrupt blob, and its step runs again. A blob removed as corrupt is noted in
//! `removed/HASH`, so that `store verify` knows the past builds naming it are history.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::fsafe::{Dir, DirError, Kind, Meta, Opened};
use crate::model::findings::{Observed, SandboxFindings};
use crate::model::hash::{ContentHash, DerivationHash, Digest, FileHash, InputHash};
use crate::model::tree::{EntryType, TreeEntry};

/// The schema of action-cache entries.
pub const ACTION_SCHEMA: &str = "reprobe/action/1";

mod maintenance;
mod scratch;
pub use maintenance::{GcOptions, GcReport, Problem, ProblemKind, VerifyReport};

/// Store layout version, written once into `VERSION`.
pub const STORE_VERSION: &str = "reprobe-store/1";

/// The directories of a store, each created by reprobe and opened by handle.
const SUBDIRS: [&str; 4] = ["blobs", "actions", "builds", "tmp"];

/// The directory of notes on blobs removed as corrupt (`removed/HASH`): a past build's
/// manifest that names such a blob is history, not damage, for `store verify`.
const REMOVED_DIR: &str = "removed";

/// Largest action entry or `VERSION` file read (a bigger one is not reprobe's).
const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

/// What the action cache remembers of one successful step run, by input hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionEntry {
    /// Always [`ACTION_SCHEMA`].
    pub schema: String,
    /// The key.
    pub input_hash: InputHash,
    /// The step's derivation hash when it ran.
    pub derivation_hash: DerivationHash,
    /// What it produced.
    pub content_hash: ContentHash,
    /// Its output tree; every file is a blob in the store.
    pub outputs: Vec<TreeEntry>,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
    /// What the run's sandbox found (network attempts, undeclared reads): a hit reports
    /// them again, so a warm cache cannot hide them from `--deny-network-attempts`.
    #[serde(default, skip_serializing_if = "SandboxFindings::is_empty")]
    pub findings: SandboxFindings,
    /// What the run was observed for; a hit is taken only when it covers the current
    /// build's observation.
    #[serde(default)]
    pub observed: Observed,
}

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

/// Whether `-v` notes of the store (scratch directory choices) are printed.
static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Turns the store's `-v` notes on or off (the command line's `--verbose`).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// A `-v` note on stderr.
fn note(message: &str) {
    if VERBOSE.load(Ordering::Relaxed) {
        eprintln!("reprobe: {message}");
    }
}

/// A warning on stderr: something in the store was wrong and has been repaired.
fn warn(message: &str) {
    eprintln!("reprobe: warning: {message}");
}

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

/// The store's own directories, opened by handle once.
#[derive(Debug)]
struct Dirs {
    root: Dir,
    blobs: Dir,
    actions: Dir,
    builds: Dir,
    tmp: Dir,
}

/// An opened store directory.
#[derive(Debug, Clone)]
pub struct Store {
    /// Where the root really is (for messages, and to hide it from steps).
    root: PathBuf,
    dirs: Arc<Dirs>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What the action cache holds for a key ([`Store::lookup`]).
#[derive(Debug)]
pub enum Lookup {
    /// A usable entry (boxed: an entry is large beside the other answers).
    Hit(Box<ActionEntry>),
    /// No entry, or one that cannot be used (unreadable, a blob gone: gc).
    Miss,
    /// An entry whose output blob was found bad (corrupt, a FIFO, a directory) and has
    /// been removed: the step must run again, and the build should say why.
    Broken {
        /// The bad blob.
        blob: FileHash,
        /// What was wrong with it, for people ("was removed from the store (...)").
        why: String,
    },
}

/// Whether a blob is there ([`Store::blob_presence`]).
enum Presence {
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

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (for messages and readers; the store itself acts by handle).
    pub fn blob_path(&self, hash: &FileHash) -> PathBuf {
        let hex = hash.0.to_hex();
        self.root.join("blobs").join(&hex[..2]).join(hex)
    }

    fn action_path(&self, key: &InputHash) -> PathBuf {
        let (shard, name) = action_name(key);
        self.root.join("actions").join(shard).join(name)
    }

    /// The directory of build manifests.
    pub fn builds_dir(&self) -> PathBuf {
        self.root.join("builds")
    }

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
    fn temp_file(&self) -> Result<(OsString, File), StoreError> {
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
    fn drop_temp(&self, name: &OsStr) {
        let _ = self.dirs.tmp.unlink_at(name);
    }

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
    fn write_renamed(
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
        let (tmp, mut output) = self.temp_file()?;
        let copied = copy_hashing(input, &mut output);
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
    fn discard_corrupt_blob(&self, hash: &FileHash, seen: &Meta, why: &str) -> io::Result<()> {
        let hex = OsString::from(hash.0.to_hex());
        let Ok(Some(shard)) = self.blob_shard(hash, false) else {
            return Ok(());
        };
        if self.take_aside(&shard, &hex, Some(seen))?.is_some() {
            self.note_removed(hash, why);
        }
        Ok(())
    }

    /// Moves `name` out of `dir` into `tmp/` and removes it there, if it is still the
    /// file `expected` (a rename by a concurrent build may have replaced it with a sound
    /// one: that one is put back). Returns the removed file's metadata.
    fn take_aside(
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
    fn aside_name(&self, what: &str) -> OsString {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        OsString::from(format!("{}-{n}-{what}.part", std::process::id()))
    }

    /// Records that blob `hash` was removed as corrupt (`removed/HASH`), so that the
    /// past builds whose manifests name it are not reported as damaged.
    fn note_removed(&self, hash: &FileHash, why: &str) {
        let Ok(dir) = self.dirs.root.ensure_dir_at(OsStr::new(REMOVED_DIR), 0o777) else {
            return;
        };
        let when = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let text = format!("{when} removed: {why}\n");
        let _ = self.write_renamed(&dir, OsStr::new(&hash.0.to_hex()), text.as_bytes(), false);
    }

    /// The blobs noted in `removed/`, and the names there that are not such notes.
    fn removed_notes(&self) -> (Vec<FileHash>, Vec<OsString>) {
        let Ok(dir) = self.dirs.root.open_dir_at(OsStr::new(REMOVED_DIR)) else {
            return (Vec::new(), Vec::new());
        };
        let (mut notes, mut strays) = (Vec::new(), Vec::new());
        for name in dir.names().unwrap_or_default() {
            let hash = name.to_str().and_then(|n| {
                let hash: FileHash = n.parse().ok()?;
                (hash.0.to_hex() == n).then_some(hash)
            });
            let regular = dir
                .meta_at(&name)
                .ok()
                .flatten()
                .is_some_and(|m| m.kind == Kind::File);
            match hash {
                Some(hash) if regular => notes.push(hash),
                _ => strays.push(name),
            }
        }
        (notes, strays)
    }

    /// Whether a blob's bytes still match its hash (streamed). A corrupt blob is removed,
    /// as when it is copied out, so that the step that made it runs again.
    pub fn blob_is_intact(&self, hash: &FileHash) -> Result<bool, StoreError> {
        let (file, meta) = match self.open_blob(hash)? {
            BlobFile::File(file, meta) => (file, meta),
            BlobFile::Missing | BlobFile::Removed => return Ok(false),
        };
        let (actual, _) =
            crate::model::hash::hash_reader(file).map_err(at(&self.blob_path(hash)))?;
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
        let (actual, _) = copy_hashing(&mut input, &mut output).map_err(at(dest))?;
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

    /// Looks a step up in the action cache. An entry whose blobs are missing counts as a
    /// miss (it will be rewritten by the next run).
    pub fn lookup_action(&self, key: &InputHash) -> Result<Option<ActionEntry>, StoreError> {
        Ok(match self.lookup(key)? {
            Lookup::Hit(entry) => Some(*entry),
            Lookup::Miss | Lookup::Broken { .. } => None,
        })
    }

    /// Looks a step up in the action cache, saying why an entry that is there cannot be
    /// used when one of its blobs was found bad ([`Lookup::Broken`]).
    pub fn lookup(&self, key: &InputHash) -> Result<Lookup, StoreError> {
        let Some(entry) = self.read_action_entry(key)? else {
            return Ok(Lookup::Miss);
        };
        for hash in entry.outputs.iter().filter_map(|e| e.sha256.as_ref()) {
            match self.blob_presence(hash) {
                Presence::File => {}
                Presence::Missing => return Ok(Lookup::Miss),
                Presence::Bad(why) => return Ok(Lookup::Broken { blob: *hash, why }),
            }
        }
        // A hit refreshes the entry's mtime, so that `store gc` (which spares young
        // entries) does not collect it under a running build; if gc just took it, miss.
        let (shard_name, name) = action_name(key);
        let touched = match shard(&self.dirs.actions, &shard_name, false)? {
            Some(shard) => match shard.touch_at(OsStr::new(&name)) {
                Ok(()) => true,
                Err(err) => err.kind() != io::ErrorKind::NotFound,
            },
            None => false,
        };
        Ok(if touched {
            Lookup::Hit(Box::new(entry))
        } else {
            Lookup::Miss
        })
    }

    /// Whether blob `hash` is a regular file; anything else at its name is removed (and
    /// said), and a blob removed earlier as corrupt is said too.
    fn blob_presence(&self, hash: &FileHash) -> Presence {
        if self.has_blob(hash) {
            return Presence::File;
        }
        let hex = hash.0.to_hex();
        let noted = self
            .dirs
            .root
            .open_dir_at(OsStr::new(REMOVED_DIR))
            .ok()
            .and_then(|dir| {
                read_regular(&dir, OsStr::new(&hex), Path::new(&hex))
                    .ok()
                    .flatten()
            });
        match noted {
            Some(text) => {
                let text = String::from_utf8_lossy(&text);
                let why = text
                    .split_once(" removed: ")
                    .map_or(text.trim(), |(_, w)| w.trim());
                Presence::Bad(format!("was removed from the store ({why})"))
            }
            None => Presence::Missing,
        }
    }

    /// Reads and checks the action entry of `key` (`None`: none, or not usable).
    fn read_action_entry(&self, key: &InputHash) -> Result<Option<ActionEntry>, StoreError> {
        let (shard_name, name) = action_name(key);
        let Some(shard) = shard(&self.dirs.actions, &shard_name, false)? else {
            return Ok(None);
        };
        let path = self.action_path(key);
        let name = OsString::from(name);
        let text = match read_regular(&shard, &name, &path) {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(None),
            Err(StoreError::Misplaced { kind, .. }) => {
                if let Ok(Some(meta)) = shard.meta_at(&name) {
                    if remove_odd_entry(&shard, &name, &meta).is_ok() {
                        warn(&format!(
                            "store: {}: {kind} where an action entry belongs; removed (a cache miss)",
                            path.display()
                        ));
                    }
                }
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let entry: ActionEntry = match serde_json::from_slice(&text) {
            Ok(entry) => entry,
            Err(_) => return Ok(None),
        };
        if entry.schema != ACTION_SCHEMA || entry.input_hash != *key {
            return Ok(None);
        }
        Ok(Some(entry))
    }

    /// Records a step's outputs under its input hash.
    pub fn record_action(&self, entry: &ActionEntry) -> Result<(), StoreError> {
        let path = self.action_path(&entry.input_hash);
        let bytes = serde_json::to_vec_pretty(entry).map_err(|e| StoreError::BadEntry {
            path: path.clone(),
            error: e.to_string(),
        })?;
        let (shard_name, name) = action_name(&entry.input_hash);
        let shard = shard(&self.dirs.actions, &shard_name, true)?
            .ok_or_else(|| at(&path)(io::Error::from_raw_os_error(libc::ENOENT)))?;
        self.write_renamed(&shard, OsStr::new(&name), &bytes, false)
    }

    /// Removes temporary files and directories left by processes that no longer run, in
    /// `tmp/` and in the user's scratch directory (only there, by handle); returns how
    /// many there are. With `count_only`, nothing is removed.
    fn remove_stale_temporaries(&self, count_only: bool) -> usize {
        let mut removed = remove_dead_process_entries(&self.dirs.tmp, count_only);
        if let Some(scratch) = scratch::existing_shared() {
            removed += remove_dead_process_entries(&scratch, count_only);
        }
        removed
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

/// The shard directory `name` of `dir` (`blobs/ab`, `actions/ab`), created when asked;
/// `None` when it does not exist.
fn shard(dir: &Dir, name: &str, create: bool) -> Result<Option<Dir>, StoreError> {
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

/// The shard and file name of an action entry.
fn action_name(key: &InputHash) -> (String, String) {
    let hex = key.0.to_hex();
    (hex[..2].to_string(), format!("{hex}.json"))
}

/// Reads the regular file `name` of `dir` (`None` when absent); anything else there is
/// [`StoreError::Misplaced`], and is never opened.
fn read_regular(dir: &Dir, name: &OsStr, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
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
fn remove_odd_entry(dir: &Dir, name: &OsStr, meta: &Meta) -> io::Result<()> {
    match dir.meta_at(name)? {
        Some(now) if now.same_file(meta) => dir.remove_all_at(name),
        _ => Ok(()),
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

impl Store {
    /// Recreates one recorded output entry below `root`: a directory, a symlink (never
    /// followed) or a file copied from its verified blob with `mode`. An existing entry
    /// at the destination is replaced. Nothing is ever written through a symlink: a
    /// destination whose parent inside `root` is a symlink is refused.
    pub fn materialize_entry(
        &self,
        root: &Path,
        entry: &TreeEntry,
        mode: u32,
    ) -> Result<(), StoreError> {
        let dest = root.join(&entry.path);
        refuse_symlinked_parents(root, &dest)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(at(parent))?;
        }
        match entry.kind {
            EntryType::Dir => fs::create_dir_all(&dest).map_err(at(&dest)),
            EntryType::Symlink => {
                let _ = fs::remove_file(&dest);
                let target = entry.target.as_deref().unwrap_or_default();
                std::os::unix::fs::symlink(target, &dest).map_err(at(&dest))
            }
            EntryType::File => {
                let _ = fs::remove_file(&dest);
                match entry.sha256 {
                    Some(hash) => self.copy_blob(&hash, &dest, mode),
                    None => Err(StoreError::BadEntry {
                        path: dest,
                        error: "a file entry without a hash".into(),
                    }),
                }
            }
        }
    }
}

/// Fails when any existing directory between `root` and `dest` is a symlink.
fn refuse_symlinked_parents(root: &Path, dest: &Path) -> Result<(), StoreError> {
    let Ok(rel) = dest.strip_prefix(root) else {
        return Err(StoreError::BadEntry {
            path: dest.to_path_buf(),
            error: "outside the destination directory".into(),
        });
    };
    let mut current = root.to_path_buf();
    let components: Vec<_> = rel.components().collect();
    for component in components.iter().take(components.len().saturating_sub(1)) {
        current.push(component);
        if fs::symlink_metadata(&current).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(StoreError::BadEntry {
                path: dest.to_path_buf(),
                error: format!(
                    "refusing to write through the symlink {}",
                    current.display()
                ),
            });
        }
    }
    Ok(())
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

/// Copies `input` to `output` and returns the sha256 and length of what was copied.
fn copy_hashing(input: &mut impl Read, output: &mut impl Write) -> io::Result<(FileHash, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buffer[..n]);
        output.write_all(&buffer[..n])?;
        size += n as u64;
    }
    Ok((FileHash(Digest(hasher.finalize().into())), size))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn action_with_missing_blob_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = InputHash(Digest::of_bytes(b"k"));
        let entry = ActionEntry {
            schema: ACTION_SCHEMA.into(),
            input_hash: key,
            derivation_hash: DerivationHash(Digest::of_bytes(b"d")),
            content_hash: ContentHash(Digest::of_bytes(b"c")),
            outputs: vec![TreeEntry {
                path: "o".into(),
                kind: crate::model::tree::EntryType::File,
                mode: 0o644,
                size: 1,
                sha256: Some(FileHash(Digest::of_bytes(b"x"))),
                target: None,
                mtime: 0,
            }],
            duration_ms: 1,
            findings: Default::default(),
            observed: Default::default(),
        };
        store.record_action(&entry).unwrap();
        assert!(store.lookup_action(&key).unwrap().is_none());
    }

    #[test]
    fn materializing_never_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let work = dir.path().join("work");
        fs::create_dir_all(&work).unwrap();
        std::os::unix::fs::symlink(&outside, work.join("sub")).unwrap();
        let src = dir.path().join("f");
        fs::write(&src, b"evil").unwrap();
        let (hash, _) = store.ingest_file(&src).unwrap();
        let entry = TreeEntry {
            path: "sub/passwd".into(),
            kind: EntryType::File,
            mode: 0o644,
            size: 4,
            sha256: Some(hash),
            target: None,
            mtime: 0,
        };
        let err = store.materialize_entry(&work, &entry, 0o644).unwrap_err();
        assert!(
            err.to_string()
                .contains("refusing to write through the symlink"),
            "{err}"
        );
        assert!(!outside.join("passwd").exists());
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

    #[test]
    fn a_removed_corrupt_blob_makes_its_entry_a_broken_lookup_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let src = dir.path().join("f");
        fs::write(&src, b"x").unwrap();
        let (hash, _) = store.ingest_file(&src).unwrap();
        let key = InputHash(Digest::of_bytes(b"k"));
        let outputs = vec![TreeEntry {
            path: "o".into(),
            kind: EntryType::File,
            mode: 0o644,
            size: 1,
            sha256: Some(hash),
            target: None,
            mtime: 0,
        }];
        store
            .record_action(&ActionEntry {
                schema: ACTION_SCHEMA.into(),
                input_hash: key,
                derivation_hash: DerivationHash(Digest::of_bytes(b"d")),
                content_hash: crate::model::tree::content_hash(&outputs),
                outputs,
                duration_ms: 1,
                findings: Default::default(),
                observed: Default::default(),
            })
            .unwrap();
        assert!(matches!(store.lookup(&key).unwrap(), Lookup::Hit(_)));
        let blob = store.blob_path(&hash);
        fs::remove_file(&blob).unwrap();
        fs::create_dir(&blob).unwrap();
        match store.lookup(&key).unwrap() {
            Lookup::Broken { blob: bad, why } => {
                assert_eq!(bad, hash);
                assert!(why.contains("a directory"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }

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
