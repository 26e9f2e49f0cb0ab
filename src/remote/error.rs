//! What can go wrong when talking to a remote cache, in words that say what to do.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Digest;

/// Every failure of the remote cache client.
///
/// It exists so that callers can tell a server that is gone (fall back to local work and say
/// so once) from a blob that is merely missing (a cache miss) or corrupt (a miss that must
/// be reported), and so that each message names the server and the operation. It is `Clone`
/// so that one transport failure can be reported for every item of a batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    /// The remote cache URL could not be parsed.
    #[error(
        "the remote cache URL `{url}` is not usable: {reason}; \
         write it as grpc://HOST:PORT or grpc://HOST:PORT/INSTANCE"
    )]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No connection could be made (refused, unreachable, or not within the connect timeout).
    #[error(
        "cannot connect to the remote cache at {addr} ({detail}); \
         check that the server runs and that the address is right"
    )]
    Connect {
        /// `HOST:PORT`.
        addr: String,
        /// The transport's explanation.
        detail: String,
    },

    /// The server did not answer (or stopped making progress) within the timeout.
    #[error(
        "the remote cache at {addr} did not answer {op} within {}s; \
         check that the server is healthy, or raise the remote timeout",
        timeout.as_secs_f64()
    )]
    Timeout {
        /// `HOST:PORT`.
        addr: String,
        /// The operation, e.g. `FindMissingBlobs`.
        op: String,
        /// The bound that was exceeded.
        timeout: Duration,
    },

    /// The connection broke or the server is not reachable any more.
    #[error(
        "the remote cache at {addr} became unreachable during {op} ({detail}); \
         check that the server still runs"
    )]
    Unavailable {
        /// `HOST:PORT`.
        addr: String,
        /// The operation.
        op: String,
        /// The transport's explanation.
        detail: String,
    },

    /// The server answered the call with an error status.
    #[error("the remote cache at {addr} refused {op}: {code:?}: {message}")]
    Rpc {
        /// `HOST:PORT`.
        addr: String,
        /// The operation.
        op: String,
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },

    /// The server lacks something reprobe needs (sha256, action cache updates, ...).
    #[error("the remote cache at {addr} cannot be used: {what}; configure the server to allow it")]
    Unsupported {
        /// `HOST:PORT`.
        addr: String,
        /// What is missing.
        what: String,
    },

    /// The server sent an answer that breaks the protocol.
    #[error("the remote cache at {addr} sent a malformed answer to {op}: {detail}")]
    BadResponse {
        /// `HOST:PORT`.
        addr: String,
        /// The operation.
        op: String,
        /// What was wrong with it.
        detail: String,
    },

    /// A blob asked for is not in the server's CAS.
    #[error("blob {digest} is not in the remote cache at {addr}")]
    NotFound {
        /// `HOST:PORT`.
        addr: String,
        /// The blob.
        digest: Digest,
    },

    /// The server sent bytes whose sha256 or length is not the digest asked for.
    ///
    /// The bytes were discarded, never written to their destination. Callers treat it as a
    /// cache miss and report it: the server's storage is damaged.
    #[error(
        "the remote cache at {addr} sent blob {digest} with content that does not match its \
         digest; it was discarded (the server's storage may be damaged)"
    )]
    Corrupt {
        /// `HOST:PORT`.
        addr: String,
        /// The blob asked for.
        digest: Digest,
    },

    /// A local file's content is not the digest it was to be uploaded as.
    #[error("{} changed while it was being uploaded (expected {digest}); nothing was stored under that digest", path.display())]
    LocalChanged {
        /// The file.
        path: PathBuf,
        /// The digest it was announced as.
        digest: Digest,
    },

    /// Reading or writing a local file failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Local {
        /// What was being done, e.g. `write`.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: Arc<io::Error>,
    },

    /// An argument given to the client is not usable (e.g. a cache key that is not hex).
    #[error("{0}")]
    InvalidArgument(String),

    /// The client's own runtime could not be started.
    #[error("cannot start the remote cache client's runtime: {0}")]
    Runtime(Arc<io::Error>),
}

impl RemoteError {
    /// Whether the server itself is the problem (unreachable, timing out, broken
    /// connection), as opposed to one blob or one request: callers stop using the cache for
    /// the rest of the run and say so once.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            RemoteError::Connect { .. }
                | RemoteError::Timeout { .. }
                | RemoteError::Unavailable { .. }
        )
    }

    /// A local I/O error on `path`.
    pub(crate) fn local(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        RemoteError::Local {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// Classifies a gRPC status returned by `op` against `addr`.
    pub(crate) fn from_status(addr: &str, op: &str, status: &tonic::Status) -> Self {
        let transport = status.code() == tonic::Code::Unavailable
            || (status.code() == tonic::Code::Unknown
                && std::error::Error::source(status).is_some());
        if transport {
            RemoteError::Unavailable {
                addr: addr.to_string(),
                op: op.to_string(),
                detail: status_detail(status),
            }
        } else {
            RemoteError::Rpc {
                addr: addr.to_string(),
                op: op.to_string(),
                code: status.code(),
                message: status.message().to_string(),
            }
        }
    }
}

/// A one-line explanation of a status, with the transport error behind it if any.
fn status_detail(status: &tonic::Status) -> String {
    let mut detail = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        let text = err.to_string();
        if !detail.contains(&text) {
            if !detail.is_empty() {
                detail.push_str(": ");
            }
            detail.push_str(&text);
        }
        source = err.source();
    }
    if detail.is_empty() {
        format!("{:?}", status.code())
    } else {
        detail
    }
}
