//! The action cache (`actions/ab/INPUTHASH.json`): what a successful step run produced,
//! by input hash; an entry that does not parse, or whose blobs are gone, is a miss.

use std::ffi::{OsStr, OsString};
use std::io;

use serde::{Deserialize, Serialize};

use super::blobs::Presence;
use super::handles::{read_regular, remove_odd_entry, shard};
use super::layout::{action_name, Store};
use super::messages::warn;
use super::store_error::{at, StoreError};
use crate::model::findings::{Observed, SandboxFindings};
use crate::model::hash::{ContentHash, DerivationHash, FileHash, InputHash};
use crate::model::tree::TreeEntry;

/// The schema of action-cache entries.
pub const ACTION_SCHEMA: &str = "reprobe/action/1";

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

impl Store {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hash::Digest;
    use crate::model::tree::EntryType;
    use std::fs;

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
}
