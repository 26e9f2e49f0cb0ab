//! Where a downloaded blob goes: a file renamed into place once verified, or memory.

use super::*;

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
    pub(super) fn open(&self, digest: Digest) -> Result<SinkWriter, RemoteError> {
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
    pub(super) fn write_all(
        &self,
        data: &[u8],
        digest: Digest,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        let mut writer = self.open(digest)?;
        writer.write(data)?;
        writer.finish()
    }

    /// Copies what was written to `self` (a file) to `other`.
    pub(super) fn copy_to(&self, other: &Sink) -> Result<Option<Vec<u8>>, RemoteError> {
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
    pub(super) fn write(&mut self, data: &[u8]) -> Result<(), RemoteError> {
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
    pub(super) fn finish(self) -> Result<Option<Vec<u8>>, RemoteError> {
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
