//! Build manifests on the server, by graph id: what `explain --remote` compares with.

use super::RemoteTier;
use crate::model::manifest::{GraphId, Manifest};
use crate::remote::RemoteError;

/// The document kind manifests are stored under.
const MANIFEST_KIND: &str = "manifest";

impl RemoteTier {
    /// Publishes a build's manifest as the latest of its graph. A failure turns the tier
    /// off with its one warning.
    pub fn publish_manifest(&self, manifest: &Manifest) {
        let (Some(cache), Some(graph)) = (self.cache(), manifest.graph_id) else {
            return;
        };
        if let Err(err) = cache.put_document(
            MANIFEST_KIND,
            &graph.0.to_hex(),
            manifest.to_json().as_bytes(),
        ) {
            self.give_up(&err);
        }
    }

    /// The latest manifest any machine published for `graph`; `None` when there is none.
    /// Unlike a build's lookups, a failure here is an error: the comparison was asked for.
    pub fn latest_manifest(
        &self,
        graph: &GraphId,
    ) -> Result<Option<Manifest>, RemoteManifestError> {
        let Some(cache) = self.cache.as_ref() else {
            return Err(RemoteManifestError::Unreachable(
                self.take_warnings().join("; "),
            ));
        };
        let Some(bytes) = cache.get_document(MANIFEST_KIND, &graph.0.to_hex())? else {
            return Ok(None);
        };
        let origin = std::path::PathBuf::from(format!(
            "{} manifest of graph {}",
            self.url(),
            graph.0.short()
        ));
        let text = String::from_utf8_lossy(&bytes);
        Ok(Some(Manifest::from_json(&origin, &text)?))
    }
}

/// Why the latest manifest of a graph could not be read from the server.
#[derive(Debug, thiserror::Error)]
pub enum RemoteManifestError {
    /// The server could not be reached at all.
    #[error("{0}")]
    Unreachable(String),
    /// A call failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// What it sent is not a manifest this reprobe reads.
    #[error(transparent)]
    Manifest(#[from] crate::model::manifest::ManifestError),
}
