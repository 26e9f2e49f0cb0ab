//! `reprobe store verify`: checking a store.
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

use std::collections::HashSet;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::handles::{read_regular, remove_odd_entry};
use super::layout::{Store, REMOVED_DIR};
use super::listing::Listed;
use crate::fsafe::Opened;
use crate::model::hash::{hash_reader, FileHash};
use crate::model::manifest::Manifest;

/// What kind of problem `store verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreProblemKind {
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

impl StoreProblemKind {
    /// The kebab-case name used in JSON and text output.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreProblemKind::CorruptBlob => "corrupt-blob",
            StoreProblemKind::StrayFile => "stray-file",
            StoreProblemKind::BadAction => "bad-action",
            StoreProblemKind::BadManifest => "bad-manifest",
            StoreProblemKind::MissingBlob => "missing-blob",
        }
    }
}

/// One problem of a store, naming the file concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreProblem {
    /// What is wrong.
    pub kind: StoreProblemKind,
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
    pub problems: Vec<StoreProblem>,
}

impl VerifyReport {
    /// Whether the store is sound.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
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

impl Store {
    /// Checks every blob against its hash, and every action entry and manifest against
    /// its blobs. Removes (and reports) corrupt blobs and non-regular entries only.
    pub fn verify(&self) -> VerifyReport {
        let mut report = VerifyReport::default();
        let (sound, corrupt) = self.verify_blobs(&mut report);
        let (notes, strays) = self.removed_notes();
        for name in strays {
            report.problems.push(StoreProblem {
                kind: StoreProblemKind::StrayFile,
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
            report.problems.push(StoreProblem {
                kind: StoreProblemKind::StrayFile,
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
                    report.problems.push(StoreProblem {
                        kind: StoreProblemKind::CorruptBlob,
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
        match hash_reader(file) {
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

    fn verify_actions(
        &self,
        report: &mut VerifyReport,
        blob_state: &dyn Fn(&FileHash) -> Option<BlobState>,
    ) {
        for (path, parsed) in self.list_actions(true) {
            report.actions += 1;
            let rel = self.relative(&path);
            let problem = |kind, message| StoreProblem {
                kind,
                path: rel.clone(),
                message,
            };
            let entry = match parsed {
                Ok(entry) => entry,
                Err(message) => {
                    let kind = if message.starts_with("not an action entry") {
                        StoreProblemKind::StrayFile
                    } else {
                        StoreProblemKind::BadAction
                    };
                    report.problems.push(problem(kind, message));
                    continue;
                }
            };
            let actual = crate::model::tree::content_hash(&entry.outputs);
            if actual != entry.content_hash {
                report.problems.push(problem(
                    StoreProblemKind::BadAction,
                    format!(
                        "content hash {} does not match its output tree ({actual}); `reprobe store gc` removes the entry",
                        entry.content_hash
                    ),
                ));
            }
            for output in &entry.outputs {
                if let Some(state) = output.sha256.as_ref().and_then(blob_state) {
                    report.problems.push(problem(
                        StoreProblemKind::MissingBlob,
                        format!(
                            "{}: this cache entry is a miss; the next `reprobe build` that needs the step runs it again and rewrites the entry, or `reprobe store gc` removes it",
                            missing_message(&output.path, output.sha256.as_ref(), state)
                        ),
                    ));
                }
            }
        }
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
                report.problems.push(StoreProblem {
                    kind: StoreProblemKind::StrayFile,
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
                    report.problems.push(StoreProblem {
                        kind: StoreProblemKind::BadManifest,
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
                    report.problems.push(StoreProblem {
                        kind: StoreProblemKind::MissingBlob,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hash::{Digest, InputHash};
    use crate::store::test_support::{blob, entry, store};
    use std::fs;

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
        let kinds: Vec<StoreProblemKind> = store.verify().problems.iter().map(|p| p.kind).collect();
        assert!(kinds.contains(&StoreProblemKind::CorruptBlob), "{kinds:?}");
        assert!(kinds.contains(&StoreProblemKind::MissingBlob), "{kinds:?}");
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
        assert_eq!(problems[0].kind, StoreProblemKind::BadAction);
    }
}
