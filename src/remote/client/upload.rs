//! Uploads: small blobs in BatchUpdateBlobs requests, large ones as ByteStream writes,
//! each read from its source and checked against its digest as it is sent.

use super::*;

impl Client {
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
}
