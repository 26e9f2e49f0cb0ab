//! Stores and entries for the unit tests of the store's modules.

use std::fs;

use super::action_cache::{ActionEntry, ACTION_SCHEMA};
use super::layout::Store;
use crate::model::hash::{DerivationHash, Digest, FileHash, InputHash};
use crate::model::tree::{EntryType, TreeEntry};

/// A new store in a temporary directory (kept while the directory lives).
pub(super) fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s")).unwrap();
    (dir, store)
}

/// Ingests `bytes` as a blob.
pub(super) fn blob(store: &Store, bytes: &[u8]) -> FileHash {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("f");
    fs::write(&src, bytes).unwrap();
    store.ingest_file(&src).unwrap().0
}

/// An action entry under key `key` whose one output file is blob `hash`.
pub(super) fn entry(key: &[u8], hash: FileHash) -> ActionEntry {
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
