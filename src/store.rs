//! The local store (`.reprobe/`): content-addressed blobs, the action cache and build
//! manifests (DESIGN.md section 8).
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

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::hash::{ContentHash, DerivationHash, Digest, FileHash, InputHash};
use crate::manifest::{Observed, SandboxFindings};
use crate::tree::{EntryType, TreeEntry};

/// The schema of action-cache entries.
pub const ACTION_SCHEMA: &str = "reprobe/action/1";

mod maintenance;
pub use maintenance::{GcOptions, GcReport, Problem, ProblemKind, VerifyReport};

/// Store layout version, written once into `VERSION`.
pub const STORE_VERSION: &str = "reprobe-store/1";

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
}

/// Attaches the path to an I/O error.
pub fn at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An opened store directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// Opens (creating if needed) a store and clears temporary files of dead processes.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for sub in ["blobs", "actions", "builds", "tmp"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(at(&dir))?;
        }
        let root = fs::canonicalize(root).map_err(at(root))?;
        let store = Store { root };
        let version = store.root.join("VERSION");
        if version.exists() {
            store.check_version()?;
        } else {
            store.write_atomic(&version, format!("{STORE_VERSION}\n").as_bytes())?;
        }
        store.remove_stale_temporaries();
        Ok(store)
    }

    /// Opens a store that must already exist (for `store verify` and `store gc`, which
    /// never create one). Clears temporary files of dead processes, like [`Store::open`].
    pub fn open_existing(root: &Path) -> Result<Store, StoreError> {
        if !root.join("VERSION").is_file() {
            return Err(StoreError::NotAStore {
                path: root.to_path_buf(),
            });
        }
        let root = fs::canonicalize(root).map_err(at(root))?;
        let store = Store { root };
        store.check_version()?;
        for sub in ["blobs", "actions", "builds", "tmp"] {
            let dir = store.root.join(sub);
            fs::create_dir_all(&dir).map_err(at(&dir))?;
        }
        store.remove_stale_temporaries();
        Ok(store)
    }

    /// Fails with both versions named when `VERSION` is not this reprobe's layout.
    fn check_version(&self) -> Result<(), StoreError> {
        let path = self.root.join("VERSION");
        let text = fs::read_to_string(&path).map_err(at(&path))?;
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

    /// Where a blob lives.
    pub fn blob_path(&self, hash: &FileHash) -> PathBuf {
        let hex = hash.0.to_hex();
        self.root.join("blobs").join(&hex[..2]).join(hex)
    }

    fn action_path(&self, key: &InputHash) -> PathBuf {
        let hex = key.0.to_hex();
        self.root
            .join("actions")
            .join(&hex[..2])
            .join(format!("{hex}.json"))
    }

    /// The directory of build manifests.
    pub fn builds_dir(&self) -> PathBuf {
        self.root.join("builds")
    }

    /// A fresh, private temporary directory for one step's work; its name carries our
    /// pid so a later run can remove it if this process dies.
    pub fn temp_dir(&self, label: &str) -> Result<PathBuf, StoreError> {
        self.temp_dir_in(&self.root.join("tmp"), label)
    }

    /// Like [`Store::temp_dir`], but below `base` (for example a tmpfs, whose directory
    /// listings follow creation order, unlike ext4's hashed ones).
    pub fn temp_dir_in(&self, base: &Path, label: &str) -> Result<PathBuf, StoreError> {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("{}-{n}-{}", std::process::id(), sanitize(label)));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(at(&dir))?;
        }
        fs::create_dir_all(&dir).map_err(at(&dir))?;
        Ok(dir)
    }

    fn temp_file(&self) -> Result<(PathBuf, File), StoreError> {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = self
            .root
            .join("tmp")
            .join(format!("{}-{n}.part", std::process::id()));
        let file = File::create(&path).map_err(at(&path))?;
        Ok((path, file))
    }

    /// Writes a file atomically and durably: temp file, fsync, rename (manifests).
    pub fn write_atomic(&self, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_renamed(dest, bytes, true)
    }

    /// Writes a cache entry atomically; durable at the next [`Store::sync`].
    fn write_entry(&self, dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        self.write_renamed(dest, bytes, false)
    }

    /// Flushes everything written to the store's file system (`syncfs`): the end of a
    /// build's batch of blobs and action entries.
    pub fn sync(&self) -> Result<(), StoreError> {
        let dir = File::open(&self.root).map_err(at(&self.root))?;
        // SAFETY: syncfs on a live fd.
        let rc = unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) };
        if rc != 0 {
            return Err(at(&self.root)(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Temp file, optionally fsynced, renamed to `dest`.
    fn write_renamed(&self, dest: &Path, bytes: &[u8], fsync: bool) -> Result<(), StoreError> {
        let (tmp, mut file) = self.temp_file()?;
        let result = file
            .write_all(bytes)
            .and_then(|_| if fsync { file.sync_all() } else { Ok(()) })
            .map_err(at(&tmp))
            .and_then(|_| self.publish(&tmp, dest));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Renames a complete temporary file into place. The directory is not
    /// fsynced: a rename lost to a power cut leaves a missing entry (a cache miss), never
    /// a half one, and every entry is verified when it is read back.
    fn publish(&self, tmp: &Path, dest: &Path) -> Result<(), StoreError> {
        let parent = dest.parent().unwrap_or(&self.root);
        fs::create_dir_all(parent).map_err(at(parent))?;
        fs::rename(tmp, dest).map_err(at(dest))
    }

    /// Copies a file into the blob store while hashing it (one read), unless the blob is
    /// already there.
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
                let _ = fs::remove_file(&tmp);
                return Err(StoreError::Io {
                    path: src.to_path_buf(),
                    source,
                });
            }
        };
        let dest = self.blob_path(&hash);
        if touch(&dest) {
            // Already stored: the fresh mtime tells `store gc` that a build uses it now.
            let _ = fs::remove_file(&tmp);
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&tmp, fs::Permissions::from_mode(0o444));
            self.publish(&tmp, &dest)?;
        }
        Ok((hash, size))
    }

    /// Whether a blob is present (not verified).
    pub fn has_blob(&self, hash: &FileHash) -> bool {
        self.blob_path(hash).is_file()
    }

    /// Whether a blob's bytes still match its hash (streamed). A corrupt blob is removed,
    /// as when it is copied out, so that the step that made it runs again.
    pub fn blob_is_intact(&self, hash: &FileHash) -> Result<bool, StoreError> {
        let path = self.blob_path(hash);
        let (actual, _) = crate::hash::hash_file(&path).map_err(at(&path))?;
        if actual != *hash {
            let _ = fs::remove_file(&path);
            return Ok(false);
        }
        Ok(true)
    }

    /// Copies a blob to `dest` (mode `mode`), verifying its hash on the way. A corrupt
    /// blob is removed and reported, never served.
    pub fn copy_blob(&self, hash: &FileHash, dest: &Path, mode: u32) -> Result<(), StoreError> {
        use std::os::unix::fs::PermissionsExt;
        let src = self.blob_path(hash);
        let mut input = File::open(&src).map_err(at(&src))?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(at(parent))?;
        }
        let mut output = File::create(dest).map_err(at(dest))?;
        let (actual, _) = copy_hashing(&mut input, &mut output).map_err(at(dest))?;
        if actual != *hash {
            let _ = fs::remove_file(&src);
            let _ = fs::remove_file(dest);
            return Err(StoreError::CorruptBlob(*hash));
        }
        fs::set_permissions(dest, fs::Permissions::from_mode(mode & 0o7777)).map_err(at(dest))
    }

    /// Looks a step up in the action cache. An entry whose blobs are missing counts as a
    /// miss (it will be rewritten by the next run).
    pub fn lookup_action(&self, key: &InputHash) -> Result<Option<ActionEntry>, StoreError> {
        let path = self.action_path(key);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(at(&path)(err)),
        };
        let entry: ActionEntry = match serde_json::from_slice(&text) {
            Ok(entry) => entry,
            Err(_) => return Ok(None),
        };
        if entry.schema != ACTION_SCHEMA || entry.input_hash != *key {
            return Ok(None);
        }
        let complete = entry
            .outputs
            .iter()
            .filter_map(|e| e.sha256.as_ref())
            .all(|h| self.has_blob(h));
        // A hit refreshes the entry's mtime, so that `store gc` (which spares young
        // entries) does not collect it under a running build; if gc just took it, miss.
        Ok((complete && touch(&path)).then_some(entry))
    }

    /// Records a step's outputs under its input hash.
    pub fn record_action(&self, entry: &ActionEntry) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(entry).map_err(|e| StoreError::BadEntry {
            path: self.action_path(&entry.input_hash),
            error: e.to_string(),
        })?;
        self.write_entry(&self.action_path(&entry.input_hash), &bytes)
    }

    /// Removes temporary files and directories left by processes that no longer run;
    /// returns how many were removed.
    fn remove_stale_temporaries(&self) -> usize {
        let mut removed = remove_dead_process_entries(&self.root.join("tmp"));
        if let Some(tmpfs) = tmpfs_work_root() {
            removed += remove_dead_process_entries(&tmpfs);
        }
        removed
    }
}

/// A directory on a tmpfs for work directories (`/dev/shm/reprobe`), when the machine
/// has one: there, a directory lists its entries in the order they were created, which
/// the `fileorder` variation relies on (ext4 lists them in hash order).
pub fn tmpfs_work_root() -> Option<PathBuf> {
    let shm = Path::new("/dev/shm");
    let stat = nix::sys::statfs::statfs(shm).ok()?;
    if stat.filesystem_type() != nix::sys::statfs::TMPFS_MAGIC {
        return None;
    }
    let dir = shm.join("reprobe");
    fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

/// Sets a file's mtime to now; false only when the file does not exist. (A file that
/// exists but cannot be touched, in a store shared with another user, still counts.)
fn touch(path: &Path) -> bool {
    match File::open(path) {
        Ok(file) => {
            let _ = file.set_modified(std::time::SystemTime::now());
            true
        }
        Err(err) => err.kind() != io::ErrorKind::NotFound,
    }
}

/// Removes the entries of `dir` named `PID-...` whose process no longer runs; returns
/// how many were removed.
fn remove_dead_process_entries(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.split(['-', '.']).next())
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let path = entry.path();
            let _ = make_writable_recursively(&path);
            if fs::remove_dir_all(&path)
                .or_else(|_| fs::remove_file(&path))
                .is_ok()
            {
                removed += 1;
            }
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

/// Restores write permission below a directory so that it can be removed even when a
/// step made parts of it read-only.
pub fn make_writable_recursively(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(path).into_iter().flatten() {
        if entry.file_type().is_dir() {
            let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o755));
        }
    }
    Ok(())
}

/// Removes a directory tree, restoring permissions first if needed.
pub fn remove_tree(path: &Path) {
    if fs::remove_dir_all(path).is_err() {
        let _ = make_writable_recursively(path);
        let _ = fs::remove_dir_all(path);
    }
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
                kind: crate::tree::EntryType::File,
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
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        let stale = dir.path().join("tmp/999999999-0-x");
        fs::create_dir_all(&stale).unwrap();
        Store::open(dir.path()).unwrap();
        assert!(!stale.exists());
    }
}
