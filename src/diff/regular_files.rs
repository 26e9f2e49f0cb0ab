//! Reading regular files of the two sides: whether two files have the same bytes (read
//! in reused buffers, stopping at the first differing block), and opening or reading a
//! file only if it is still a regular file, never blocking on a FIFO put in its place.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Files up to this size are compared by reading each in one go.
const SMALL_FILE: u64 = 1 << 20;
/// Block size for streaming the comparison of larger files.
const BLOCK: usize = 1 << 20;

thread_local! {
    /// Two buffers per thread, reused for every pair of files the thread compares.
    static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Whether two files, both listed with `size` bytes, have the same bytes.
///
/// Per pair of files this costs two `open`s, two `read`s and two `close`s when the files
/// are small: the sizes come from the listing (no `fstat`), the buffers are reused (no
/// allocation), and a read that returns the whole listed size is not followed by a read
/// that probes for the end. Larger files are streamed in blocks and the comparison stops
/// at the first differing block, like `cmp`.
pub(crate) fn same_content(a: &Path, b: &Path, size: u64) -> io::Result<bool> {
    let (mut fa, mut fb) = (open_nonblocking(a)?, open_nonblocking(b)?);
    BUFFERS.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (ba, bb) = &mut *guard;
        let block = if size <= SMALL_FILE {
            size as usize
        } else {
            BLOCK
        };
        if ba.len() < block {
            ba.resize(block, 0);
            bb.resize(block, 0);
        }
        let mut left = size;
        while left > 0 {
            let want = (left as usize).min(block);
            let n = read_full(&mut fa, &mut ba[..want])?;
            let m = read_full(&mut fb, &mut bb[..want])?;
            if n != m || ba[..n] != bb[..m] {
                return Ok(false);
            }
            if n < want {
                // Both files ended early, the same way (they shrank since the listing).
                return Ok(true);
            }
            left -= want as u64;
        }
        Ok(true)
    })
}

/// Reads until `buf` is full or the reader ends; returns how many bytes were read.
pub(crate) fn read_full(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Opens a file for reading without blocking: a FIFO put in the place of a listed file
/// opens at once (and reads as empty) instead of waiting for a writer. Enough where at
/// most the listed size is read.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Opens a file for reading only if it is a regular file, and gives its size: a FIFO or
/// a device put in its place since it was listed is refused unread.
pub(crate) fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "{}: not a regular file (special files are compared by type, never read)",
            path.display()
        )));
    }
    Ok((file, meta.len()))
}

/// Reads a regular file, at most `limit` bytes, into a buffer sized from its metadata.
pub(crate) fn read_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let (file, size) = open_regular(path)?;
    let size = size.min(limit);
    let mut out = Vec::with_capacity(size as usize + 1);
    file.take(limit).read_to_end(&mut out)?;
    Ok(out)
}
