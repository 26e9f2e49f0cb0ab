//! The entries of a graph's last published build, as one document: a fresh machine
//! reads it once and fetches the small blobs it names in a few batches, instead of one
//! `GetActionResult` and one read per step (docs/remote.md, "Speed").
//!
//! The index holds the same claims as the action cache (this key produced these
//! outputs), checked the same way: an entry is used only for its own key, its content
//! hash must be its outputs', and every blob is verified as it is received. A step the
//! index does not know is looked up in the action cache as usual.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use super::entry::blob_digest;
use super::{retry_busy, RemoteTier};
use crate::model::graph::Graph;
use crate::model::hash::Digest as Sha256;
use crate::model::hash::InputHash;
use crate::model::manifest::{CacheSource, Manifest};
use crate::remote::{Digest, RemoteCache};
use crate::store::{ActionEntry, Store};

/// The document kind the index is stored under (named by [`shape_name`]).
const INDEX_KIND: &str = "entries";

/// At most this many bytes of small blobs are fetched ahead from an index.
const PREFETCH_BUDGET: u64 = 256 * 1024 * 1024;

/// The name a graph's documents (its index, its manifests) are published under: the hash
/// of its sorted step names, the same for every checkout of the project wherever it is (a
/// graph id is not: it names a path). Two graphs of the same shape share a name
/// harmlessly: an entry is only used for its key, and a manifest is only compared.
pub(super) fn shape_name<'a>(steps: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = steps.collect();
    names.sort_unstable();
    Sha256::of_bytes(names.join("\n").as_bytes()).to_hex()
}

/// A graph's published entries, by key.
pub(super) type Index = BTreeMap<InputHash, ActionEntry>;

impl RemoteTier {
    /// Publishes the entries of `manifest`'s steps (read back from `store`) as the index
    /// of its graph.
    pub fn publish_index(&self, store: &Store, manifest: &Manifest) {
        let Some(cache) = self.cache() else {
            return;
        };
        // A build whose every step came from the server has nothing to add to it.
        if manifest
            .steps
            .iter()
            .all(|s| s.cache_source == Some(CacheSource::Remote))
        {
            return;
        }
        let name = shape_name(manifest.steps.iter().map(|s| s.name.as_str()));
        let entries: Vec<ActionEntry> = manifest
            .steps
            .iter()
            .filter_map(|s| s.input_hash)
            .filter_map(|key| store.lookup_action(&key).ok().flatten())
            .collect();
        let published = retry_busy(|| {
            // Only entries whose blobs the server has (a local hit from before the store
            // used this server may have none there): the index promises a complete step.
            let digests: Vec<Digest> = entries.iter().flat_map(entry_blobs).collect();
            let missing: BTreeSet<Digest> = cache.find_missing(&digests)?.into_iter().collect();
            let complete: Vec<&ActionEntry> = entries
                .iter()
                .filter(|e| entry_blobs(e).all(|d| !missing.contains(&d)))
                .collect();
            let bytes = serde_json::to_vec(&complete).unwrap_or_default();
            cache.put_document(INDEX_KIND, &name, &bytes)
        });
        if let Err(err) = published {
            self.give_up(&err);
        }
    }

    /// Reads the index of `graph` once per run (later calls return the first answer) and
    /// fetches the small blobs it names that `store` lacks, within a budget. A failure
    /// leaves an empty index: the action cache answers alone.
    pub(super) fn index(&self, store: &Store, graph: &Graph) -> &Index {
        self.index.get_or_init(|| {
            let Some(cache) = self.cache() else {
                return Index::new();
            };
            let name = shape_name(graph.steps.iter().map(|s| s.name.as_str()));
            let read = retry_busy(|| cache.get_document(INDEX_KIND, &name));
            let entries: Vec<ActionEntry> = match read {
                Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
                Ok(None) => Vec::new(),
                Err(err) if err.is_unavailable() => {
                    self.give_up(&err);
                    Vec::new()
                }
                Err(_) => Vec::new(),
            };
            let index: Index = entries.into_iter().map(|e| (e.input_hash, e)).collect();

            prefetch(cache, store, &index);
            index
        })
    }
}

/// The digests of an entry's blobs.
fn entry_blobs(entry: &ActionEntry) -> impl Iterator<Item = Digest> + '_ {
    entry
        .outputs
        .iter()
        .filter_map(|o| o.sha256.map(|h| blob_digest(&h, o.size)))
}

/// Fetches the small blobs the index names that the store lacks, in batches; what fails
/// (a corrupt blob, a busy server) is left for the step that needs it to fetch and report.
fn prefetch(cache: &RemoteCache, store: &Store, index: &Index) {
    let limit = cache.max_batch_bytes() / 2;
    let mut budget = PREFETCH_BUDGET;
    let mut wanted = BTreeSet::new();
    for output in index.values().flat_map(|e| e.outputs.iter()) {
        let Some(hash) = output.sha256 else { continue };
        let digest = blob_digest(&hash, output.size);
        if digest.size_bytes <= limit
            && digest.size_bytes <= budget
            && !wanted.contains(&digest)
            && !store.has_blob(&hash)
        {
            budget -= digest.size_bytes;
            wanted.insert(digest);
        }
    }
    let wanted: Vec<Digest> = wanted.into_iter().collect();
    let fetched: Vec<(Digest, Vec<u8>)> = wanted
        .iter()
        .zip(cache.read_many(&wanted))
        .filter_map(|(digest, bytes)| Some((*digest, bytes.ok()?)))
        .collect();
    // Every step waits for this: the writes (file creations, mostly) go on all cores.
    fetched.par_iter().for_each(|(digest, bytes)| {
        let origin = std::path::PathBuf::from(format!("remote blob {digest}"));
        let _ = store.ingest_bytes(bytes, &origin);
    });
}

#[cfg(test)]
mod tests {
    use super::shape_name;

    #[test]
    fn the_shape_name_is_the_graphs_shape_not_its_order() {
        let a = shape_name(["compile", "link"].into_iter());
        assert_eq!(a, shape_name(["link", "compile"].into_iter()));
        assert_ne!(a, shape_name(["compile", "link", "test"].into_iter()));
        assert_ne!(a, shape_name(["compile\nlink"].into_iter().chain(["x"])));
    }
}
