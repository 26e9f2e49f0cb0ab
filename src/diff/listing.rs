//! The members of a container, as each container format lists them for
//! `members.rs` to compare: their type, metadata fields, and where their content is
//! (in memory, digested, on disk, or a special file never read).

use std::io::Read;
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use super::budget::Held;
use super::context::Cx;
use super::items::ItemKind;
use super::special::Special;
use super::timestamps::format_unix;

/// The type of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryType {
    File,
    Dir,
    Symlink,
    Other,
}

impl EntryType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EntryType::File => "file",
            EntryType::Dir => "directory",
            EntryType::Symlink => "symlink",
            EntryType::Other => "special",
        }
    }
}

/// How a metadata field holds a time, which decides how a difference in it is explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeField {
    /// Unix seconds in an archive header (tar, ar, gzip): `archive-metadata`, with the
    /// variation `clock` when inside a build's time window.
    Header,
    /// A UTC time of a zip member (the `UT` extra field): `timestamp` with `clock` when
    /// inside a build's window.
    Utc,
    /// A local time without zone (zip's DOS time), counted as if it were UTC: `timezone`
    /// when the two sides differ by exactly the two known zones' offsets, else `timestamp`
    /// with `clock` when inside a build's window widened by the largest zone offsets.
    Local,
}

/// A metadata field of a member or a container header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    /// `mtime`, `uid`, `gid`, `uname`, `gname`, `mode`, or a format's own field.
    pub field: &'static str,
    /// The value as shown.
    pub value: String,
    /// The value as a number (unix seconds for times, the mode bits for modes).
    pub num: Option<i64>,
    /// Whether (and how) the field is a time.
    pub time: Option<TimeField>,
}

impl Meta {
    /// A field with a number, shown as text. `mtime` is a header time in unix seconds.
    pub fn num(field: &'static str, n: i64) -> Meta {
        let value = match field {
            "mode" => format!("{:o}", n),
            "mtime" => format!("{} ({n})", format_unix(n)),
            _ => n.to_string(),
        };
        Meta {
            field,
            value,
            num: Some(n),
            time: (field == "mtime").then_some(TimeField::Header),
        }
    }

    /// A time field: `secs` in unix seconds (for a local time, as if it were UTC).
    pub fn time(field: &'static str, secs: i64, value: String, time: TimeField) -> Meta {
        Meta {
            field,
            value,
            num: Some(secs),
            time: Some(time),
        }
    }

    /// A field shown as text.
    pub fn text(field: &'static str, value: impl Into<String>) -> Meta {
        Meta {
            field,
            value: value.into(),
            num: None,
            time: None,
        }
    }
}

/// Where a member's content is.
#[derive(Debug)]
pub(crate) enum Data {
    /// Read into memory (archive members), held in the memory budget until dropped.
    Bytes(Vec<u8>, #[allow(dead_code)] Held),
    /// Too large for what was left of the memory budget: only its digest was kept.
    Digest(Digest),
    /// A file on disk, read only if it differs.
    File(PathBuf, u64),
    /// A special file (FIFO, socket, device, hard link), never read.
    Special(Special),
    /// No content (directories, links).
    None,
    /// Content dropped once found equal to the other side's (streamed archives).
    Same,
}

/// Bytes of a member kept with its digest, to show where two contents start to differ.
const DIGEST_HEAD: usize = 64 << 10;

/// What is kept of content not held in memory: its length, SHA-256 (so that equal digests
/// mean equal content even for crafted inputs) and first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Digest {
    pub len: u64,
    pub sha256: [u8; 32],
    pub head: Vec<u8>,
}

impl Digest {
    /// The digest of everything `reader` gives, read in blocks.
    pub(crate) fn of_reader(reader: &mut impl Read) -> std::io::Result<Digest> {
        let mut sha = Sha256::new();
        let mut head = Vec::new();
        let mut len = 0u64;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let room = DIGEST_HEAD.saturating_sub(head.len()).min(n);
            head.extend_from_slice(&buf[..room]);
            sha.update(&buf[..n]);
            len += n as u64;
        }
        Ok(Digest {
            len,
            sha256: sha.finalize().into(),
            head,
        })
    }

    /// The digest of bytes in memory.
    pub(crate) fn of_bytes(bytes: &[u8]) -> Digest {
        Digest {
            len: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
            head: bytes[..bytes.len().min(DIGEST_HEAD)].to_vec(),
        }
    }
}

/// Reads a member's content of at most `size` bytes: into memory when the memory budget
/// holds it, else only its [`Digest`].
pub(crate) fn read_member(reader: &mut impl Read, size: u64, cx: &Cx) -> std::io::Result<Data> {
    let mut limited = reader.take(size);
    match cx.budget.hold(size) {
        Some(held) => {
            let mut buf = Vec::with_capacity(size.min(1 << 30) as usize);
            limited.read_to_end(&mut buf)?;
            Ok(Data::Bytes(buf, held))
        }
        None => Ok(Data::Digest(Digest::of_reader(&mut limited)?)),
    }
}

impl Data {
    /// The length of content read (held or digested).
    pub(crate) fn read_len(&self) -> Option<u64> {
        match self {
            Data::Bytes(bytes, _) => Some(bytes.len() as u64),
            Data::Digest(d) => Some(d.len),
            _ => None,
        }
    }
}

/// One member of a container.
#[derive(Debug)]
pub(crate) struct Member {
    pub name: Vec<u8>,
    pub entry: EntryType,
    pub link: Option<Vec<u8>>,
    pub meta: Vec<Meta>,
    pub data: Data,
}

/// A container's members, its header fields, and the error that stopped the listing.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub members: Vec<Member>,
    pub header: Vec<Meta>,
    pub error: Option<String>,
}

/// How to report a container format.
pub(crate) struct Style {
    /// The container's kind.
    pub kind: ItemKind,
    /// Between the container path and a member name: `!/` (tar, zip), `!` (ar), `/`.
    pub sep: &'static str,
    /// Whether member order is meaningful (not for directories).
    pub ordered: bool,
    /// Whether a member's differing fields are reasons of the member's own item (files
    /// of a directory: each is an item) rather than of the container (archive headers).
    pub fields_on_members: bool,
    /// The remedy for this format's header differences.
    pub remedy: &'static str,
    /// The remedy for members in another order (for ordered formats).
    pub order_remedy: &'static str,
}
