//! The remote cache tier: the local store first, then a Remote Execution API server shared
//! by several machines (docs/remote.md).
//!
//! A step's local miss asks the server for the step's entry; its blobs are downloaded,
//! verified against their digests, into the local store, the local action entry is
//! recorded, and the step is then a hit like any other. A step that runs is published:
//! the blobs the server lacks are uploaded, then its entry. After a build, its manifest
//! is published under the graph's id, for `explain --remote`.
//!
//! Nothing the server sends is served unchecked: a blob whose bytes do not match its
//! digest, or one the server no longer has, makes the step a miss with a note naming the
//! blob (the build's warnings). When the server itself fails (unreachable, too slow,
//! gone mid-build) the tier turns itself off for the rest of the run and says so once:
//! the build goes on locally and its exit code does not change.
//!
//! Files by concern: `entry` (a local action entry as an ordinary REAPI `ActionResult`),
//! `fill` (local miss, remote hit), `index` (a build's entries in one document, read
//! once), `publish` (uploads), `documents` (manifests).

mod documents;
mod entry;
mod fill;
mod index;
mod publish;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::remote::{Digest, RemoteCache, RemoteError, RemoteOptions, RemoteUrl};

pub use fill::Fill;

/// A remote cache as a build uses it: the connection, whether it is still in use, and
/// what went wrong with it, said once.
///
/// It exists so that every step of a build shares one connection and one decision: after
/// the first failure of the server, no step waits for it again.
pub struct RemoteTier {
    url: RemoteUrl,
    /// `None` when the connection could not be made.
    cache: Option<RemoteCache>,
    /// Why the connection could not be made.
    connect_error: Option<String>,
    /// Set at the first failure of the server: the tier is not used any more.
    off: AtomicBool,
    /// Warnings for the end of the run (the first failure; entries not published).
    warnings: Mutex<Vec<String>>,
    /// Blobs the server sent with wrong content: uploaded again when this build has them.
    corrupt: Mutex<BTreeSet<Digest>>,
    /// Steps filled from the server.
    hits: AtomicUsize,
    /// Steps published to the server.
    published: AtomicUsize,
    /// The graph's published entries, read at the first local miss.
    index: std::sync::OnceLock<index::Index>,
}

impl std::fmt::Debug for RemoteTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTier")
            .field("url", &self.url.to_string())
            .field("connected", &self.cache.is_some())
            .field("off", &self.off.load(Ordering::Relaxed))
            .finish()
    }
}

impl RemoteTier {
    /// Connects to the server at `url`. A server that cannot be reached gives a tier that
    /// is off, with one warning saying so: the build runs locally.
    pub fn connect(url: &RemoteUrl, options: RemoteOptions) -> RemoteTier {
        let tier = RemoteTier {
            url: url.clone(),
            cache: None,
            connect_error: None,
            off: AtomicBool::new(false),
            warnings: Mutex::new(Vec::new()),
            corrupt: Mutex::new(BTreeSet::new()),
            hits: AtomicUsize::new(0),
            published: AtomicUsize::new(0),
            index: std::sync::OnceLock::new(),
        };
        match RemoteCache::connect(url, options) {
            Ok(cache) => RemoteTier {
                cache: Some(cache),
                ..tier
            },
            Err(err) => {
                tier.give_up(&err);
                RemoteTier {
                    connect_error: Some(err.to_string()),
                    ..tier
                }
            }
        }
    }

    /// Why the connection could not be made, when it could not: what a command that
    /// cannot do without the server reports.
    pub fn connect_error(&self) -> Option<&str> {
        self.connect_error.as_deref()
    }

    /// The server's address.
    pub fn url(&self) -> &RemoteUrl {
        &self.url
    }

    /// Whether the tier is still in use (connected, and the server has not failed).
    pub fn is_on(&self) -> bool {
        self.cache.is_some() && !self.off.load(Ordering::SeqCst)
    }

    /// The connection, while the tier is in use.
    fn cache(&self) -> Option<&RemoteCache> {
        self.cache.as_ref().filter(|_| self.is_on())
    }

    /// How many steps came from the server in this run.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many steps this run published to the server.
    pub fn published(&self) -> usize {
        self.published.load(Ordering::Relaxed)
    }

    /// The warnings so far, each once (the caller prints them).
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// Adds a warning.
    fn warn(&self, text: String) {
        if let Ok(mut warnings) = self.warnings.lock() {
            if !warnings.contains(&text) {
                warnings.push(text);
            }
        }
    }

    /// Stops using the server for the rest of the run; the first call leaves the one
    /// warning that says so.
    fn give_up(&self, err: &RemoteError) {
        if !self.off.swap(true, Ordering::SeqCst) {
            self.warn(format!(
                "{err}; the remote cache {} is not used for the rest of this run (steps run \
                 locally, and nothing more is published to it)",
                self.url
            ));
        }
    }

    /// Notes a blob the server sent with wrong content.
    fn note_corrupt(&self, digest: Digest) {
        if let Ok(mut corrupt) = self.corrupt.lock() {
            corrupt.insert(digest);
        }
    }

    /// The blobs the server sent with wrong content in this run.
    fn corrupt_blobs(&self) -> BTreeSet<Digest> {
        self.corrupt.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// How often a call the server refused for load (`RESOURCE_EXHAUSTED`: a server at its
/// limit of concurrent calls) is tried again, waiting twice as long each time from
/// [`BUSY_FIRST_WAIT`], before the failure counts.
const BUSY_RETRIES: u32 = 6;

/// The first wait before trying a refused call again.
const BUSY_FIRST_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// Runs `call` again while the server says it is busy, a bounded number of times.
fn retry_busy<T>(mut call: impl FnMut() -> Result<T, RemoteError>) -> Result<T, RemoteError> {
    let mut wait = BUSY_FIRST_WAIT;
    for _ in 0..BUSY_RETRIES {
        match call() {
            Err(RemoteError::Rpc {
                code: tonic::Code::ResourceExhausted,
                ..
            }) => {
                std::thread::sleep(wait);
                wait *= 2;
            }
            other => return other,
        }
    }
    call()
}

/// Whether an error is about one blob (a miss to report) rather than about the server
/// (which turns the tier off).
fn is_blob_problem(err: &RemoteError) -> bool {
    matches!(
        err,
        RemoteError::Corrupt { .. } | RemoteError::NotFound { .. }
    )
}
