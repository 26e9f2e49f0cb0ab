//! Downloads: small blobs in BatchReadBlobs requests, large ones as ByteStream reads,
//! every byte hashed before the blob is used.

use super::*;

impl Client {
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
}
