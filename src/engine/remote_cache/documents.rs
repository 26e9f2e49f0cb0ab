//! Build manifests on the server, by the graph's shape (its step names, not its path, so
//! that every checkout finds them): what `explain --remote` compares with.

use super::index::shape_name;
use super::{retry_busy, RemoteTier};
use crate::model::manifest::Manifest;
use crate::remote::RemoteError;

/// The document kind the latest manifest of a graph is stored under.
const MANIFEST_KIND: &str = "manifest";

/// The kind the one before it is kept under, so that a machine that just published its
/// own build can still compare it with another's.
const PREVIOUS_KIND: &str = "manifest-previous";

impl RemoteTier {
    /// Publishes a build's manifest as the latest of its graph (the latest until now
    /// becomes the previous one). A failure turns the tier off with its one warning.
    pub fn publish_manifest(&self, manifest: &Manifest) {
        let Some(cache) = self.cache() else {
            return;
        };
        let name = manifest_name(manifest);
        let published = retry_busy(|| {
            if let Some(latest) = cache.document_digest(MANIFEST_KIND, &name)? {
                cache.point_document(PREVIOUS_KIND, &name, latest)?;
            }
            cache.put_document(MANIFEST_KIND, &name, manifest.to_json().as_bytes())
        });
        if let Err(err) = published {
            self.give_up(&err);
        }
    }

    /// The latest manifest any machine, at any path, published for the graph of `mine`
    /// other than `mine` itself (this machine's own, when it published it); `None` when
    /// there is none. Unlike a build's lookups, a failure here is an error: the
    /// comparison was asked for.
    pub fn latest_manifest(
        &self,
        mine: &Manifest,
    ) -> Result<Option<Manifest>, RemoteManifestError> {
        let Some(cache) = self.cache.as_ref() else {
            return Err(RemoteManifestError::Unreachable(
                self.connect_error().unwrap_or_default().to_string(),
            ));
        };
        let name = manifest_name(mine);
        for kind in [MANIFEST_KIND, PREVIOUS_KIND] {
            let Some(bytes) = cache.get_document(kind, &name)? else {
                return Ok(None);
            };
            let origin = std::path::PathBuf::from(format!("{} {kind} {}", self.url(), &name[..12]));
            let manifest = Manifest::from_json(&origin, &String::from_utf8_lossy(&bytes))?;
            if manifest.id != mine.id {
                return Ok(Some(manifest));
            }
        }
        Ok(None)
    }
}

/// The name a build's manifest is published under: its graph's shape.
fn manifest_name(manifest: &Manifest) -> String {
    shape_name(manifest.steps.iter().map(|s| s.name.as_str()))
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
