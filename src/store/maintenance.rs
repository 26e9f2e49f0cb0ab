//! `reprobe store verify` and `reprobe store gc`: checking a store and collecting what
//! nothing references.
//!
//! **Verify** reads everything: every blob is hashed and compared with its name, every
//! action entry must parse, sit under its own input hash, have a content hash that
//! matches its output tree and point only at sound blobs, and every manifest must read
//! (same schema version) and point only at sound blobs for its outputs. Verify never
//! changes the store (beyond clearing temporary files of dead processes, as every
//! command does).
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
//! blob) are always removed: the executor already treats them as misses.
//!
//! Gc is safe beside running builds: nothing younger than the grace period (`--grace`,
//! default 24 h, by mtime) is removed, and a build refreshes the mtime of every blob and
//! action entry it reuses. A blob written by a build that has not yet recorded the entry
//! referencing it is therefore young and spared. To close the last window (a build
//! reusing a blob at the very moment gc takes it), gc first *moves* an old blob into its
//! own temporary name, looks at its mtime again, and puts it back if a build touched it
//! meanwhile; a build that finds the blob gone writes it anew. Temporary files of live
//! processes are never touched (only those whose pid is dead). One gc runs at a time
//! per store (an exclusive lock on `gc.lock`).

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rayon::prelude::*;
use serde::Serialize;

use super::{at, ActionEntry, Store, StoreError, ACTION_SCHEMA, TEMP_COUNTER};
use crate::hash::{FileHash, InputHash};
use crate::manifest::Manifest;

/// What kind of problem `store verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A blob whose bytes do not hash to its name.
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
    /// For people.
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

impl Store {
    /// Checks every blob against its hash, and every action entry and manifest against
    /// its blobs. Read-only.
    pub fn verify(&self) -> VerifyReport {
        let mut report = VerifyReport::default();
        let (sound, corrupt) = self.verify_blobs(&mut report);
        let blob_state = |hash: &FileHash| -> Option<&'static str> {
            if sound.contains(hash) {
                None
            } else if corrupt.contains(hash) {
                Some("corrupt")
            } else {
                Some("missing")
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

    /// Hashes every blob; returns the sound ones and the corrupt ones.
    fn verify_blobs(&self, report: &mut VerifyReport) -> (HashSet<FileHash>, HashSet<FileHash>) {
        let (blobs, strays) = self.list_blobs();
        for stray in strays {
            report.problems.push(Problem {
                kind: ProblemKind::StrayFile,
                path: self.relative(&stray),
                message:
                    "not a blob: blobs are named by their sha256 under its first two hex digits"
                        .into(),
            });
        }
        let results: Vec<HashedBlob> = blobs
            .into_par_iter()
            .map(|(hash, path)| {
                let actual = crate::hash::hash_file(&path);
                (hash, path, actual)
            })
            .collect();
        let (mut sound, mut corrupt) = (HashSet::new(), HashSet::new());
        for (hash, path, actual) in results {
            report.blobs += 1;
            let message = match actual {
                Ok((actual, size)) if actual == hash => {
                    report.blob_bytes += size;
                    sound.insert(hash);
                    continue;
                }
                Ok((actual, _)) => format!("corrupt blob: its content hashes to {actual}"),
                Err(err) => format!("unreadable blob: {err}"),
            };
            corrupt.insert(hash);
            report.problems.push(Problem {
                kind: ProblemKind::CorruptBlob,
                path: self.relative(&path),
                message,
            });
        }
        (sound, corrupt)
    }

    /// Every well-named blob, and every other file below `blobs/`.
    fn list_blobs(&self) -> (Vec<(FileHash, PathBuf)>, Vec<PathBuf>) {
        let mut blobs = Vec::new();
        let mut strays = Vec::new();
        for entry in walkdir::WalkDir::new(self.root.join("blobs"))
            .min_depth(1)
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_dir() {
                continue;
            }
            match blob_name(entry.path()) {
                Some(hash) if entry.depth() == 2 => blobs.push((hash, entry.into_path())),
                _ => strays.push(entry.into_path()),
            }
        }
        (blobs, strays)
    }

    fn verify_actions(
        &self,
        report: &mut VerifyReport,
        blob_state: &dyn Fn(&FileHash) -> Option<&'static str>,
    ) {
        for (path, parsed) in self.list_actions() {
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
            let actual = crate::tree::content_hash(&entry.outputs);
            if actual != entry.content_hash {
                report.problems.push(problem(
                    ProblemKind::BadAction,
                    format!(
                        "content hash {} does not match its output tree ({actual})",
                        entry.content_hash
                    ),
                ));
            }
            for output in &entry.outputs {
                if let Some(state) = output.sha256.as_ref().and_then(blob_state) {
                    report.problems.push(problem(
                        ProblemKind::MissingBlob,
                        missing_message(&output.path, output.sha256.as_ref(), state),
                    ));
                }
            }
        }
    }

    /// Every file below `actions/`, parsed and checked against its name.
    fn list_actions(&self) -> Vec<(PathBuf, Result<ActionEntry, String>)> {
        walkdir::WalkDir::new(self.root.join("actions"))
            .min_depth(1)
            .into_iter()
            .flatten()
            .filter(|e| !e.file_type().is_dir())
            .map(|e| {
                let parsed = read_action(e.path(), e.depth());
                (e.into_path(), parsed)
            })
            .collect()
    }

    fn verify_manifests(
        &self,
        report: &mut VerifyReport,
        blob_state: &dyn Fn(&FileHash) -> Option<&'static str>,
    ) {
        for path in self.list_manifests() {
            let rel = self.relative(&path);
            if path.extension().is_none_or(|e| e != "json") {
                report.problems.push(Problem {
                    kind: ProblemKind::StrayFile,
                    path: rel,
                    message: "not a manifest (manifests are builds/ID.json)".into(),
                });
                continue;
            }
            report.manifests += 1;
            let manifest = match Manifest::read(&path) {
                Ok(m) => m,
                Err(err) => {
                    report.problems.push(Problem {
                        kind: ProblemKind::BadManifest,
                        path: rel,
                        message: err.to_string(),
                    });
                    continue;
                }
            };
            for step in &manifest.steps {
                for output in &step.outputs {
                    if let Some(state) = output.sha256.as_ref().and_then(blob_state) {
                        report.problems.push(Problem {
                            kind: ProblemKind::MissingBlob,
                            path: rel.clone(),
                            message: format!(
                                "step `{}`: {}",
                                step.name,
                                missing_message(&output.path, output.sha256.as_ref(), state)
                            ),
                        });
                    }
                }
            }
        }
    }

    /// The files of `builds/`, sorted by name (build ids sort by start time).
    fn list_manifests(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = fs::read_dir(self.builds_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| !p.is_dir())
            .collect();
        paths.sort();
        paths
    }

    /// Removes what nothing references (see the module documentation for the rules).
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport, StoreError> {
        let _lock = self.gc_lock()?;
        let mut report = GcReport {
            removed_temporaries: self.remove_stale_temporaries(),
            ..GcReport::default()
        };
        let cutoff = SystemTime::now()
            .checked_sub(options.grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let kept_manifests = self.gc_manifests(options, cutoff, &mut report);
        let mut referenced = HashSet::new();
        let mut used_keys = HashSet::new();
        for path in &kept_manifests {
            scan_manifest(path, &mut referenced, &mut used_keys);
        }
        let keys = options.keep_builds.map(|_| &used_keys);
        self.gc_actions(options, cutoff, keys, &mut referenced, &mut report);
        self.gc_blobs(options, cutoff, &referenced, &mut report);
        Ok(report)
    }

    /// Takes the store's gc lock (non-blocking), held until the returned value drops.
    fn gc_lock(&self) -> Result<nix::fcntl::Flock<File>, StoreError> {
        let path = self.root.join("gc.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(at(&path))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|_| StoreError::Busy(path))
    }

    /// Removes manifests beyond the newest K (when asked); returns the kept ones.
    fn gc_manifests(
        &self,
        options: &GcOptions,
        cutoff: SystemTime,
        report: &mut GcReport,
    ) -> Vec<PathBuf> {
        let all = self.list_manifests();
        let Some(keep) = options.keep_builds else {
            report.kept_manifests = all.len();
            return all;
        };
        let split = all.len().saturating_sub(keep);
        let mut kept = all[split..].to_vec();
        for path in &all[..split] {
            match self.collect(path, cutoff, options.dry_run) {
                Collected::Removed(_) => report.removed_manifests += 1,
                Collected::Young => {
                    report.spared_young += 1;
                    kept.push(path.clone());
                }
                Collected::Failed(err) => {
                    report.errors.push(err);
                    kept.push(path.clone());
                }
            }
        }
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
        for (path, parsed) in self.list_actions() {
            let entry = parsed.ok().filter(|e| {
                e.outputs
                    .iter()
                    .filter_map(|o| o.sha256.as_ref())
                    .all(|h| self.has_blob(h))
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
                match self.collect(&path, limit, options.dry_run) {
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

    fn gc_blobs(
        &self,
        options: &GcOptions,
        cutoff: SystemTime,
        referenced: &HashSet<FileHash>,
        report: &mut GcReport,
    ) {
        let (blobs, _strays) = self.list_blobs();
        for (hash, path) in blobs {
            if referenced.contains(&hash) {
                report.kept_blobs += 1;
                continue;
            }
            match self.collect(&path, cutoff, options.dry_run) {
                Collected::Removed(size) => {
                    report.removed_blobs += 1;
                    report.removed_bytes += size;
                }
                Collected::Young => report.spared_young += 1,
                Collected::Failed(err) => report.errors.push(err),
            }
        }
    }

    /// Removes `path` if its mtime is before `cutoff`, safely against a concurrent
    /// build that refreshes it: move it aside, look again, put it back if refreshed.
    fn collect(&self, path: &Path, cutoff: SystemTime, dry_run: bool) -> Collected {
        let old = |p: &Path| {
            fs::symlink_metadata(p)
                .and_then(|m| Ok((m.modified()? <= cutoff, m.len())))
                .map_err(|e| format!("{}: {e}", p.display()))
        };
        match old(path) {
            Ok((false, _)) => return Collected::Young,
            Ok((true, size)) if dry_run => return Collected::Removed(size),
            Ok(_) => {}
            Err(err) => return Collected::Failed(err),
        }
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let aside = self
            .root
            .join("tmp")
            .join(format!("{}-{n}-gc.part", std::process::id()));
        if let Err(err) = fs::rename(path, &aside) {
            return Collected::Failed(format!("{}: {err}", path.display()));
        }
        match old(&aside) {
            Ok((true, size)) => match fs::remove_file(&aside) {
                Ok(()) => Collected::Removed(size),
                Err(err) => Collected::Failed(format!("{}: {err}", aside.display())),
            },
            _ => {
                // Touched meanwhile: put it back, unless a build already wrote it anew
                // (same name, same content).
                if path.exists() {
                    let _ = fs::remove_file(&aside);
                } else if let Err(err) = fs::rename(&aside, path) {
                    return Collected::Failed(format!("{}: {err}", path.display()));
                }
                Collected::Young
            }
        }
    }
}

/// A blob's name, path, and what its content hashes to.
type HashedBlob = (FileHash, PathBuf, std::io::Result<(FileHash, u64)>);

/// What happened to one candidate for removal.
enum Collected {
    /// Removed; its size.
    Removed(u64),
    /// Younger than the grace period (or refreshed while being collected): kept.
    Young,
    /// Could not be removed.
    Failed(String),
}

/// The hash a blob's path names, if it is well placed (`blobs/ab/ab…`).
fn blob_name(path: &Path) -> Option<FileHash> {
    let name = path.file_name()?.to_str()?;
    let shard = path.parent()?.file_name()?.to_str()?;
    let hash: FileHash = name.parse().ok()?;
    (name.len() == 64 && name.get(..2) == Some(shard) && hash.0.to_hex() == name).then_some(hash)
}

/// Reads one action entry and checks it against its file name.
fn read_action(path: &Path, depth: usize) -> Result<ActionEntry, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let key: Option<InputHash> = name.strip_suffix(".json").and_then(|h| h.parse().ok());
    let Some(key) = key.filter(|_| depth == 2) else {
        return Err("not an action entry (entries are actions/ab/INPUTHASH.json)".into());
    };
    let text = fs::read(path).map_err(|e| format!("unreadable: {e}"))?;
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
    let entry: ActionEntry =
        serde_json::from_value(value).map_err(|e| format!("not an action entry: {e}"))?;
    if entry.input_hash != key {
        return Err(format!(
            "filed under {key} but its input hash is {}",
            entry.input_hash
        ));
    }
    Ok(entry)
}

fn missing_message(output: &str, hash: Option<&FileHash>, state: &str) -> String {
    let hash = hash.map_or_else(String::new, |h| h.to_string());
    format!("output `{output}` needs blob {hash}, which is {state}")
}

/// Adds every sha256-looking string of a manifest to `blobs`, and the input hashes of
/// its steps to `keys`. Scanning the text (not the schema) keeps gc conservative for
/// manifests it cannot fully read, such as those of another schema version.
fn scan_manifest(path: &Path, blobs: &mut HashSet<FileHash>, keys: &mut HashSet<InputHash>) {
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    if let Ok(manifest) = Manifest::read(path) {
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
    use crate::hash::{DerivationHash, Digest};
    use crate::tree::{EntryType, TreeEntry};

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
            content_hash: crate::tree::content_hash(&outputs),
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
