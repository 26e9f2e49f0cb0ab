//! `reprobe store gc`: collecting what nothing references.
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

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::handles::{read_regular, remove_odd_entry};
use super::layout::{Store, REMOVED_DIR};
use super::listing::{action_key, list_sharded, read_action, Listed};
use super::store_error::{at, StoreError};
use crate::fsafe::Kind;
use crate::model::hash::{FileHash, InputHash};
use crate::model::manifest::Manifest;

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
    use crate::store::test_support::{blob, entry, store};
    use std::fs;

    fn no_grace() -> GcOptions {
        GcOptions {
            grace: Duration::ZERO,
            ..GcOptions::default()
        }
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
