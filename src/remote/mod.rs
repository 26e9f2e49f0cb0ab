//! A shared cache on a Remote Execution API v2 server (CAS, Action Cache, ByteStream).
//!
//! reprobe is synchronous (rayon for parallelism); the REAPI is gRPC. [`RemoteCache`] is the
//! bridge: it owns a small tokio runtime of its own and offers blocking calls, each bounded
//! in time, so that a slow, unreachable or dying server makes a call fail with a
//! [`RemoteError`] that names the server and the operation instead of hanging a build.
//!
//! Nothing the server sends is trusted: every blob is hashed while it is received and is
//! written to its destination only when it matches its digest ([`RemoteError::Corrupt`]
//! otherwise).
//!
//! Layers:
//! - [`url`] parses `grpc://HOST:PORT[/INSTANCE]`.
//! - [`digest`] holds REAPI digests (sha256 and size).
//! - [`keys`] turns reprobe's cache keys into Action Cache keys.
//! - [`RemoteCache`] makes the CAS and Action Cache calls, with the step and document
//!   helpers on top.

mod client;
pub(crate) mod digest;
mod error;
pub(crate) mod keys;
pub(crate) mod url;

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
pub use digest::Digest;
pub use error::RemoteError;
pub use keys::{document_action, step_action, KeyedAction};
pub use url::RemoteUrl;

use client::{Client, Sink};

/// Bounds and sizes of the client's calls.
///
/// It exists so that tests (and a future command-line flag) can shorten the bounds; the
/// defaults suit a cache on the local network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteOptions {
    /// How long connecting (TCP and HTTP/2) may take.
    pub connect_timeout: Duration,
    /// How long a call may wait for an answer; for streams, how long each message may take.
    pub call_timeout: Duration,
    /// Size of the messages of a ByteStream upload.
    pub chunk_size: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            connect_timeout: Duration::from_secs(2),
            call_timeout: Duration::from_secs(20),
            chunk_size: 1024 * 1024,
        }
    }
}

/// Where the bytes of a blob to upload come from.
///
/// It exists so that large outputs are streamed from their file instead of being loaded
/// whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobSource {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A file, read when it is uploaded (and checked against the digest then).
    File(PathBuf),
}

/// A blob to upload: its digest and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// What the bytes hash to.
    pub digest: Digest,
    /// Where they are.
    pub source: BlobSource,
}

impl Blob {
    /// A blob of bytes in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Blob {
        Blob {
            digest: Digest::of_bytes(&bytes),
            source: BlobSource::Bytes(bytes),
        }
    }

    /// A blob of a file's content; the file is hashed now and read again on upload.
    pub fn from_file(path: impl Into<PathBuf>) -> io::Result<Blob> {
        let path = path.into();
        Ok(Blob {
            digest: Digest::of_file(&path)?,
            source: BlobSource::File(path),
        })
    }
}

/// One output file of a cached build step, as recorded in the step's `ActionResult`.
///
/// It exists so that callers deal with a checked, plain struct rather than the protobuf
/// `OutputFile`: paths read back from a server are validated to be relative and to stay
/// inside the step's directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutputEntry {
    /// The output's path relative to the step's directory, `/`-separated.
    pub path: String,
    /// Its content.
    pub digest: Digest,
    /// Whether it is executable.
    pub is_executable: bool,
}

/// A connection to a REAPI server used as reprobe's shared cache, with blocking calls.
///
/// It exists so that the synchronous rest of reprobe can use an async gRPC client: it owns a
/// one-worker tokio runtime and blocks on it. It is `Send + Sync`; rayon threads may call it
/// at the same time. Each call is bounded by [`RemoteOptions`]; when the server restarts, the
/// next call reconnects.
pub struct RemoteCache {
    runtime: Option<tokio::runtime::Runtime>,
    client: Client,
    url: RemoteUrl,
}

impl RemoteCache {
    /// Connects to `url` and checks that the server can serve as a cache (sha256 digests).
    ///
    /// Fails within about `options.connect_timeout` plus one `call_timeout` whatever the
    /// server does.
    pub fn connect(url: &RemoteUrl, options: RemoteOptions) -> Result<RemoteCache, RemoteError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("reprobe-remote")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| RemoteError::Runtime(Arc::new(e)))?;
        let client = match runtime.block_on(Client::connect(url, options)) {
            Ok(client) => client,
            Err(err) => {
                // Do not wait for what the runtime may still run (a name lookup, say).
                runtime.shutdown_background();
                return Err(err);
            }
        };
        Ok(RemoteCache {
            runtime: Some(runtime),
            client,
            url: url.clone(),
        })
    }

    /// The server this cache talks to.
    pub fn url(&self) -> &RemoteUrl {
        &self.url
    }

    /// The largest total size of one batch call, as announced by the server (4 MiB when it
    /// announces none). Larger blobs go through ByteStream.
    pub fn max_batch_bytes(&self) -> u64 {
        self.client.max_batch
    }

    /// Whether the server lets clients write its Action Cache.
    pub fn can_update_action_cache(&self) -> bool {
        self.client.ac_updates
    }

    /// Runs a future on the cache's runtime.
    fn block_on<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the cache")
            .block_on(fut)
    }

    /// The digests among `digests` that the server does not have (each once, in the order
    /// given).
    pub fn find_missing(&self, digests: &[Digest]) -> Result<Vec<Digest>, RemoteError> {
        self.block_on(self.client.find_missing(digests))
    }

    /// Uploads blobs: those that fit in a batch with BatchUpdateBlobs, larger ones with
    /// ByteStream Write, streamed from their file. A file whose content is no longer its
    /// digest is not stored ([`RemoteError::LocalChanged`]).
    pub fn upload(&self, blobs: &[Blob]) -> Result<(), RemoteError> {
        self.block_on(self.client.upload(blobs))
    }

    /// Uploads the blobs the server does not have yet; returns how many were uploaded.
    pub fn upload_missing(&self, blobs: &[Blob]) -> Result<usize, RemoteError> {
        self.block_on(async {
            let digests: Vec<Digest> = blobs.iter().map(|b| b.digest).collect();
            let missing = self.client.find_missing(&digests).await?;
            let missing: std::collections::BTreeSet<Digest> = missing.into_iter().collect();
            let wanted: Vec<Blob> = blobs
                .iter()
                .filter(|b| missing.contains(&b.digest))
                .cloned()
                .collect();
            self.client.upload(&wanted).await?;
            Ok(missing.len())
        })
    }

    /// Downloads one blob to `dest` (its directory is created). The bytes are verified
    /// against `digest` before `dest` is created or replaced: on [`RemoteError::Corrupt`],
    /// [`RemoteError::NotFound`] or any other error, `dest` is left as it was.
    pub fn download(&self, digest: Digest, dest: &Path) -> Result<(), RemoteError> {
        self.download_many(&[(digest, dest.to_path_buf())])
            .pop()
            .expect("one result per item")
    }

    /// Downloads blobs to their destinations, small ones in batches, large ones streamed;
    /// one result per item, in order. Once the server proves unreachable, the remaining
    /// items fail with the same error without further waiting.
    pub fn download_many(&self, wanted: &[(Digest, PathBuf)]) -> Vec<Result<(), RemoteError>> {
        let sinks: Vec<(Digest, Sink)> = wanted
            .iter()
            .map(|(digest, dest)| (*digest, Sink::File(dest.clone())))
            .collect();
        self.block_on(self.client.download(&sinks))
            .into_iter()
            .map(|r| r.map(|_| ()))
            .collect()
    }

    /// Reads one blob into memory, verified against its digest.
    pub fn read_blob(&self, digest: Digest) -> Result<Vec<u8>, RemoteError> {
        let mut results = self.block_on(self.client.download(&[(digest, Sink::Memory)]));
        match results.pop().expect("one result per item") {
            Ok(bytes) => Ok(bytes.expect("memory sinks return their bytes")),
            Err(err) => Err(err),
        }
    }

    /// Reads blobs into memory, small ones in batches, each verified against its digest;
    /// one result per digest, in order. For blobs that fit in memory (callers stream large
    /// ones to files with [`download_many`](Self::download_many)).
    pub(crate) fn read_many(&self, digests: &[Digest]) -> Vec<Result<Vec<u8>, RemoteError>> {
        let sinks: Vec<(Digest, Sink)> = digests.iter().map(|d| (*d, Sink::Memory)).collect();
        self.block_on(self.client.download(&sinks))
            .into_iter()
            .map(|r| r.map(|bytes| bytes.expect("memory sinks return their bytes")))
            .collect()
    }

    /// The Action Cache entry of an action, `None` when the server has none.
    pub fn get_action_result(
        &self,
        action: Digest,
    ) -> Result<Option<reapi::ActionResult>, RemoteError> {
        self.block_on(self.client.get_action_result(action))
    }

    /// Stores an Action Cache entry; returns what the server stored. The blobs it refers to
    /// should be in the CAS already (servers may drop entries whose blobs are missing).
    pub(crate) fn update_action_result(
        &self,
        action: Digest,
        result: &reapi::ActionResult,
    ) -> Result<reapi::ActionResult, RemoteError> {
        self.block_on(self.client.update_action_result(action, result.clone()))
    }

    /// Uploads the `Action`, `Command` and empty input root of a keyed action, those missing.
    pub(crate) fn publish_action(&self, keyed: &KeyedAction) -> Result<(), RemoteError> {
        let blobs: Vec<Blob> = keyed
            .blobs()
            .into_iter()
            .map(|(digest, bytes)| Blob {
                digest,
                source: BlobSource::Bytes(bytes),
            })
            .collect();
        self.upload_missing(&blobs).map(|_| ())
    }

    /// Records the outputs of the build step whose input hash is `key` (64 hex digits).
    ///
    /// The outputs' blobs must already be in the CAS ([`upload_missing`](Self::upload_missing)):
    /// an entry that points at missing blobs is refused here rather than stored broken.
    pub fn put_step_result(&self, key: &str, outputs: &[OutputEntry]) -> Result<(), RemoteError> {
        let keyed = step_action(key)?;
        let mut outputs = outputs.to_vec();
        outputs.sort();
        for (i, output) in outputs.iter().enumerate() {
            if !is_safe_relative(&output.path) {
                return Err(RemoteError::InvalidArgument(format!(
                    "output path `{}` is not a relative path inside the step's directory",
                    output.path
                )));
            }
            if i > 0 && outputs[i - 1].path == output.path {
                return Err(RemoteError::InvalidArgument(format!(
                    "output path `{}` is listed twice",
                    output.path
                )));
            }
        }
        let digests: Vec<Digest> = outputs.iter().map(|o| o.digest).collect();
        let missing = self.find_missing(&digests)?;
        if let Some(digest) = missing.first() {
            return Err(RemoteError::InvalidArgument(format!(
                "output blob {digest} of step {key} is not in the remote cache at {}; \
                 upload the outputs before recording the step",
                self.url.authority()
            )));
        }
        self.publish_action(&keyed)?;
        let result = reapi::ActionResult {
            output_files: outputs
                .iter()
                .map(|o| reapi::OutputFile {
                    path: o.path.clone(),
                    digest: Some(o.digest.to_proto()),
                    is_executable: o.is_executable,
                    ..Default::default()
                })
                .collect(),
            exit_code: 0,
            ..Default::default()
        };
        self.update_action_result(keyed.action_digest, &result)?;
        Ok(())
    }

    /// The outputs recorded for the build step whose input hash is `key`; `None` on a miss
    /// (no entry, or an entry for a failed run).
    pub fn get_step_result(&self, key: &str) -> Result<Option<Vec<OutputEntry>>, RemoteError> {
        let keyed = step_action(key)?;
        let Some(result) = self.get_action_result(keyed.action_digest)? else {
            return Ok(None);
        };
        if result.exit_code != 0 {
            return Ok(None);
        }
        let op = format!("GetActionResult of step {key}");
        let bad = |detail: String| RemoteError::BadResponse {
            addr: self.url.authority(),
            op: op.clone(),
            detail,
        };
        let mut outputs = Vec::with_capacity(result.output_files.len());
        for file in &result.output_files {
            if !is_safe_relative(&file.path) {
                return Err(bad(format!(
                    "output path `{}` leaves the step's directory",
                    file.path
                )));
            }
            let digest = file
                .digest
                .as_ref()
                .and_then(Digest::from_proto)
                .ok_or_else(|| bad(format!("output `{}` has no valid digest", file.path)))?;
            outputs.push(OutputEntry {
                path: file.path.clone(),
                digest,
                is_executable: file.is_executable,
            });
        }
        Ok(Some(outputs))
    }

    /// Stores a document (e.g. a build manifest) under `kind` and `name` (e.g. `manifest`
    /// and a graph id); returns its digest. A later put under the same name replaces it.
    pub fn put_document(
        &self,
        kind: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<Digest, RemoteError> {
        let blob = Blob::from_bytes(bytes.to_vec());
        let digest = blob.digest;
        self.upload_missing(&[blob])?;
        self.point_document(kind, name, digest)?;
        Ok(digest)
    }

    /// Stores the blob `digest`, already in the CAS, as the document under `kind` and
    /// `name`: what moves a document to another name without its bytes travelling.
    pub fn point_document(
        &self,
        kind: &str,
        name: &str,
        digest: Digest,
    ) -> Result<(), RemoteError> {
        let keyed = document_action(kind, name)?;
        self.publish_action(&keyed)?;
        let result = reapi::ActionResult {
            output_files: vec![reapi::OutputFile {
                path: kind.to_string(),
                digest: Some(digest.to_proto()),
                ..Default::default()
            }],
            ..Default::default()
        };
        self.update_action_result(keyed.action_digest, &result)?;
        Ok(())
    }

    /// The document stored under `kind` and `name`, verified; `None` when there is none or
    /// its blob has left the CAS. A corrupt blob is an error ([`RemoteError::Corrupt`]).
    pub fn get_document(&self, kind: &str, name: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        let Some(digest) = self.document_digest(kind, name)? else {
            return Ok(None);
        };
        match self.read_blob(digest) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(RemoteError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The digest of the document stored under `kind` and `name`, without reading it;
    /// `None` when there is none.
    pub fn document_digest(&self, kind: &str, name: &str) -> Result<Option<Digest>, RemoteError> {
        let keyed = document_action(kind, name)?;
        let Some(result) = self.get_action_result(keyed.action_digest)? else {
            return Ok(None);
        };
        let Some(file) = result.output_files.iter().find(|f| f.path == kind) else {
            return Ok(None);
        };
        let digest = file
            .digest
            .as_ref()
            .and_then(Digest::from_proto)
            .ok_or_else(|| RemoteError::BadResponse {
                addr: self.url.authority(),
                op: format!("GetActionResult of {kind} {name}"),
                detail: "the document has no valid digest".to_string(),
            })?;
        Ok(Some(digest))
    }
}

impl Drop for RemoteCache {
    fn drop(&mut self) {
        // Never wait for the runtime's tasks (a connection to a hung server) on drop.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Whether `path` is relative, `/`-separated and stays inside its directory.
fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_must_stay_inside() {
        for ok in ["a", "out/lib.a", "a/b/c.o", ".hidden"] {
            assert!(is_safe_relative(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a/",
            "a\\b",
            "a\0b",
        ] {
            assert!(!is_safe_relative(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_cache_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RemoteCache>();
        assert_send_sync::<RemoteError>();
    }
}
