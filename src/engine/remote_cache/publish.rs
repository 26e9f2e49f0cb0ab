//! A step that ran, published: the blobs the server lacks uploaded, then its entry.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use super::entry::{blob_digest, encode_entry};
use super::{retry_busy, RemoteTier};
use crate::remote::{step_action, Blob, BlobSource, Digest, RemoteCache, RemoteError};
use crate::store::{ActionEntry, Store};

impl RemoteTier {
    /// Publishes the entry of a step that ran (its blobs are in `store`). A failure of the
    /// server turns the tier off; a local blob that changed is a warning naming the step.
    pub fn publish(&self, store: &Store, step: &str, entry: &ActionEntry) {
        let Some(cache) = self.cache() else {
            return;
        };
        match retry_busy(|| self.try_publish(cache, store, entry)) {
            Ok(()) => {
                self.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(err @ RemoteError::LocalChanged { .. }) | Err(err @ RemoteError::Local { .. }) => {
                self.warn(format!(
                    "step `{step}` was not published to the remote cache {}: {err}",
                    self.url()
                ));
            }
            Err(err) => self.give_up(&err),
        }
    }

    fn try_publish(
        &self,
        cache: &RemoteCache,
        store: &Store,
        entry: &ActionEntry,
    ) -> Result<(), RemoteError> {
        let keyed = step_action(&entry.input_hash.0.to_hex())?;
        let json = serde_json::to_vec(entry)
            .map_err(|e| RemoteError::InvalidArgument(format!("cannot encode an entry: {e}")))?;
        let entry_blob = Blob::from_bytes(json);
        let entry_digest = entry_blob.digest;
        let mut blobs = vec![entry_blob];
        blobs.extend(keyed.blobs().into_iter().map(|(digest, bytes)| Blob {
            digest,
            source: BlobSource::Bytes(bytes),
        }));
        let mut seen = BTreeSet::new();
        for output in &entry.outputs {
            if let Some(hash) = output.sha256 {
                let digest = blob_digest(&hash, output.size);
                if seen.insert(digest) {
                    blobs.push(Blob {
                        digest,
                        source: BlobSource::File(store.blob_path(&hash)),
                    });
                }
            }
        }
        let digests: Vec<Digest> = blobs.iter().map(|b| b.digest).collect();
        // The blobs the server sent corrupt are sent again: its copy is damaged.
        let mut send: BTreeSet<Digest> = cache.find_missing(&digests)?.into_iter().collect();
        send.extend(self.corrupt_blobs().intersection(&seen));
        let wanted: Vec<Blob> = blobs
            .into_iter()
            .filter(|b| send.contains(&b.digest))
            .collect();
        cache.upload(&wanted)?;
        cache.update_action_result(keyed.action_digest, &encode_entry(entry, entry_digest))?;
        Ok(())
    }
}
