//! The FUSE wire protocol, as much of it as a read-only file system needs: decoding the
//! kernel's requests and encoding replies (`linux/fuse.h`, protocol 7.x). The policy of
//! what to answer lives in module `tripwire`.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// The node id of a FUSE file system's root.
pub const ROOT_ID: u64 = 1;

/// Request opcodes handled (or deliberately refused) by the tripwire.
pub mod op {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const READLINK: u32 = 5;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const ACCESS: u32 = 34;
    pub const INTERRUPT: u32 = 36;
    pub const DESTROY: u32 = 38;
    pub const BATCH_FORGET: u32 = 42;
}

/// `FOPEN_KEEP_CACHE`: the page cache of a file survives its next open.
pub const FOPEN_KEEP_CACHE: u32 = 1 << 1;

/// Size of `struct fuse_in_header`.
const IN_HEADER: usize = 40;
/// Size of `struct fuse_out_header`.
const OUT_HEADER: usize = 16;

/// One request read from `/dev/fuse`.
#[derive(Debug)]
pub struct Request<'a> {
    pub opcode: u32,
    pub unique: u64,
    pub nodeid: u64,
    /// The calling thread, in the pid namespace of the process that mounted.
    pub pid: u32,
    /// The opcode-specific part.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// Decodes one request; `None` when the buffer is shorter than its header says.
    pub fn parse(buf: &'a [u8]) -> Option<Self> {
        let len = usize::try_from(u32_at(buf, 0)?).ok()?;
        if len < IN_HEADER || len > buf.len() {
            return None;
        }
        Some(Request {
            opcode: u32_at(buf, 4)?,
            unique: u64_at(buf, 8)?,
            nodeid: u64_at(buf, 16)?,
            pid: u32_at(buf, 32)?,
            body: &buf[IN_HEADER..len],
        })
    }

    /// The NUL-terminated name that starts the body (LOOKUP).
    pub fn name(&self) -> Option<&'a [u8]> {
        let end = self.body.iter().position(|&b| b == 0)?;
        Some(&self.body[..end])
    }

    /// The body's `u64` at `offset` (the `fh` of READ, RELEASE, READDIR, ...).
    pub fn u64_at(&self, offset: usize) -> Option<u64> {
        u64_at(self.body, offset)
    }

    /// The body's `u32` at `offset`.
    pub fn u32_at(&self, offset: usize) -> Option<u32> {
        u32_at(self.body, offset)
    }
}

fn u32_at(buf: &[u8], offset: usize) -> Option<u32> {
    let bytes = buf.get(offset..offset + 4)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

fn u64_at(buf: &[u8], offset: usize) -> Option<u64> {
    let bytes = buf.get(offset..offset + 8)?;
    Some(u64::from_ne_bytes(bytes.try_into().ok()?))
}

/// `struct fuse_attr`: what `stat` shows of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Attr {
    fn encode(&self, out: &mut Vec<u8>) {
        let time = self.mtime as u64;
        for word in [self.ino, self.size, self.blocks, time, time, time] {
            out.extend_from_slice(&word.to_ne_bytes());
        }
        let nsec = self.mtime_nsec;
        let words = [
            nsec, nsec, nsec, self.mode, self.nlink, self.uid, self.gid, 0, 4096, 0,
        ];
        for word in words {
            out.extend_from_slice(&word.to_ne_bytes());
        }
    }
}

/// `struct fuse_entry_out` for a found node; `nodeid` 0 with no attributes is a negative
/// entry, which the kernel caches for `valid_secs` like a positive one.
pub fn entry_out(nodeid: u64, attr: &Attr, valid_secs: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    for word in [nodeid, 0, valid_secs, valid_secs] {
        out.extend_from_slice(&word.to_ne_bytes());
    }
    out.extend_from_slice(&[0; 8]);
    attr.encode(&mut out);
    out
}

/// `struct fuse_attr_out`.
pub fn attr_out(attr: &Attr, valid_secs: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(104);
    out.extend_from_slice(&valid_secs.to_ne_bytes());
    out.extend_from_slice(&[0; 8]);
    attr.encode(&mut out);
    out
}

/// `struct fuse_open_out`.
pub fn open_out(fh: u64, open_flags: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&fh.to_ne_bytes());
    out.extend_from_slice(&open_flags.to_ne_bytes());
    out.extend_from_slice(&[0; 4]);
    out
}

/// `struct fuse_init_out` answering the kernel's INIT: protocol 7 at the kernel's minor
/// version (at most 38), no optional features.
pub fn init_out(body: &[u8]) -> Option<Vec<u8>> {
    let major = u32_at(body, 0)?;
    let minor = u32_at(body, 4)?.min(38);
    let max_readahead = u32_at(body, 8)?;
    if major != 7 {
        return None;
    }
    let mut out = Vec::with_capacity(64);
    for word in [7, minor, max_readahead, 0] {
        out.extend_from_slice(&u32::to_ne_bytes(word));
    }
    out.extend_from_slice(&16u16.to_ne_bytes()); // max_background
    out.extend_from_slice(&12u16.to_ne_bytes()); // congestion_threshold
    out.extend_from_slice(&4096u32.to_ne_bytes()); // max_write
    out.extend_from_slice(&1u32.to_ne_bytes()); // time_gran
    out.resize(64, 0);
    Some(out)
}

/// `struct fuse_statfs_out` of an empty read-only file system.
pub fn statfs_out() -> Vec<u8> {
    let mut out = vec![0; 40];
    for word in [4096u32, 255, 4096, 0] {
        out.extend_from_slice(&word.to_ne_bytes());
    }
    out.resize(80, 0);
    out
}

/// Appends one `struct fuse_dirent` (padded to 8 bytes) unless it would make `out`
/// longer than `limit`; says whether it did.
pub fn push_dirent(out: &mut Vec<u8>, limit: usize, entry: (u64, u64, u32, &[u8])) -> bool {
    let (ino, next_offset, dtype, name) = entry;
    let size = (24 + name.len()).div_ceil(8) * 8;
    if out.len() + size > limit {
        return false;
    }
    out.extend_from_slice(&ino.to_ne_bytes());
    out.extend_from_slice(&next_offset.to_ne_bytes());
    out.extend_from_slice(&(name.len() as u32).to_ne_bytes());
    out.extend_from_slice(&dtype.to_ne_bytes());
    out.extend_from_slice(name);
    out.resize(out.len() + size - 24 - name.len(), 0);
    true
}

/// Writes a reply: `error` is 0 with `payload`, or a positive errno with none.
pub fn reply(fd: &impl AsRawFd, unique: u64, error: i32, payload: &[u8]) -> io::Result<()> {
    let len = OUT_HEADER + payload.len();
    let mut header = [0u8; OUT_HEADER];
    header[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    header[4..8].copy_from_slice(&(-error).to_ne_bytes());
    header[8..16].copy_from_slice(&unique.to_ne_bytes());
    let iov = [
        libc::iovec {
            iov_base: header.as_ptr() as *mut libc::c_void,
            iov_len: header.len(),
        },
        libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        },
    ];
    let raw: RawFd = fd.as_raw_fd();
    // SAFETY: both iovecs point at live buffers of the given lengths.
    let written = unsafe { libc::writev(raw, iov.as_ptr(), 2) };
    if written < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_bytes(opcode: u32, body: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        buf.extend_from_slice(&((IN_HEADER + body.len()) as u32).to_ne_bytes());
        buf.extend_from_slice(&opcode.to_ne_bytes());
        buf.extend_from_slice(&7u64.to_ne_bytes());
        buf.extend_from_slice(&9u64.to_ne_bytes());
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&42u32.to_ne_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(body);
        buf
    }

    #[test]
    fn a_lookup_request_decodes_with_its_name() {
        let buf = request_bytes(op::LOOKUP, b"config.h\0");
        let request = Request::parse(&buf).expect("parses");
        assert_eq!(
            (request.opcode, request.unique, request.nodeid, request.pid),
            (op::LOOKUP, 7, 9, 42)
        );
        assert_eq!(request.name(), Some(&b"config.h"[..]));
    }

    #[test]
    fn a_truncated_request_is_refused() {
        let buf = request_bytes(op::LOOKUP, b"x\0");
        assert!(Request::parse(&buf[..buf.len() - 1]).is_none());
        assert!(Request::parse(&buf[..10]).is_none());
    }

    #[test]
    fn replies_have_the_kernel_struct_sizes() {
        let attr = Attr::default();
        assert_eq!(entry_out(0, &attr, 1).len(), 128);
        assert_eq!(attr_out(&attr, 1).len(), 104);
        assert_eq!(open_out(1, 0).len(), 16);
        assert_eq!(statfs_out().len(), 80);
        let mut init = vec![0u8; 64];
        init[0..4].copy_from_slice(&7u32.to_ne_bytes());
        init[4..8].copy_from_slice(&45u32.to_ne_bytes());
        let out = init_out(&init).expect("protocol 7");
        assert_eq!((out.len(), u32_at(&out, 4)), (64, Some(38)));
    }

    #[test]
    fn dirents_are_padded_and_stop_at_the_limit() {
        let mut out = Vec::new();
        assert!(push_dirent(&mut out, 64, (1, 1, 4, b"abc")));
        assert_eq!(out.len(), 32);
        assert!(!push_dirent(&mut out, 64, (2, 2, 8, b"a-longer-name")));
        assert_eq!(out.len(), 32);
    }
}
