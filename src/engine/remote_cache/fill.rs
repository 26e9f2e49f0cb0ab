//! A local miss, a remote hit: the step's entry and blobs fetched from the server,
//! verified, and written into the local store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::entry::{blob_digest, decode_entry, entry_blob};
use super::{is_blob_problem, RemoteTier};
use crate::model::hash::{FileHash, InputHash};
use crate::remote::{step_action, Digest, RemoteCache, RemoteError};
use crate::store::{ActionEntry, Store};

/// What asking the server for a step gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fill {
    /// The step's entry and blobs are now in the local store: look it up again.
    Filled,
    /// The server has no usable entry (or the tier is off).
    Miss,
    /// The server has an entry that was refused (a blob corrupt or gone, an entry that
    /// does not fit the step): the step runs, and its record carries this note.
    Refused(String),
}

impl RemoteTier {
    /// Looks the step whose key is `key` up on the server and, on a hit, copies its entry
    /// and blobs into `store`. `declared` are the step's declared outputs.
    pub fn fill(&self, store: &Store, key: &InputHash, declared: &[String]) -> Fill {
        let Some(cache) = self.cache() else {
            return Fill::Miss;
        };
        match self.try_fill(cache, store, key, declared) {
            Ok(fill) => fill,
            Err(err) if is_blob_problem(&err) => {
                if let RemoteError::Corrupt { digest, .. } = &err {
                    self.note_corrupt(*digest);
                }
                Fill::Refused(refusal(self, &err.to_string()))
            }
            Err(err) => {
                self.give_up(&err);
                Fill::Miss
            }
        }
    }

    /// The server's entry for the step whose key is `key`, its blobs copied into `store`
    /// (verified) but the entry not recorded there: what `check --against-remote`
    /// compares a local run with. `Ok(Err(why))`: the server's entry was refused.
    pub fn fetch_entry(
        &self,
        store: &Store,
        key: &InputHash,
        declared: &[String],
    ) -> Result<Option<Result<ActionEntry, String>>, RemoteError> {
        let Some(cache) = self.cache.as_ref() else {
            return Ok(None);
        };
        let fetched = self.try_fetch(cache, store, key, declared);
        if let Err(RemoteError::Corrupt { digest, .. }) = &fetched {
            self.note_corrupt(*digest);
        }
        fetched
    }

    fn try_fetch(
        &self,
        cache: &RemoteCache,
        store: &Store,
        key: &InputHash,
        declared: &[String],
    ) -> Result<Option<Result<ActionEntry, String>>, RemoteError> {
        let keyed = step_action(&key.0.to_hex())?;
        let Some(result) = cache.get_action_result(keyed.action_digest)? else {
            return Ok(None);
        };
        let Some(entry_digest) = entry_blob(&result) else {
            return Ok(None);
        };
        let bytes = cache.read_blob(entry_digest)?;
        let entry = match decode_entry(&bytes, key, declared) {
            Ok(entry) => entry,
            Err(why) => return Ok(Some(Err(why))),
        };
        if let Err(why) = self.fetch_blobs(cache, store, &entry)? {
            return Ok(Some(Err(why)));
        }
        Ok(Some(Ok(entry)))
    }

    fn try_fill(
        &self,
        cache: &RemoteCache,
        store: &Store,
        key: &InputHash,
        declared: &[String],
    ) -> Result<Fill, RemoteError> {
        let entry = match self.try_fetch(cache, store, key, declared)? {
            None => return Ok(Fill::Miss),
            Some(Err(why)) => return Ok(Fill::Refused(refusal(self, &why))),
            Some(Ok(entry)) => entry,
        };
        if let Err(err) = store.record_action(&entry) {
            return Ok(Fill::Refused(refusal(self, &err.to_string())));
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Ok(Fill::Filled)
    }

    /// Downloads the entry's blobs the local store lacks, small ones in batches into
    /// memory, large ones streamed to a temporary file, each verified by the client and
    /// again by the store as it is written. `Ok(Err(why))`: the store refused one.
    fn fetch_blobs(
        &self,
        cache: &RemoteCache,
        store: &Store,
        entry: &ActionEntry,
    ) -> Result<Result<(), String>, RemoteError> {
        let mut wanted: BTreeMap<Digest, FileHash> = BTreeMap::new();
        for output in &entry.outputs {
            if let Some(hash) = output.sha256 {
                if !store.has_blob(&hash) {
                    wanted.insert(blob_digest(&hash, output.size), hash);
                }
            }
        }
        let limit = cache.max_batch_bytes() / 2;
        let (small, large): (Vec<Digest>, Vec<Digest>) =
            wanted.keys().partition(|d| d.size_bytes <= limit);
        let origin = |d: &Digest| Path::new(&format!("{} blob {d}", self.url)).to_path_buf();
        for (digest, bytes) in small.iter().zip(cache.read_many(&small)) {
            let bytes = bytes?;
            match store.ingest_bytes(&bytes, &origin(digest)) {
                Ok((hash, _)) if hash == wanted[digest] => {}
                Ok(_) => return Ok(Err(format!("blob {digest} did not store as itself"))),
                Err(err) => return Ok(Err(err.to_string())),
            }
        }
        if large.is_empty() {
            return Ok(Ok(()));
        }
        let temp = match store.temp_dir("remote-download") {
            Ok(dir) => dir,
            Err(err) => return Ok(Err(err.to_string())),
        };
        let targets: Vec<(Digest, std::path::PathBuf)> =
            large.iter().map(|d| (*d, temp.join(d.hex()))).collect();
        let mut outcome = Ok(Ok(()));
        for ((digest, path), done) in targets.iter().zip(cache.download_many(&targets)) {
            if let Err(err) = done {
                outcome = Err(err);
                break;
            }
            match store.ingest_file(path) {
                Ok((hash, _)) if hash == wanted[digest] => {}
                Ok(_) => {
                    outcome = Ok(Err(format!("blob {digest} did not store as itself")));
                    break;
                }
                Err(err) => {
                    outcome = Ok(Err(err.to_string()));
                    break;
                }
            }
        }
        crate::store::remove_tree(&temp);
        outcome
    }
}

/// The note of a step whose remote entry was refused.
fn refusal(tier: &RemoteTier, why: &str) -> String {
    format!("not taken from the remote cache {}, ran: {why}", tier.url())
}
