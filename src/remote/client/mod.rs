//! The asynchronous REAPI client behind [`RemoteCache`](super::RemoteCache).
//!
//! Every network wait here is bounded: unary calls by the call timeout, streams by the same
//! timeout applied to each message (a stream that keeps moving may take as long as it
//! needs; one that stalls fails). Every byte read from the server is hashed before it is
//! used.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use bazel_remote_apis::google::bytestream::{
    byte_stream_client::ByteStreamClient, ReadRequest, WriteRequest,
};
use reapi::action_cache_client::ActionCacheClient;
use reapi::capabilities_client::CapabilitiesClient;
use reapi::content_addressable_storage_client::ContentAddressableStorageClient;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use super::{Blob, BlobSource, Digest, RemoteError, RemoteOptions, RemoteUrl};

/// The batch limit when the server announces none (REAPI: 0 means no limit of its own, and
/// gRPC's default message limit of 4 MiB applies).
pub(crate) const DEFAULT_MAX_BATCH: u64 = 4 * 1024 * 1024;

/// Bytes counted for each blob of a batch on top of its data: its digest, its status and
/// the framing. Generous, so that a batch's encoding stays under the server's limit.
const BATCH_ENTRY_OVERHEAD: u64 = 256;

/// At most this many digests go in one FindMissingBlobs request (about 1 MiB encoded).
const FIND_MISSING_CHUNK: usize = 10_000;

/// The async client: one HTTP/2 channel, shared by the four services.
#[derive(Clone)]
pub(crate) struct Client {
    url: RemoteUrl,
    addr: String,
    options: RemoteOptions,
    cas: ContentAddressableStorageClient<Channel>,
    ac: ActionCacheClient<Channel>,
    bytestream: ByteStreamClient<Channel>,
    /// The server's batch limit (or the default), in bytes.
    pub(crate) max_batch: u64,
    /// The largest blob the server accepts, 0 for no limit.
    max_blob: u64,
    /// Whether the server lets clients write the Action Cache.
    pub(crate) ac_updates: bool,
}

impl Client {
    /// Connects and checks the server's capabilities.
    pub(crate) async fn connect(
        url: &RemoteUrl,
        options: RemoteOptions,
    ) -> Result<Client, RemoteError> {
        let addr = url.authority();
        let connect_error = |detail: String| RemoteError::Connect {
            addr: addr.clone(),
            detail,
        };
        let endpoint = Endpoint::from_shared(url.endpoint())
            .map_err(|e| connect_error(error_chain(&e)))?
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(options.call_timeout)
            .keep_alive_timeout(options.call_timeout)
            .keep_alive_while_idle(true);
        let channel = match tokio::time::timeout(options.connect_timeout, endpoint.connect()).await
        {
            Ok(Ok(channel)) => channel,
            Ok(Err(e)) => return Err(connect_error(error_chain(&e))),
            Err(_) => {
                return Err(connect_error(format!(
                    "no connection within {}s",
                    options.connect_timeout.as_secs_f64()
                )))
            }
        };

        let caps = CapabilitiesClient::new(channel.clone());
        let op = "GetCapabilities";
        let request = reapi::GetCapabilitiesRequest {
            instance_name: url.instance.clone(),
        };
        let caps = match tokio::time::timeout(
            options.call_timeout,
            caps.clone().get_capabilities(request),
        )
        .await
        {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => {
                return Err(match RemoteError::from_status(&addr, op, &status) {
                    RemoteError::Unavailable { detail, .. } => connect_error(detail),
                    other => other,
                })
            }
            Err(_) => {
                return Err(RemoteError::Timeout {
                    addr,
                    op: op.to_string(),
                    timeout: options.call_timeout,
                })
            }
        };
        let sha256 = reapi::digest_function::Value::Sha256 as i32;
        let cache = caps.cache_capabilities.unwrap_or_default();
        let execution_sha256 = caps
            .execution_capabilities
            .as_ref()
            .is_some_and(|e| e.digest_function == sha256 || e.digest_functions.contains(&sha256));
        if !cache.digest_functions.contains(&sha256) && !execution_sha256 {
            return Err(RemoteError::Unsupported {
                addr,
                what: "it does not offer the sha256 digest function".to_string(),
            });
        }
        let max_batch = match cache.max_batch_total_size_bytes {
            n if n <= 0 => DEFAULT_MAX_BATCH,
            n => n as u64,
        };
        let ac_updates = cache
            .action_cache_update_capabilities
            .is_some_and(|c| c.update_enabled);
        // Batches stay under `max_batch`; answers may carry a little more than that.
        let decode_limit = (max_batch as usize).saturating_mul(2) + options.chunk_size + (1 << 20);
        let encode_limit = (max_batch as usize).max(options.chunk_size) + (1 << 20);
        Ok(Client {
            url: url.clone(),
            addr,
            cas: ContentAddressableStorageClient::new(channel.clone())
                .max_decoding_message_size(decode_limit)
                .max_encoding_message_size(encode_limit),
            ac: ActionCacheClient::new(channel.clone())
                .max_decoding_message_size(decode_limit)
                .max_encoding_message_size(encode_limit),
            bytestream: ByteStreamClient::new(channel)
                .max_decoding_message_size(decode_limit)
                .max_encoding_message_size(encode_limit),
            max_batch,
            max_blob: u64::try_from(cache.max_cas_blob_size_bytes).unwrap_or(0),
            ac_updates,
            options,
        })
    }

    /// The instance name sent with every request.
    fn instance(&self) -> String {
        self.url.instance.clone()
    }

    /// Whether a blob of `size` bytes goes through the batch calls (else ByteStream).
    pub(crate) fn fits_batch(&self, size: u64) -> bool {
        size + BATCH_ENTRY_OVERHEAD + self.url.instance.len() as u64 <= self.max_batch
    }

    /// Awaits a unary call within the call timeout.
    async fn unary<T>(
        &self,
        op: &str,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, RemoteError> {
        match tokio::time::timeout(self.options.call_timeout, call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(RemoteError::from_status(&self.addr, op, &status)),
            Err(_) => Err(self.timeout(op)),
        }
    }

    /// The timeout error for `op`.
    fn timeout(&self, op: &str) -> RemoteError {
        RemoteError::Timeout {
            addr: self.addr.clone(),
            op: op.to_string(),
            timeout: self.options.call_timeout,
        }
    }

    /// A malformed-answer error for `op`.
    fn bad_response(&self, op: &str, detail: impl Into<String>) -> RemoteError {
        RemoteError::BadResponse {
            addr: self.addr.clone(),
            op: op.to_string(),
            detail: detail.into(),
        }
    }

    /// The digests of `digests` the server does not have, in the order given, without
    /// duplicates.
    pub(crate) async fn find_missing(
        &self,
        digests: &[Digest],
    ) -> Result<Vec<Digest>, RemoteError> {
        let op = "FindMissingBlobs";
        let mut seen = BTreeSet::new();
        let unique: Vec<Digest> = digests
            .iter()
            .copied()
            .filter(|d| seen.insert(*d))
            .collect();
        let mut missing = BTreeSet::new();
        for chunk in unique.chunks(FIND_MISSING_CHUNK) {
            let request = reapi::FindMissingBlobsRequest {
                instance_name: self.instance(),
                blob_digests: chunk.iter().map(Digest::to_proto).collect(),
                ..Default::default()
            };
            let response = self
                .unary(op, self.cas.clone().find_missing_blobs(request))
                .await?;
            for digest in &response.missing_blob_digests {
                let digest = Digest::from_proto(digest)
                    .ok_or_else(|| self.bad_response(op, format!("bad digest {digest:?}")))?;
                missing.insert(digest);
            }
        }
        Ok(unique.into_iter().filter(|d| missing.contains(d)).collect())
    }

    /// Splits items into batches whose sizes (plus overhead) fit the server's limit.
    fn batches<T>(&self, items: Vec<T>, size: impl Fn(&T) -> u64) -> Vec<Vec<T>> {
        let budget = self
            .max_batch
            .saturating_sub(self.url.instance.len() as u64);
        let mut batches = Vec::new();
        let mut batch = Vec::new();
        let mut used = 0;
        for item in items {
            let cost = size(&item) + BATCH_ENTRY_OVERHEAD;
            if !batch.is_empty() && used + cost > budget {
                batches.push(std::mem::take(&mut batch));
                used = 0;
            }
            used += cost;
            batch.push(item);
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        batches
    }

    /// The Action Cache entry of `action`, `None` when there is none.
    pub(crate) async fn get_action_result(
        &self,
        action: Digest,
    ) -> Result<Option<reapi::ActionResult>, RemoteError> {
        let op = format!("GetActionResult of action {action}");
        let request = reapi::GetActionResultRequest {
            instance_name: self.instance(),
            action_digest: Some(action.to_proto()),
            ..Default::default()
        };
        match self
            .unary(&op, self.ac.clone().get_action_result(request))
            .await
        {
            Ok(result) => Ok(Some(result)),
            Err(RemoteError::Rpc {
                code: tonic::Code::NotFound,
                ..
            }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Stores `result` as the Action Cache entry of `action`.
    pub(crate) async fn update_action_result(
        &self,
        action: Digest,
        result: reapi::ActionResult,
    ) -> Result<reapi::ActionResult, RemoteError> {
        if !self.ac_updates {
            return Err(RemoteError::Unsupported {
                addr: self.addr.clone(),
                what: "it does not let clients write the action cache".to_string(),
            });
        }
        let op = format!("UpdateActionResult of action {action}");
        let request = reapi::UpdateActionResultRequest {
            instance_name: self.instance(),
            action_digest: Some(action.to_proto()),
            action_result: Some(result),
            ..Default::default()
        };
        self.unary(&op, self.ac.clone().update_action_result(request))
            .await
    }
}

mod download;
mod sink;
mod upload;

pub(crate) use sink::Sink;
/// Awaits `fut`, failing when `progress` has not moved for `idle`.
async fn with_progress<F: Future>(
    idle: Duration,
    progress: &AtomicU64,
    fut: F,
) -> Result<F::Output, ()> {
    let mut fut = std::pin::pin!(fut);
    let mut seen = progress.load(Ordering::Relaxed);
    loop {
        match tokio::time::timeout(idle, fut.as_mut()).await {
            Ok(output) => return Ok(output),
            Err(_) => {
                let now = progress.load(Ordering::Relaxed);
                if now == seen {
                    return Err(());
                }
                seen = now;
            }
        }
    }
}

/// `INSTANCE/` or nothing, the start of ByteStream resource names.
fn instance_prefix(instance: &str) -> String {
    if instance.is_empty() {
        String::new()
    } else {
        format!("{instance}/")
    }
}

/// An error and its sources on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_prefix_is_empty_for_no_instance() {
        assert_eq!(instance_prefix(""), "");
        assert_eq!(instance_prefix("a/b"), "a/b/");
    }
}
