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

    /// Uploads every blob (duplicates once): small ones in batches, large ones streamed.
    pub(crate) async fn upload(&self, blobs: &[Blob]) -> Result<(), RemoteError> {
        let mut seen = BTreeSet::new();
        let mut small = Vec::new();
        let mut large = Vec::new();
        for blob in blobs {
            if !seen.insert(blob.digest) {
                continue;
            }
            if self.max_blob > 0 && blob.digest.size_bytes > self.max_blob {
                return Err(RemoteError::Unsupported {
                    addr: self.addr.clone(),
                    what: format!(
                        "blob {} is larger than the server's limit of {} bytes",
                        blob.digest, self.max_blob
                    ),
                });
            }
            if self.fits_batch(blob.digest.size_bytes) {
                small.push(blob);
            } else {
                large.push(blob);
            }
        }
        for batch in self.batches(small, |b| b.digest.size_bytes) {
            self.batch_update(&batch).await?;
        }
        for blob in large {
            self.write_stream(blob).await?;
        }
        Ok(())
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

    /// One BatchUpdateBlobs call.
    async fn batch_update(&self, batch: &[&Blob]) -> Result<(), RemoteError> {
        let op = "BatchUpdateBlobs";
        let mut requests = Vec::with_capacity(batch.len());
        for blob in batch {
            let data = match &blob.source {
                BlobSource::Bytes(bytes) => bytes.clone(),
                BlobSource::File(path) => read_small_file(path, blob.digest)?,
            };
            if Digest::of_bytes(&data) != blob.digest {
                return Err(changed(&blob.source, blob.digest));
            }
            requests.push(reapi::batch_update_blobs_request::Request {
                digest: Some(blob.digest.to_proto()),
                data,
                ..Default::default()
            });
        }
        let request = reapi::BatchUpdateBlobsRequest {
            instance_name: self.instance(),
            requests,
            ..Default::default()
        };
        let response = self
            .unary(op, self.cas.clone().batch_update_blobs(request))
            .await?;
        let mut answered = BTreeSet::new();
        for entry in response.responses {
            let digest = entry
                .digest
                .as_ref()
                .and_then(Digest::from_proto)
                .ok_or_else(|| self.bad_response(op, "an answer without a valid digest"))?;
            let status = entry.status.unwrap_or_default();
            if status.code != 0 {
                return Err(RemoteError::Rpc {
                    addr: self.addr.clone(),
                    op: format!("{op} of blob {digest}"),
                    code: tonic::Code::from_i32(status.code),
                    message: status.message,
                });
            }
            answered.insert(digest);
        }
        if let Some(blob) = batch.iter().find(|b| !answered.contains(&b.digest)) {
            return Err(self.bad_response(op, format!("no answer for blob {}", blob.digest)));
        }
        Ok(())
    }

    /// Streams one blob with ByteStream.Write, reading files chunk by chunk.
    async fn write_stream(&self, blob: &Blob) -> Result<(), RemoteError> {
        let digest = blob.digest;
        let resource = format!(
            "{}uploads/{}/blobs/{}/{}",
            instance_prefix(&self.url.instance),
            upload_uuid(),
            digest.hex(),
            digest.size_bytes
        );
        let op = format!("ByteStream.Write of blob {digest}");
        let idle = self.options.call_timeout;
        let (tx, rx) = mpsc::channel::<WriteRequest>(2);
        let progress = AtomicU64::new(0);

        let call = with_progress(idle, &progress, async {
            self.bytestream.clone().write(ReceiverStream::new(rx)).await
        });
        let produce = async {
            let mut source: Box<dyn Read + Send> = match &blob.source {
                BlobSource::Bytes(bytes) => Box::new(&bytes[..]),
                BlobSource::File(path) => {
                    Box::new(File::open(path).map_err(|e| RemoteError::local("open", path, e))?)
                }
            };
            let mut hasher = Sha256::new();
            let mut offset = 0u64;
            let mut pending: Option<Vec<u8>> = None;
            loop {
                let chunk = read_chunk(&mut source, self.options.chunk_size)
                    .map_err(|e| local_read_error(&blob.source, e))?;
                if chunk.is_empty() {
                    break;
                }
                hasher.update(&chunk);
                if let Some(data) = pending.replace(chunk) {
                    let len = data.len() as u64;
                    let request = WriteRequest {
                        resource_name: if offset == 0 {
                            resource.clone()
                        } else {
                            String::new()
                        },
                        write_offset: offset as i64,
                        finish_write: false,
                        data,
                    };
                    if !send_bounded(&tx, request, idle, &progress).await? {
                        return Ok(()); // the server answered early: it has the blob
                    }
                    offset += len;
                }
                if offset > digest.size_bytes {
                    return Err(changed(&blob.source, digest));
                }
            }
            let data = pending.unwrap_or_default();
            let total = offset + data.len() as u64;
            if total != digest.size_bytes || <[u8; 32]>::from(hasher.finalize()) != digest.hash {
                return Err(changed(&blob.source, digest));
            }
            let request = WriteRequest {
                resource_name: if offset == 0 {
                    resource.clone()
                } else {
                    String::new()
                },
                write_offset: offset as i64,
                finish_write: true,
                data,
            };
            send_bounded(&tx, request, idle, &progress).await?;
            drop(tx);
            Ok::<(), RemoteError>(())
        };
        let (called, produced) = tokio::join!(call, produce);
        // A local failure explains a failed call better than the call's own error.
        produced?;
        let response = match called {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return Err(RemoteError::from_status(&self.addr, &op, &status)),
            Err(()) => return Err(self.timeout(&op)),
        };
        if response.committed_size != digest.size_bytes as i64 {
            return Err(self.bad_response(
                &op,
                format!(
                    "committed {} bytes of {}",
                    response.committed_size, digest.size_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Reads blobs into their destinations; one result per item, in order.
    pub(crate) async fn download(
        &self,
        wanted: &[(Digest, Sink)],
    ) -> Vec<Result<Option<Vec<u8>>, RemoteError>> {
        let mut results: Vec<Option<Result<Option<Vec<u8>>, RemoteError>>> =
            (0..wanted.len()).map(|_| None).collect();
        // Items by digest, so that a blob wanted twice is read once.
        let mut by_digest: BTreeMap<Digest, Vec<usize>> = BTreeMap::new();
        for (i, (digest, _)) in wanted.iter().enumerate() {
            by_digest.entry(*digest).or_default().push(i);
        }
        let (small, large): (Vec<Digest>, Vec<Digest>) = by_digest
            .keys()
            .copied()
            .partition(|d| self.fits_batch(d.size_bytes));
        let mut gone: Option<RemoteError> = None;

        for batch in self.batches(small, |d| d.size_bytes) {
            if let Some(err) = &gone {
                for digest in &batch {
                    for &i in &by_digest[digest] {
                        results[i] = Some(Err(err.clone()));
                    }
                }
                continue;
            }
            match self.batch_read(&batch).await {
                Ok(answers) => {
                    for (digest, answer) in batch.iter().zip(answers) {
                        for &i in &by_digest[digest] {
                            results[i] = Some(match &answer {
                                Ok(data) => wanted[i].1.write_all(data, *digest),
                                Err(e) => Err(e.clone()),
                            });
                        }
                    }
                }
                Err(err) => {
                    for digest in &batch {
                        for &i in &by_digest[digest] {
                            results[i] = Some(Err(err.clone()));
                        }
                    }
                    if err.is_unavailable() {
                        gone = Some(err);
                    }
                }
            }
        }
        for digest in large {
            let indices = &by_digest[&digest];
            if let Some(err) = &gone {
                for &i in indices {
                    results[i] = Some(Err(err.clone()));
                }
                continue;
            }
            let first = indices[0];
            let result = self.read_stream(digest, &wanted[first].1).await;
            if let Err(err) = &result {
                if err.is_unavailable() {
                    gone = Some(err.clone());
                }
            }
            // Other destinations of the same blob copy the verified first one.
            for &i in &indices[1..] {
                results[i] = Some(match &result {
                    Ok(Some(bytes)) => wanted[i].1.write_all(bytes, digest),
                    Ok(None) => wanted[first].1.copy_to(&wanted[i].1),
                    Err(e) => Err(e.clone()),
                });
            }
            results[first] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.expect("every item answered"))
            .collect()
    }

    /// One BatchReadBlobs call: the verified bytes of each digest, in order.
    async fn batch_read(
        &self,
        batch: &[Digest],
    ) -> Result<Vec<Result<Vec<u8>, RemoteError>>, RemoteError> {
        let op = "BatchReadBlobs";
        let request = reapi::BatchReadBlobsRequest {
            instance_name: self.instance(),
            digests: batch.iter().map(Digest::to_proto).collect(),
            ..Default::default()
        };
        let response = self
            .unary(op, self.cas.clone().batch_read_blobs(request))
            .await?;
        let mut answers: BTreeMap<Digest, Result<Vec<u8>, RemoteError>> = BTreeMap::new();
        for entry in response.responses {
            let digest = entry
                .digest
                .as_ref()
                .and_then(Digest::from_proto)
                .ok_or_else(|| self.bad_response(op, "an answer without a valid digest"))?;
            let status = entry.status.unwrap_or_default();
            let answer = match tonic::Code::from_i32(status.code) {
                tonic::Code::Ok if entry.compressor != 0 => Err(self.bad_response(
                    op,
                    format!("blob {digest} came compressed though no compression was accepted"),
                )),
                tonic::Code::Ok if Digest::of_bytes(&entry.data) == digest => Ok(entry.data),
                tonic::Code::Ok => Err(RemoteError::Corrupt {
                    addr: self.addr.clone(),
                    digest,
                }),
                tonic::Code::NotFound => Err(RemoteError::NotFound {
                    addr: self.addr.clone(),
                    digest,
                }),
                code => Err(RemoteError::Rpc {
                    addr: self.addr.clone(),
                    op: format!("{op} of blob {digest}"),
                    code,
                    message: status.message,
                }),
            };
            answers.insert(digest, answer);
        }
        Ok(batch
            .iter()
            .map(|digest| {
                answers.remove(digest).unwrap_or_else(|| {
                    Err(self.bad_response(op, format!("no answer for blob {digest}")))
                })
            })
            .collect())
    }

    /// Streams one blob with ByteStream.Read into `sink`, hashing as it goes.
    async fn read_stream(
        &self,
        digest: Digest,
        sink: &Sink,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        let op = format!("ByteStream.Read of blob {digest}");
        let request = ReadRequest {
            resource_name: format!(
                "{}blobs/{}/{}",
                instance_prefix(&self.url.instance),
                digest.hex(),
                digest.size_bytes
            ),
            read_offset: 0,
            read_limit: 0,
        };
        let status_error = |status: tonic::Status| {
            if status.code() == tonic::Code::NotFound {
                RemoteError::NotFound {
                    addr: self.addr.clone(),
                    digest,
                }
            } else {
                RemoteError::from_status(&self.addr, &op, &status)
            }
        };
        let mut stream = match tokio::time::timeout(
            self.options.call_timeout,
            self.bytestream.clone().read(request),
        )
        .await
        {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return Err(status_error(status)),
            Err(_) => return Err(self.timeout(&op)),
        };
        let mut writer = sink.open(digest)?;
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        loop {
            let message =
                match tokio::time::timeout(self.options.call_timeout, stream.message()).await {
                    Ok(Ok(Some(message))) => message,
                    Ok(Ok(None)) => break,
                    Ok(Err(status)) => return Err(status_error(status)),
                    Err(_) => return Err(self.timeout(&op)),
                };
            received += message.data.len() as u64;
            if received > digest.size_bytes {
                return Err(RemoteError::Corrupt {
                    addr: self.addr.clone(),
                    digest,
                });
            }
            hasher.update(&message.data);
            writer.write(&message.data)?;
        }
        if received != digest.size_bytes || <[u8; 32]>::from(hasher.finalize()) != digest.hash {
            return Err(RemoteError::Corrupt {
                addr: self.addr.clone(),
                digest,
            });
        }
        writer.finish()
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

/// Where a downloaded blob goes.
pub(crate) enum Sink {
    /// A file, written to a temporary file beside it and renamed into place once verified.
    File(PathBuf),
    /// Memory: the verified bytes are returned.
    Memory,
}

/// A sink being written.
pub(crate) enum SinkWriter {
    /// The temporary file and its final name.
    File(tempfile::NamedTempFile, PathBuf),
    /// The bytes so far.
    Memory(Vec<u8>),
}

impl Sink {
    /// Starts writing a blob of `digest`.
    fn open(&self, digest: Digest) -> Result<SinkWriter, RemoteError> {
        match self {
            Sink::Memory => Ok(SinkWriter::Memory(Vec::with_capacity(
                usize::try_from(digest.size_bytes.min(64 << 20)).unwrap_or(0),
            ))),
            Sink::File(dest) => {
                let dir = match dest.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir,
                    _ => Path::new("."),
                };
                std::fs::create_dir_all(dir)
                    .map_err(|e| RemoteError::local("create the directory", dir, e))?;
                let tmp = tempfile::Builder::new()
                    .prefix(".reprobe-download-")
                    .tempfile_in(dir)
                    .map_err(|e| RemoteError::local("create a temporary file in", dir, e))?;
                Ok(SinkWriter::File(tmp, dest.clone()))
            }
        }
    }

    /// Writes bytes already verified against `digest`.
    fn write_all(&self, data: &[u8], digest: Digest) -> Result<Option<Vec<u8>>, RemoteError> {
        let mut writer = self.open(digest)?;
        writer.write(data)?;
        writer.finish()
    }

    /// Copies what was written to `self` (a file) to `other`.
    fn copy_to(&self, other: &Sink) -> Result<Option<Vec<u8>>, RemoteError> {
        match (self, other) {
            (Sink::File(from), Sink::File(to)) => {
                std::fs::copy(from, to).map_err(|e| RemoteError::local("write", to, e))?;
                Ok(None)
            }
            (Sink::File(from), Sink::Memory) => std::fs::read(from)
                .map(Some)
                .map_err(|e| RemoteError::local("read", from, e)),
            (Sink::Memory, _) => unreachable!("memory sinks return their bytes"),
        }
    }
}

impl SinkWriter {
    /// Appends bytes.
    fn write(&mut self, data: &[u8]) -> Result<(), RemoteError> {
        match self {
            SinkWriter::Memory(bytes) => {
                bytes.extend_from_slice(data);
                Ok(())
            }
            SinkWriter::File(tmp, _) => tmp
                .write_all(data)
                .map_err(|e| RemoteError::local("write", tmp.path(), e)),
        }
    }

    /// Puts the verified blob in place.
    fn finish(self) -> Result<Option<Vec<u8>>, RemoteError> {
        match self {
            SinkWriter::Memory(bytes) => Ok(Some(bytes)),
            SinkWriter::File(mut tmp, dest) => {
                tmp.flush()
                    .map_err(|e| RemoteError::local("write", tmp.path(), e))?;
                tmp.persist(&dest)
                    .map_err(|e| RemoteError::local("rename into", &dest, e.error))?;
                Ok(None)
            }
        }
    }
}

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

/// Sends one write request; `false` when the server closed the stream (it answered).
async fn send_bounded(
    tx: &mpsc::Sender<WriteRequest>,
    request: WriteRequest,
    idle: Duration,
    progress: &AtomicU64,
) -> Result<bool, RemoteError> {
    match tokio::time::timeout(idle, tx.send(request)).await {
        Ok(Ok(())) => {
            progress.fetch_add(1, Ordering::Relaxed);
            Ok(true)
        }
        Ok(Err(_)) => Ok(false),
        // The call's own bound reports the stall; stop producing.
        Err(_) => Ok(false),
    }
}

/// Reads up to `size` bytes (fewer only at the end).
fn read_chunk(reader: &mut impl Read, size: usize) -> std::io::Result<Vec<u8>> {
    let mut chunk = Vec::with_capacity(size);
    reader.take(size as u64).read_to_end(&mut chunk)?;
    Ok(chunk)
}

/// Reads a file announced as `digest`, refusing to read more than its size.
fn read_small_file(path: &Path, digest: Digest) -> Result<Vec<u8>, RemoteError> {
    let file = File::open(path).map_err(|e| RemoteError::local("open", path, e))?;
    let mut data = Vec::with_capacity(digest.size_bytes as usize);
    file.take(digest.size_bytes + 1)
        .read_to_end(&mut data)
        .map_err(|e| RemoteError::local("read", path, e))?;
    Ok(data)
}

/// The error for a source whose content is not its digest.
fn changed(source: &BlobSource, digest: Digest) -> RemoteError {
    match source {
        BlobSource::File(path) => RemoteError::LocalChanged {
            path: path.clone(),
            digest,
        },
        BlobSource::Bytes(_) => RemoteError::InvalidArgument(format!(
            "the bytes given as blob {digest} have another digest"
        )),
    }
}

/// The error for a failed read of a source.
fn local_read_error(source: &BlobSource, err: std::io::Error) -> RemoteError {
    match source {
        BlobSource::File(path) => RemoteError::local("read", path, err),
        BlobSource::Bytes(_) => RemoteError::InvalidArgument(format!("reading bytes: {err}")),
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

/// A random-looking version 4 UUID for an upload's resource name, made from the time, the
/// process id and a counter (unique per upload, which is all REAPI asks of it).
fn upload_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = Sha256::new();
    hasher.update(std::process::id().to_le_bytes());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    hasher.update(now.as_nanos().to_le_bytes());
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let mut b: [u8; 16] = hasher.finalize()[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
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
    fn upload_uuids_are_unique_and_well_formed() {
        let a = upload_uuid();
        let b = upload_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(a.split('-').map(str::len).eq([8, 4, 4, 4, 12]));
    }

    #[test]
    fn instance_prefix_is_empty_for_no_instance() {
        assert_eq!(instance_prefix(""), "");
        assert_eq!(instance_prefix("a/b"), "a/b/");
    }
}
