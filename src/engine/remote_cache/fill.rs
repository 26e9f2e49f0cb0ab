//! A local miss, a remote hit: the step's entry and blobs fetched from the server,
//! verified, and written into the local store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::entry::{blob_digest, check_entry, decode_entry, entry_blob};
use super::{is_blob_problem, retry_busy, RemoteTier};
use crate::model::graph::Graph;
use crate::model::hash::{FileHash, InputHash};
use crate::remote::{step_action, Digest, RemoteCache, RemoteError};
use crate::store::{ActionEntry, Store};

/// What asking the server for a step gave.
#[derive(Debug, Clone)]
pub enum Fill {
    /// The step's entry and blobs are now in the local store; the entry, as recorded
    /// there (verified: its blobs are in the store), so the step need not read it back.
    Filled(Box<ActionEntry>),
    /// The server has no usable entry (or the tier is off).
    Miss,
    /// The server has an entry that was refused (a blob corrupt or gone, an entry that
    /// does not fit the step): the step runs, and its record carries this note.
    Refused(String),
}

impl RemoteTier {
    /// Looks the step whose key is `key` up on the server (the index of `graph`'s last
    /// published build, then the action cache) and, on a hit, copies its entry and blobs
    /// into `store`. `declared` are the step's declared outputs.
    pub fn fill(&self, store: &Store, graph: &Graph, key: &InputHash, declared: &[String]) -> Fill {
        let Some(cache) = self.cache() else {
            return Fill::Miss;
        };
        if let Some(entry) = self.index(store, graph).get(key) {
            if let Some(fill) = self.fill_from_index(cache, store, key, declared, entry) {
                return fill;
            }
        }
        match retry_busy(|| self.try_fill(cache, store, key, declared)) {
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

    /// Fills from the index's entry for `key`; `None` when the entry does not fit the
    /// step (the action cache is asked then).
    fn fill_from_index(
        &self,
        cache: &RemoteCache,
        store: &Store,
        key: &InputHash,
        declared: &[String],
        entry: &ActionEntry,
    ) -> Option<Fill> {
        let entry = check_entry(entry.clone(), key, declared).ok()?;
        let fetched = retry_busy(|| self.fetch_blobs(cache, store, &entry));
        Some(match fetched {
            Ok(Ok(())) => match store.record_action(&entry) {
                Ok(()) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    Fill::Filled(Box::new(entry))
                }
                Err(err) => Fill::Refused(refusal(self, &err.to_string())),
            },
            Ok(Err(why)) => Fill::Refused(refusal(self, &why)),
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
        })
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
        let fetched = retry_busy(|| self.try_fetch(cache, store, key, declared));
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
        // The entry and the small output blobs the result lists, in one batch; what the
        // entry then names beyond them is fetched after it.
        let limit = cache.max_batch_bytes() / 2;
        let mut first: Vec<Digest> = vec![entry_digest];
        first.extend(
            result
                .output_files
                .iter()
                .filter_map(|f| f.digest.as_ref().and_then(Digest::from_proto))
                .filter(|d| d.size_bytes <= limit && d.size_bytes > 0)
                .filter(|d| !store.has_blob(&FileHash(crate::model::hash::Digest(d.hash)))),
        );
        first.sort_unstable_by_key(|d| *d != entry_digest);
        first.dedup();
        let mut read = cache.read_many(&first).into_iter();
        let bytes = read.next().expect("one answer per digest")?;
        let entry = match decode_entry(&bytes, key, declared) {
            Ok(entry) => entry,
            Err(why) => return Ok(Some(Err(why))),
        };
        let named: std::collections::BTreeSet<Digest> = entry
            .outputs
            .iter()
            .filter_map(|o| o.sha256.map(|h| blob_digest(&h, o.size)))
            .collect();
        for (digest, bytes) in first[1..].iter().zip(read) {
            // Only what the verified entry names enters the store.
            if !named.contains(digest) {
                continue;
            }
            let bytes = bytes?;
            if let Err(why) = ingest(store, &bytes, *digest, self) {
                return Ok(Some(Err(why)));
            }
        }
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
        Ok(Fill::Filled(Box::new(entry)))
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
        for (digest, bytes) in small.iter().zip(cache.read_many(&small)) {
            if let Err(why) = ingest(store, &bytes?, *digest, self) {
                return Ok(Err(why));
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

/// Writes a blob received (and verified) from the server into the store.
fn ingest(store: &Store, bytes: &[u8], digest: Digest, tier: &RemoteTier) -> Result<(), String> {
    let origin = Path::new(&format!("{} blob {digest}", tier.url)).to_path_buf();
    match store.ingest_bytes(bytes, &origin) {
        Ok((hash, _)) if hash.0 .0 == digest.hash => Ok(()),
        Ok(_) => Err(format!("blob {digest} did not store as itself")),
        Err(err) => Err(err.to_string()),
    }
}

/// The note of a step whose remote entry was refused.
fn refusal(tier: &RemoteTier, why: &str) -> String {
    format!("not taken from the remote cache {}, ran: {why}", tier.url())
}
