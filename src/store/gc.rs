//! `reprobe store verify` and `reprobe store gc`: checking a store and collecting what
//! nothing references.
//!
//! **Verify** reads everything: every blob is hashed and compared with its name, every
//! action entry must parse, sit under its own input hash, have a content hash that
//! matches its output tree and point only at sound blobs, and every manifest must read
//! (same schema version) and point only at sound blobs for its outputs. Verify changes
//! nothing, with two exceptions that every reader of the store makes too: a blob whose
//! bytes no longer match its hash, and anything that is not a regular file where a blob
//! or an action entry belongs (a FIFO, a directory), are removed (by handle) and
//! reported, so they are never served and their steps run again; and temporary files of
//! dead processes are cleared. A removed blob is noted in `removed/HASH`: a past build's
//! manifest naming it is history, not damage, and is not reported again.
//!
//! **Gc** keeps the *roots* and everything they reference:
//! - every action entry (the cache), unless `--keep-builds K` is given: then only the
//!   entries whose input hash appears in one of the K newest manifests;
//! - every manifest, or the K newest with `--keep-builds K`;
//! - every blob whose hash appears in a kept action entry's outputs or anywhere in a
//!   kept manifest (outputs and input files; a manifest of another schema version is
//!   scanned for any sha256-looking string, so gc never drops what it cannot read).
//!
//! Broken action entries (unreadable, another schema, under the wrong name, missing a
//! blob) are always removed: the executor already treats them as misses. So is anything
//! that is not a regular file where a blob belongs.
//!
//! Gc is safe beside running builds: nothing younger than the grace period (`--grace`,
//! default 24 h, by mtime) is removed, and a build refreshes the mtime of every blob and
//! action entry it reuses. A blob written by a build that has not yet recorded the entry
//! referencing it is therefore young and spared. To close the last window (a build
//! reusing a blob at the very moment gc takes it), gc first *moves* an old blob into its
//! own temporary name, looks at its mtime again, and puts it back if a build touched it
//! meanwhile; a build that finds the blob gone writes it anew. Temporary files of live
//! processes are never touched (only those whose pid is dead). One gc runs at a time
//! per store (an exclusive lock on `gc.lock`). `--dry-run` removes nothing at all.
//!
//! Every directory is entered by handle and never through a link (module `fsafe`).

use std::collections::{BTreeSet, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rayon::prelude::*;
use serde::Serialize;

use super::{
    at, read_regular, remove_odd_entry, ActionEntry, Store, StoreError, ACTION_SCHEMA, REMOVED_DIR,
};
use crate::fsafe::{Dir, Kind, Meta, Opened};
use crate::model::hash::{FileHash, InputHash};
use crate::model::manifest::Manifest;

/// What kind of problem `store verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A blob whose bytes do not hash to its name, or something that is not a regular
    /// file where a blob belongs (removed by verify).
    CorruptBlob,
    /// A file in `blobs/`, `actions/` or `builds/` that is not an entry of the store.
    StrayFile,
    /// An action entry that cannot be read, has another schema, or sits under the
    /// wrong name, or whose content hash does not match its outputs.
    BadAction,
    /// A manifest that cannot be read (including another schema version).
    BadManifest,
    /// An action entry or manifest that names a blob which is missing or corrupt.
    MissingBlob,
}

impl ProblemKind {
    /// The kebab-case name used in JSON and text output.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::CorruptBlob => "corrupt-blob",
            ProblemKind::StrayFile => "stray-file",
            ProblemKind::BadAction => "bad-action",
            ProblemKind::BadManifest => "bad-manifest",
            ProblemKind::MissingBlob => "missing-blob",
        }
    }
}

/// One problem of a store, naming the file concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// The file, relative to the store's directory.
    pub path: String,
    /// For people: what is wrong and what to do.
    pub message: String,
}

/// The outcome of [`Store::verify`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Blobs hashed.
    pub blobs: usize,
    /// Bytes hashed.
    pub blob_bytes: u64,
    /// Action entries checked.
    pub actions: usize,
    /// Manifests checked.
    pub manifests: usize,
    /// Outputs of past builds whose blob was removed earlier as corrupt (noted in
    /// `removed/`): history that cannot be restored, not a problem of the store.
    pub removed_outputs: usize,
    /// What is wrong, sorted by path.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether the store is sound.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How `store gc` decides what to keep.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Nothing whose mtime is younger than this is removed.
    pub grace: Duration,
    /// Keep only the newest K manifests, and only the action entries they use.
    pub keep_builds: Option<usize>,
    /// Only count what would be removed.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: Duration::from_secs(24 * 3600),
            keep_builds: None,
            dry_run: false,
        }
    }
}

/// The outcome of [`Store::gc`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    /// Blobs removed (or that would be, with `dry_run`).
    pub removed_blobs: usize,
    /// Their bytes.
    pub removed_bytes: u64,
    /// Action entries removed.
    pub removed_actions: usize,
    /// Manifests removed.
    pub removed_manifests: usize,
    /// Temporary files and directories of dead processes removed.
    pub removed_temporaries: usize,
    /// Blobs kept because something references them.
    pub kept_blobs: usize,
    /// Unreferenced blobs and entries kept because they are younger than the grace period.
    pub spared_young: usize,
    /// Action entries kept.
    pub kept_actions: usize,
    /// Manifests kept.
    pub kept_manifests: usize,
    /// Files that could not be removed, with the error.
    pub errors: Vec<String>,
}

/// What a blob an entry needs is, when it is not sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobState {
    /// Found corrupt (and removed) by this verify.
    Corrupt,
    /// Removed as corrupt earlier (noted in `removed/`).
    Removed,
    /// Not there, and no note says why.
    Missing,
}

/// One entry of a store directory: its handle's directory, name and metadata.
struct Listed {
    dir: Arc<Dir>,
    name: OsString,
    meta: Meta,
}

impl Listed {
    fn path(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }
}

/// The entries of a directory, by handle (an unreadable directory lists nothing).
fn list(dir: &Arc<Dir>) -> Vec<Listed> {
    let mut out: Vec<Listed> = dir
        .names()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| {
            let meta = dir.meta_at(&name).ok().flatten()?;
            Some(Listed {
                dir: Arc::clone(dir),
                name,
                meta,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The entries two levels down (`blobs/ab/NAME`, `actions/ab/NAME`): the files in each
/// shard directory, and the top-level entries that are not shard directories (links
/// included: they are never entered).
fn list_sharded(top: &Dir) -> (Vec<Listed>, Vec<Listed>) {
    let top = match top.try_clone() {
        Ok(dir) => Arc::new(dir),
        Err(_) => return (Vec::new(), Vec::new()),
    };
    let (mut inner, mut strays) = (Vec::new(), Vec::new());
    for entry in list(&top) {
        let is_shard = entry.meta.kind == Kind::Dir
            && entry.name.len() == 2
            && entry.name.to_str().is_some_and(|n| {
                n.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            });
        let shard = is_shard
            .then(|| top.open_dir_at(&entry.name).ok())
            .flatten();
        match shard {
            Some(shard) => inner.extend(list(&Arc::new(shard))),
            None => strays.push(entry),
        }
    }
    (inner, strays)
}

/// The hash a blob's name says, if it is well placed (`blobs/ab/ab…`).
fn blob_name(entry: &Listed) -> Option<FileHash> {
    let name = entry.name.to_str()?;
    let shard = entry.dir.path().file_name()?.to_str()?;
    let hash: FileHash = name.parse().ok()?;
    (name.len() == 64 && name.get(..2) == Some(shard) && hash.0.to_hex() == name).then_some(hash)
}

/// The input hash an action entry's name says, if it is well placed.
fn action_key(entry: &Listed) -> Option<InputHash> {
    let name = entry.name.to_str()?;
    let shard = entry.dir.path().file_name()?.to_str()?;
    let key: InputHash = name.strip_suffix(".json")?.parse().ok()?;
    (name.get(..2) == Some(shard)).then_some(key)
}

impl Store {
    /// Checks every blob against its hash, and every action entry and manifest against
    /// its blobs. Removes (and reports) corrupt blobs and non-regular entries only.
    pub fn verify(&self) -> VerifyReport {
        let mut report = VerifyReport::default();
        let (sound, corrupt) = self.verify_blobs(&mut report);
        let (notes, strays) = self.removed_notes();
        for name in strays {
            report.problems.push(Problem {
                kind: ProblemKind::StrayFile,
                path: format!("{REMOVED_DIR}/{}", name.to_string_lossy()),
                message: "not a note of a removed blob (those are removed/HASH); remove it".into(),
            });
        }
        let notes: HashSet<FileHash> = notes.into_iter().collect();
        let blob_state = |hash: &FileHash| -> Option<BlobState> {
            if sound.contains(hash) {
                None
            } else if corrupt.contains(hash) {
                Some(BlobState::Corrupt)
            } else if notes.contains(hash) {
                Some(BlobState::Removed)
            } else {
                Some(BlobState::Missing)
            }
        };
        self.verify_actions(&mut report, &blob_state);
        self.verify_manifests(&mut report, &blob_state);
        report.problems.sort_by(|a, b| a.path.cmp(&b.path));
        report
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    /// Hashes every blob; returns the sound ones and the corrupt ones (removed).
    fn verify_blobs(&self, report: &mut VerifyReport) -> (HashSet<FileHash>, HashSet<FileHash>) {
        let (blobs, strays) = self.list_blobs();
        for stray in strays {
            report.problems.push(Problem {
                kind: ProblemKind::StrayFile,
                path: self.relative(&stray.path()),
                message: format!(
                    "{} that is not a blob (blobs are files named by their sha256 under its first two hex digits); remove it",
                    stray.meta.kind.describe()
                ),
            });
        }
        let results: Vec<(FileHash, Result<Option<u64>, String>)> = blobs
            .into_par_iter()
            .map(|(hash, entry)| (hash, self.check_blob(&hash, &entry)))
            .collect();
        let (mut sound, mut corrupt) = (HashSet::new(), HashSet::new());
        for (hash, result) in results {
            match result {
                // Removed meanwhile (by gc): not a blob of the store any more.
                Ok(None) => continue,
                Ok(Some(size)) => {
                    report.blobs += 1;
                    report.blob_bytes += size;
                    sound.insert(hash);
                }
                Err(message) => {
                    report.blobs += 1;
                    corrupt.insert(hash);
                    report.problems.push(Problem {
                        kind: ProblemKind::CorruptBlob,
                        path: self.relative(&self.blob_path(&hash)),
                        message,
                    });
                }
            }
        }
        (sound, corrupt)
    }

    /// Hashes one blob: its size when sound (`None` when it is gone), else what was
    /// wrong (it has been removed).
    fn check_blob(&self, hash: &FileHash, entry: &Listed) -> Result<Option<u64>, String> {
        const FIX: &str = "removed, so it is never served: the next `reprobe build` runs the steps that need it again";
        let (file, meta) = match entry.dir.open_file_at(&entry.name) {
            Ok(Opened::File(file, meta)) => (file, meta),
            Ok(Opened::Missing) => return Ok(None),
            Ok(Opened::Other(meta)) => {
                let what = meta.kind.describe();
                return match remove_odd_entry(&entry.dir, &entry.name, &meta) {
                    Ok(()) => {
                        self.note_removed(hash, &format!("{what} where a blob belongs"));
                        Err(format!("{what} where a blob belongs; {FIX}"))
                    }
                    Err(err) => Err(format!(
                        "{what} where a blob belongs, which cannot be removed ({err}); remove it by hand"
                    )),
                };
            }
            Err(err) => {
                return Err(format!(
                "unreadable blob: {err}; remove it, and the next `reprobe build` writes it anew"
            ))
            }
        };
        match crate::model::hash::hash_reader(file) {
            Ok((actual, size)) if actual == *hash => Ok(Some(size)),
            Ok((actual, _)) => {
                let why = format!("its content hashes to {actual}");
                match self.discard_corrupt_blob(hash, &meta, &why) {
                    Ok(()) => Err(format!("corrupt blob: {why}; {FIX}")),
                    Err(err) => Err(format!(
                        "corrupt blob: {why}; it cannot be removed ({err}): remove it by hand"
                    )),
                }
            }
            Err(err) => Err(format!(
                "unreadable blob: {err}; remove it, and the next `reprobe build` writes it anew"
            )),
        }
    }

    /// Every well-named entry below `blobs/` (whatever its type), and everything else.
    fn list_blobs(&self) -> (Vec<(FileHash, Listed)>, Vec<Listed>) {
        let (inner, mut strays) = list_sharded(&self.dirs.blobs);
        let mut blobs = Vec::new();
        for entry in inner {
            match blob_name(&entry) {
                Some(hash) => blobs.push((hash, entry)),
                _ => strays.push(entry),
            }
        }
        (blobs, strays)
    }

    fn verify_actions(
        &self,
        report: &mut VerifyReport,
        blob_state: &dyn Fn(&FileHash) -> Option<BlobState>,
    ) {
        for (path, parsed) in self.list_actions(true) {
            report.actions += 1;
            let rel = self.relative(&path);
            let problem = |kind, message| Problem {
                kind,
                path: rel.clone(),
                message,
            };
            let entry = match parsed {
                Ok(entry) => entry,
                Err(message) => {
                    let kind = if message.starts_with("not an action entry") {
                        ProblemKind::StrayFile
                    } else {
                        ProblemKind::BadAction
                    };
                    report.problems.push(problem(kind, message));
                    continue;
                }
            };
            let actual = crate::model::tree::content_hash(&entry.outputs);
            if actual != entry.content_hash {
                report.problems.push(problem(
                    ProblemKind::BadAction,
                    format!(
                        "content hash {} does not match its output tree ({actual}); `reprobe store gc` removes the entry",
                        entry.content_hash
                    ),
                ));
            }
            for output in &entry.outputs {
                if let Some(state) = output.sha256.as_ref().and_then(blob_state) {
                    report.problems.push(problem(
                        ProblemKind::MissingBlob,
                        format!(
                            "{}: this cache entry is a miss; the next `reprobe build` that needs the step runs it again and rewrites the entry, or `reprobe store gc` removes it",
                            missing_message(&output.path, output.sha256.as_ref(), state)
                        ),
                    ));
                }
            }
        }
    }

    /// Every entry below `actions/`, parsed and checked against its name. Anything that
    /// is not a regular file where an entry belongs is removed when `remove_odd`.
    fn list_actions(&self, remove_odd: bool) -> Vec<(PathBuf, Result<ActionEntry, String>)> {
        let (inner, strays) = list_sharded(&self.dirs.actions);
        let mut out = Vec::new();
        for stray in strays {
            out.push((
                stray.path(),
                Err(format!(
                    "not an action entry ({}; entries are actions/ab/INPUTHASH.json); remove it",
                    stray.meta.kind.describe()
                )),
            ));
        }
        for entry in inner {
            let path = entry.path();
            let parsed = match action_key(&entry) {
                None => Err(format!(
                    "not an action entry ({}; entries are actions/ab/INPUTHASH.json); remove it",
                    entry.meta.kind.describe()
                )),
                Some(_) if entry.meta.kind != Kind::File => {
                    let what = entry.meta.kind.describe();
                    if remove_odd && remove_odd_entry(&entry.dir, &entry.name, &entry.meta).is_ok()
                    {
                        Err(format!(
                            "{what} where an action entry belongs; removed (a cache miss)"
                        ))
                    } else {
                        Err(format!("{what} where an action entry belongs; remove it"))
                    }
                }
                Some(key) => read_action(&entry, key),
            };
            out.push((path, parsed));
        }
        out
    }

    fn verify_manifests(
        &self,
        report: &mut VerifyReport,
        blob_state: &dyn Fn(&FileHash) -> Option<BlobState>,
    ) {
        for entry in self.list_builds() {
            let path = entry.path();
            let rel = self.relative(&path);
            if Path::new(&entry.name)
                .extension()
                .is_none_or(|e| e != "json")
            {
                report.problems.push(Problem {
                    kind: ProblemKind::StrayFile,
                    path: rel,
                    message: format!(
                        "{} that is not a manifest (manifests are builds/ID.json); remove it",
                        entry.meta.kind.describe()
                    ),
                });
                continue;
            }
            report.manifests += 1;
            let manifest = match read_manifest(&entry) {
                Ok(m) => m,
                Err(message) => {
                    report.problems.push(Problem {
                        kind: ProblemKind::BadManifest,
                        path: rel,
                        message,
                    });
                    continue;
                }
            };
            for step in &manifest.steps {
                for output in &step.outputs {
                    let state = output.sha256.as_ref().and_then(blob_state);
                    let fix = match state {
                        None => continue,
                        Some(BlobState::Removed) => {
                            report.removed_outputs += 1;
                            continue;
                        }
                        Some(BlobState::Corrupt) => "this past build's output cannot be restored; nothing to do (it is noted in removed/ and not reported again)",
                        Some(BlobState::Missing) => "this past build's output cannot be restored (its blob was deleted outside reprobe); `reprobe store gc --keep-builds K` drops old manifests",
                    };
                    report.problems.push(Problem {
                        kind: ProblemKind::MissingBlob,
                        path: rel.clone(),
                        message: format!(
                            "step `{}`: {}: {fix}",
                            step.name,
                            missing_message(
                                &output.path,
                                output.sha256.as_ref(),
                                state.unwrap_or(BlobState::Missing)
                            )
                        ),
                    });
                }
            }
        }
    }

    /// The entries of `builds/`, sorted by name (build ids sort by start time);
    /// directories excluded.
    fn list_builds(&self) -> Vec<Listed> {
        let Ok(builds) = self.dirs.builds.try_clone() else {
            return Vec::new();
        };
        list(&Arc::new(builds))
            .into_iter()
            .filter(|e| e.meta.kind != Kind::Dir)
            .collect()
    }

    /// Removes what nothing references (see the module documentation for the rules).
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport, StoreError> {
        // A dry run changes nothing, not even by creating the lock file.
        let _lock = if options.dry_run {
            None
        } else {
            Some(self.gc_lock()?)
        };
        let mut report = GcReport {
            removed_temporaries: self.remove_stale_temporaries(options.dry_run),
            ..GcReport::default()
        };
        let cutoff = SystemTime::now()
            .checked_sub(options.grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let kept_manifests = self.gc_manifests(options, cutoff, &mut report);
        let mut referenced = HashSet::new();
        let mut used_keys = HashSet::new();
        for entry in &kept_manifests {
            scan_manifest(entry, &mut referenced, &mut used_keys);
        }
        let keys = options.keep_builds.map(|_| &used_keys);
        self.gc_actions(options, cutoff, keys, &mut referenced, &mut report);
        self.gc_blobs(options, cutoff, &referenced, &mut report);
        if !options.dry_run {
            self.gc_removed_notes(&referenced);
        }
        Ok(report)
    }

    /// Takes the store's gc lock (non-blocking), held until the returned value drops.
    fn gc_lock(&self) -> Result<nix::fcntl::Flock<File>, StoreError> {
        let path = self.root.join("gc.lock");
        let file = self
            .dirs
            .root
            .open_at(
                OsStr::new("gc.lock"),
                libc::O_WRONLY | libc::O_CREAT | libc::O_NONBLOCK,
                0o644,
            )
            .map_err(at(&path))?;
        let kind = file.metadata().map_err(at(&path))?.file_type();
        if !kind.is_file() {
            return Err(StoreError::Misplaced {
                path,
                kind: "not a regular file",
                expected: "a lock file",
            });
        }
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|_| StoreError::Busy(path))
    }

    /// Removes manifests beyond the newest K (when asked); returns the kept ones.
    fn gc_manifests(
        &self,
        options: &GcOptions,
        cutoff: SystemTime,
        report: &mut GcReport,
    ) -> Vec<Listed> {
        let all: Vec<Listed> = self
            .list_builds()
            .into_iter()
            .filter(|e| e.meta.kind == Kind::File)
            .collect();
        let Some(keep) = options.keep_builds else {
            report.kept_manifests = all.len();
            return all;
        };
        let split = all.len().saturating_sub(keep);
        let mut all = all;
        let newest = all.split_off(split);
        let mut kept = Vec::new();
        for entry in all {
            match self.collect(&entry, cutoff, options.dry_run) {
                Collected::Removed(_) => report.removed_manifests += 1,
                Collected::Young => {
                    report.spared_young += 1;
                    kept.push(entry);
                }
                Collected::Failed(err) => {
                    report.errors.push(err);
                    kept.push(entry);
                }
            }
        }
        kept.extend(newest);
        report.kept_manifests = kept.len();
        kept
    }

    /// Removes broken action entries, and (with `keys`) those no kept manifest used;
    /// adds the blobs of the kept ones to `referenced`.
    fn gc_actions(
        &self,
        options: &GcOptions,
        cutoff: SystemTime,
        keys: Option<&HashSet<InputHash>>,
        referenced: &mut HashSet<FileHash>,
        report: &mut GcReport,
    ) {
        let (inner, _strays) = list_sharded(&self.dirs.actions);
        for listed in inner {
            let parsed = match action_key(&listed) {
                Some(key) if listed.meta.kind == Kind::File => read_action(&listed, key).ok(),
                Some(_) => {
                    // Not a regular file where an entry belongs: never read, removed.
                    if !options.dry_run {
                        let _ = remove_odd_entry(&listed.dir, &listed.name, &listed.meta);
                    }
                    report.removed_actions += 1;
                    continue;
                }
                None => continue,
            };
            let entry = parsed.filter(|e| {
                e.outputs
                    .iter()
                    .filter_map(|o| o.sha256.as_ref())
                    .all(|h| self.blob_is_file(h))
            });
            let used = match (&entry, keys) {
                (None, _) => false,
                (Some(e), Some(keys)) => keys.contains(&e.input_hash),
                (Some(_), None) => true,
            };
            if !used {
                // Broken entries are never in flight (entries are written whole, after
                // their blobs), so they go whatever their age; unused ones wait for grace.
                let limit = if entry.is_none() {
                    SystemTime::now()
                } else {
                    cutoff
                };
                match self.collect(&listed, limit, options.dry_run) {
                    Collected::Removed(_) => {
                        report.removed_actions += 1;
                        continue;
                    }
                    Collected::Young => report.spared_young += 1,
                    Collected::Failed(err) => report.errors.push(err),
                }
            }
            report.kept_actions += 1;
            if let Some(entry) = entry {
                referenced.extend(entry.outputs.iter().filter_map(|o| o.sha256));
            }
        }
    }

    /// Whether a regular file is at a blob's name (looked at only: gc's dry run must
    /// not change anything).
    fn blob_is_file(&self, hash: &FileHash) -> bool {
        let hex = hash.0.to_hex();
        self.dirs
            .blobs
            .open_dir_at(OsStr::new(&hex[..2]))
            .ok()
            .and_then(|shard| shard.meta_at(OsStr::new(&hex)).ok().flatten())
            .is_some_and(|m| m.kind == Kind::File)
    }

    fn gc_blobs(
        &self,
        options: &GcOptions,
        cutoff: SystemTime,
        referenced: &HashSet<FileHash>,
        report: &mut GcReport,
    ) {
        let (blobs, _strays) = self.list_blobs();
        for (hash, entry) in blobs {
            if entry.meta.kind != Kind::File {
                // A FIFO, a directory...: never a blob, whatever references it.
                if options.dry_run {
                    report.removed_blobs += 1;
                    continue;
                }
                match remove_odd_entry(&entry.dir, &entry.name, &entry.meta) {
                    Ok(()) => {
                        report.removed_blobs += 1;
                        let what = entry.meta.kind.describe();
                        self.note_removed(&hash, &format!("{what} where a blob belongs"));
                    }
                    Err(err) => report
                        .errors
                        .push(format!("{}: {err}", entry.path().display())),
                }
                continue;
            }
            if referenced.contains(&hash) {
                report.kept_blobs += 1;
                continue;
            }
            match self.collect(&entry, cutoff, options.dry_run) {
                Collected::Removed(size) => {
                    report.removed_blobs += 1;
                    report.removed_bytes += size;
                }
                Collected::Young => report.spared_young += 1,
                Collected::Failed(err) => report.errors.push(err),
            }
        }
    }

    /// Removes the notes of removed blobs that no kept manifest or entry names any more,
    /// or whose blob is back.
    fn gc_removed_notes(&self, referenced: &HashSet<FileHash>) {
        let (notes, _) = self.removed_notes();
        let Ok(dir) = self.dirs.root.open_dir_at(OsStr::new(REMOVED_DIR)) else {
            return;
        };
        for hash in notes {
            if !referenced.contains(&hash) || self.blob_is_file(&hash) {
                let _ = dir.unlink_at(OsStr::new(&hash.0.to_hex()));
            }
        }
    }

    /// Removes the regular file `entry` if its mtime is before `cutoff`, safely against a
    /// concurrent build that refreshes it: move it aside, look again, put it back if
    /// refreshed.
    fn collect(&self, entry: &Listed, cutoff: SystemTime, dry_run: bool) -> Collected {
        let path = entry.path();
        let now = match entry.dir.meta_at(&entry.name) {
            Ok(Some(meta)) => meta,
            Ok(None) => return Collected::Young,
            Err(err) => return Collected::Failed(format!("{}: {err}", path.display())),
        };
        if now.kind != Kind::File {
            return Collected::Failed(format!(
                "{}: {} where a file belongs; left alone",
                path.display(),
                now.kind.describe()
            ));
        }
        if now.modified > cutoff {
            return Collected::Young;
        }
        if dry_run {
            return Collected::Removed(now.size);
        }
        let aside = self.aside_name("gc");
        let tmp = &self.dirs.tmp;
        if let Err(err) = entry.dir.rename_at(&entry.name, tmp, &aside) {
            return Collected::Failed(format!("{}: {err}", path.display()));
        }
        match tmp.meta_at(&aside) {
            Ok(Some(moved)) if moved.modified <= cutoff && moved.kind == Kind::File => {
                match tmp.unlink_at(&aside) {
                    Ok(()) => Collected::Removed(moved.size),
                    Err(err) => {
                        Collected::Failed(format!("{}: {err}", tmp.path().join(&aside).display()))
                    }
                }
            }
            _ => {
                // Touched meanwhile: put it back, unless a build already wrote it anew
                // (same name, same content).
                if let Err(err) = tmp.rename_noreplace_at(&aside, &entry.dir, &entry.name) {
                    let _ = tmp.remove_all_at(&aside);
                    if err.kind() != std::io::ErrorKind::AlreadyExists {
                        return Collected::Failed(format!("{}: {err}", path.display()));
                    }
                }
                Collected::Young
            }
        }
    }
}

/// What happened to one candidate for removal.
enum Collected {
    /// Removed; its size.
    Removed(u64),
    /// Younger than the grace period (or refreshed while being collected): kept.
    Young,
    /// Could not be removed.
    Failed(String),
}

/// Reads one action entry (a regular file) and checks it against its name.
fn read_action(entry: &Listed, key: InputHash) -> Result<ActionEntry, String> {
    let text = match read_regular(&entry.dir, &entry.name, &entry.path()) {
        Ok(Some(text)) => text,
        Ok(None) => return Err("gone while read".into()),
        Err(err) => return Err(format!("unreadable: {err}")),
    };
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| format!("not JSON: {e}"))?;
    let schema = value
        .get("schema")
        .and_then(|s| s.as_str())
        .unwrap_or("(none)");
    if schema != ACTION_SCHEMA {
        return Err(format!(
            "action entry schema `{schema}` is not supported; this reprobe reads `{ACTION_SCHEMA}`"
        ));
    }
    let action: ActionEntry =
        serde_json::from_value(value).map_err(|e| format!("not an action entry: {e}"))?;
    if action.input_hash != key {
        return Err(format!(
            "filed under {key} but its input hash is {}",
            action.input_hash
        ));
    }
    Ok(action)
}

/// Reads and parses one manifest (a regular file: anything else is never opened).
fn read_manifest(entry: &Listed) -> Result<Manifest, String> {
    let path = entry.path();
    let text = match read_regular(&entry.dir, &entry.name, &path) {
        Ok(Some(text)) => text,
        Ok(None) => return Err("gone while read".into()),
        Err(err) => return Err(format!("{err}; remove it")),
    };
    Manifest::from_json(&path, &String::from_utf8_lossy(&text)).map_err(|e| e.to_string())
}

fn missing_message(output: &str, hash: Option<&FileHash>, state: BlobState) -> String {
    let hash = hash.map_or_else(String::new, |h| h.to_string());
    let state = match state {
        BlobState::Corrupt => "corrupt (removed now)",
        BlobState::Removed => "gone: it was removed as corrupt (see removed/)",
        BlobState::Missing => "missing",
    };
    format!("output `{output}` needs blob {hash}, which is {state}")
}

/// Adds every sha256-looking string of a manifest to `blobs`, and the input hashes of
/// its steps to `keys`. Scanning the text (not the schema) keeps gc conservative for
/// manifests it cannot fully read, such as those of another schema version.
fn scan_manifest(entry: &Listed, blobs: &mut HashSet<FileHash>, keys: &mut HashSet<InputHash>) {
    let Ok(Some(bytes)) = read_regular(&entry.dir, &entry.name, &entry.path()) else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes);
    if let Ok(manifest) = Manifest::from_json(&entry.path(), &text) {
        keys.extend(manifest.steps.iter().filter_map(|s| s.input_hash));
    }
    let hexes: BTreeSet<&str> = hex_runs(&text).collect();
    for hex in hexes {
        if let Ok(hash) = hex.parse::<FileHash>() {
            blobs.insert(hash);
        }
    }
}

/// Maximal runs of exactly 64 lowercase hex digits.
fn hex_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_hexdigit() || c.is_ascii_uppercase())
        .filter(|run| run.len() == 64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hash::{DerivationHash, Digest};
    use crate::model::tree::{EntryType, TreeEntry};
    use std::fs;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        (dir, store)
    }

    fn blob(store: &Store, bytes: &[u8]) -> FileHash {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        fs::write(&src, bytes).unwrap();
        store.ingest_file(&src).unwrap().0
    }

    fn entry(key: &[u8], hash: FileHash) -> ActionEntry {
        let outputs = vec![TreeEntry {
            path: "o".into(),
            kind: EntryType::File,
            mode: 0o644,
            size: 1,
            sha256: Some(hash),
            target: None,
            mtime: 0,
        }];
        ActionEntry {
            schema: ACTION_SCHEMA.into(),
            input_hash: InputHash(Digest::of_bytes(key)),
            derivation_hash: DerivationHash(Digest::of_bytes(b"d")),
            content_hash: crate::model::tree::content_hash(&outputs),
            outputs,
            duration_ms: 1,
            findings: Default::default(),
            observed: Default::default(),
        }
    }

    fn no_grace() -> GcOptions {
        GcOptions {
            grace: Duration::ZERO,
            ..GcOptions::default()
        }
    }

    #[test]
    fn a_sound_store_verifies() {
        let (_d, store) = store();
        let h = blob(&store, b"x");
        store.record_action(&entry(b"k", h)).unwrap();
        let report = store.verify();
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!((report.blobs, report.actions), (1, 1));
    }

    #[test]
    fn a_flipped_byte_is_reported_with_the_entry_that_needs_it() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, store) = store();
        let h = blob(&store, b"hello");
        store.record_action(&entry(b"k", h)).unwrap();
        let path = store.blob_path(&h);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&path, b"jello").unwrap();
        let kinds: Vec<ProblemKind> = store.verify().problems.iter().map(|p| p.kind).collect();
        assert!(kinds.contains(&ProblemKind::CorruptBlob), "{kinds:?}");
        assert!(kinds.contains(&ProblemKind::MissingBlob), "{kinds:?}");
    }

    #[test]
    fn an_entry_under_the_wrong_name_is_reported() {
        let (_d, store) = store();
        let h = blob(&store, b"x");
        let e = entry(b"k", h);
        let wrong = store.action_path(&InputHash(Digest::of_bytes(b"other")));
        fs::create_dir_all(wrong.parent().unwrap()).unwrap();
        fs::write(&wrong, serde_json::to_vec(&e).unwrap()).unwrap();
        let problems = store.verify().problems;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].kind, ProblemKind::BadAction);
    }

    #[test]
    fn gc_removes_unreferenced_blobs_and_keeps_referenced_ones() {
        let (_d, store) = store();
        let kept = blob(&store, b"kept");
        let dropped = blob(&store, b"dropped");
        store.record_action(&entry(b"k", kept)).unwrap();
        let report = store.gc(&no_grace()).unwrap();
        assert_eq!((report.removed_blobs, report.kept_blobs), (1, 1));
        assert!(store.has_blob(&kept) && !store.has_blob(&dropped));
        assert!(store.verify().is_ok());
    }

    #[test]
    fn gc_spares_young_unreferenced_blobs() {
        let (_d, store) = store();
        let young = blob(&store, b"being written by a build");
        let report = store.gc(&GcOptions::default()).unwrap();
        assert_eq!((report.removed_blobs, report.spared_young), (0, 1));
        assert!(store.has_blob(&young));
    }

    #[test]
    fn gc_removes_broken_action_entries_whatever_their_age() {
        let (_d, store) = store();
        let h = blob(&store, b"x");
        store.record_action(&entry(b"k", h)).unwrap();
        fs::remove_file(store.blob_path(&h)).unwrap();
        let report = store.gc(&GcOptions::default()).unwrap();
        assert_eq!(report.removed_actions, 1);
        assert!(store.verify().is_ok());
    }

    #[test]
    fn gc_keeps_blobs_named_in_a_manifest_it_cannot_read() {
        let (_d, store) = store();
        let h = blob(&store, b"from the future");
        let text = format!(r#"{{"schema": "reprobe/manifest/9", "x": "{h}"}}"#);
        fs::write(store.builds_dir().join("future.json"), text).unwrap();
        let report = store.gc(&no_grace()).unwrap();
        assert_eq!(report.removed_blobs, 0);
        assert!(store.has_blob(&h));
    }

    #[test]
    fn dry_run_removes_nothing() {
        let (_d, store) = store();
        let h = blob(&store, b"x");
        let report = store
            .gc(&GcOptions {
                dry_run: true,
                ..no_grace()
            })
            .unwrap();
        assert_eq!(report.removed_blobs, 1);
        assert!(store.has_blob(&h));
    }

    #[test]
    fn a_second_gc_at_once_is_refused() {
        let (_d, store) = store();
        let _held = store.gc_lock().unwrap();
        assert!(matches!(store.gc(&no_grace()), Err(StoreError::Busy(_))));
    }

    #[test]
    fn hex_runs_are_exactly_64_digits() {
        let a = "a".repeat(64);
        let text = format!("\"{a}\" {}x {}", "b".repeat(65), "c".repeat(63));
        assert_eq!(hex_runs(&text).collect::<Vec<_>>(), [a.as_str()]);
    }
}
