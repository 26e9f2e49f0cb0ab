//! tar archives: member order, header fields (mtime, uid, gid, names, mode), content.

use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use super::context::{Cx, Format};
use super::escape::escape_bytes;
use super::items::{Change, DiffItem, ItemKind, Reason};
use super::listing::{read_member, Data, EntryType, Listing, Member, Meta, Style};
use super::members::compare_listings;
use super::special::{self, Special};
use crate::model::vocabulary::ReasonKind;

/// A tar archive (ustar, GNU or pax).
pub(crate) struct Tar;

/// How to make a tar archive reproducible: member order, times and owners.
const TAR_REMEDY: &str =
    "tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --clamp-mtime --owner=0 --group=0 --numeric-owner";

const STYLE: Style = Style {
    kind: ItemKind::Tar,
    sep: "!/",
    ordered: true,
    fields_on_members: false,
    remedy: TAR_REMEDY,
    order_remedy: TAR_REMEDY,
};

impl Format for Tar {
    fn kind(&self) -> ItemKind {
        ItemKind::Tar
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        is_tar(data)
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        let (la, lb) = rayon::join(|| list(a, cx), || list(b, cx));
        compare_listings(path, &STYLE, la, lb, cx)
    }
}

/// Whether `data` starts with a ustar or GNU tar header.
pub(crate) fn is_tar(data: &[u8]) -> bool {
    data.len() >= 512 && data.get(257..262) == Some(b"ustar")
}

/// Lists the members of a tar archive; a corrupt or truncated archive gives the members
/// read so far and an error.
fn list(data: &[u8], cx: &Cx) -> Listing {
    let mut listing = Listing::default();
    let mut archive = tar::Archive::new(data);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(err) => {
            listing.error = Some(format!("not a readable tar archive: {err}"));
            return listing;
        }
    };
    for entry in entries {
        match entry.and_then(|e| member(e, cx)) {
            Ok(m) => listing.members.push(m),
            Err(err) => {
                listing.error = Some(stopped_after(listing.members.len(), &err));
                break;
            }
        }
    }
    listing
}

fn member<R: Read>(mut entry: tar::Entry<'_, R>, cx: &Cx) -> std::io::Result<Member> {
    let name = entry.path_bytes().into_owned();
    let link = entry.link_name_bytes().map(|l| l.into_owned());
    let h = entry.header();
    let kind = h.entry_type();
    let entry_type = if kind.is_file() || kind.is_contiguous() {
        EntryType::File
    } else if kind.is_dir() {
        EntryType::Dir
    } else if kind.is_symlink() {
        EntryType::Symlink
    } else {
        EntryType::Other
    };
    let mut meta = vec![
        Meta::num("mtime", h.mtime().unwrap_or(0) as i64),
        Meta::num("uid", h.uid().unwrap_or(0) as i64),
        Meta::num("gid", h.gid().unwrap_or(0) as i64),
        Meta::num("mode", i64::from(h.mode().unwrap_or(0))),
    ];
    if let Some(u) = h.username_bytes() {
        meta.push(Meta::text("uname", escape_bytes(u)));
    }
    if let Some(g) = h.groupname_bytes() {
        meta.push(Meta::text("gname", escape_bytes(g)));
    }
    let size = entry.size();
    let data = match entry_type {
        EntryType::File => {
            if !cx.take_budget(size) {
                return Err(std::io::Error::other("expansion limit reached"));
            }
            read_member(&mut entry, size, cx)?
        }
        EntryType::Other => Data::Special(special(h)),
        _ => Data::None,
    };
    Ok(Member {
        name,
        entry: entry_type,
        link,
        meta,
        data,
    })
}

/// What a member that is neither a file, a directory nor a symlink is: a device with its
/// number, a FIFO, a hard link, or another tar type.
fn special(h: &tar::Header) -> Special {
    let kind = h.entry_type();
    let device = || {
        let major = h.device_major().ok().flatten().unwrap_or(0);
        let minor = h.device_minor().ok().flatten().unwrap_or(0);
        (u64::from(major), u64::from(minor))
    };
    match kind {
        tar::EntryType::Char => {
            let (major, minor) = device();
            Special::device(special::CHAR, major, minor)
        }
        tar::EntryType::Block => {
            let (major, minor) = device();
            Special::device(special::BLOCK, major, minor)
        }
        tar::EntryType::Fifo => Special::plain("fifo"),
        tar::EntryType::Link => Special::plain("hard link"),
        _ => Special::plain("other tar entry"),
    }
}

/// Why a listing stopped after `n` members: a limit, or corrupt or truncated input.
fn stopped_after(n: usize, err: &std::io::Error) -> String {
    let text = err.to_string();
    if text.starts_with("decompression stopped") || text.contains("limit reached") {
        format!("stopped after {n} members: {text}")
    } else {
        format!("corrupt or truncated tar after {n} members: {text}")
    }
}

/// Members read ahead of the comparison on each side.
const READ_AHEAD: usize = 16;

/// Compares two tar streams as they are read (each on its own thread), member by member:
/// a member whose content equals its counterpart's is dropped as soon as both are read,
/// so memory holds only the members that differ (and, when the order differs, those
/// waiting for their counterpart). Reports like [`Tar`] does, at `path`; when the streams
/// differ but no member, field or order does (pax records, padding), says so.
pub(crate) fn compare_streams<RA, RB>(path: &str, ra: RA, rb: RB, cx: &Cx) -> Vec<DiffItem>
where
    RA: Read + Send,
    RB: Read + Send,
{
    let (tx_a, rx_a) = sync_channel(READ_AHEAD);
    let (tx_b, rx_b) = sync_channel(READ_AHEAD);
    let (la, lb, hash_a, hash_b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| produce(ra, tx_a, cx));
        let b = scope.spawn(|| produce(rb, tx_b, cx));
        let (la, lb) = match_members(rx_a, rx_b);
        // A producer that panicked is a bug, not bad input: report it as unreadable.
        (la, lb, a.join().ok(), b.join().ok())
    });
    let mut items = compare_listings(path, &STYLE, la, lb, cx);
    if items.is_empty() && (hash_a.is_none() || hash_a != hash_b) {
        let mut item = DiffItem::new(path.to_string(), ItemKind::Tar, Change::Modified);
        item.evidence.notes.push(
            "the tar streams differ but no member, field or order does (pax records or padding?)"
                .into(),
        );
        let show = |h: Option<(u64, u64)>| {
            h.map_or("unreadable".to_string(), |(hash, len)| {
                format!("{len} bytes, hash {hash:016x}")
            })
        };
        item.reasons.push(Reason {
            kind: ReasonKind::ArchiveMetadata,
            path: path.to_string(),
            offset: None,
            offset_b: None,
            line: None,
            line_b: None,
            a: show(hash_a),
            b: show(hash_b),
            variation: None,
            remedy: Some(STYLE.remedy.to_string()),
            context: Some("tar stream outside the members (pax records, padding)".into()),
            high_entropy: None,
            note: None,
        });
        items.push(item);
    }
    items
}

/// One side's message to the matcher.
type Sent = Result<Member, String>;

/// Reads a tar stream, sends its members, and returns a hash of all its bytes.
fn produce<R: Read>(reader: R, tx: SyncSender<Sent>, cx: &Cx) -> (u64, u64) {
    let mut archive = tar::Archive::new(HashingReader::new(reader));
    match archive.entries() {
        Ok(entries) => {
            for (n, entry) in entries.enumerate() {
                let sent = match entry.and_then(|e| member(e, cx)) {
                    Ok(m) => tx.send(Ok(m)),
                    Err(err) => {
                        let _ = tx.send(Err(stopped_after(n, &err)));
                        break;
                    }
                };
                if sent.is_err() {
                    break;
                }
            }
        }
        Err(err) => {
            let _ = tx.send(Err(format!("not a readable tar archive: {err}")));
        }
    }
    drop(tx);
    let mut rest = archive.into_inner();
    // The end-of-archive blocks and padding count too.
    let _ = std::io::copy(&mut rest, &mut std::io::sink());
    rest.finish()
}

/// Members of one side, and those still waiting for their counterpart.
#[derive(Default)]
struct SideState {
    listing: Listing,
    occurrences: HashMap<Vec<u8>, usize>,
    waiting: HashMap<(Vec<u8>, usize), usize>,
}

/// Receives both sides' members in step and drops the content of equal pairs.
fn match_members(rx_a: Receiver<Sent>, rx_b: Receiver<Sent>) -> (Listing, Listing) {
    let mut sides = [SideState::default(), SideState::default()];
    let receivers = [rx_a, rx_b];
    let mut open = [true, true];
    while open[0] || open[1] {
        for this in 0..2 {
            if !open[this] {
                continue;
            }
            match receivers[this].recv() {
                Ok(Ok(m)) => add_member(&mut sides, this, m),
                Ok(Err(err)) => sides[this].listing.error = Some(err),
                Err(_) => open[this] = false,
            }
        }
    }
    let [a, b] = sides;
    (a.listing, b.listing)
}

fn add_member(sides: &mut [SideState; 2], this: usize, m: Member) {
    let other = 1 - this;
    let side = &mut sides[this];
    let n = side.occurrences.entry(m.name.clone()).or_default();
    let key = (m.name.clone(), *n);
    *n += 1;
    let index = side.listing.members.len();
    side.listing.members.push(m);
    let Some(j) = sides[other].waiting.remove(&key) else {
        sides[this].waiting.insert(key, index);
        return;
    };
    let [sa, sb] = sides;
    let (x, y) = if this == 0 {
        (&mut sa.listing.members[index], &mut sb.listing.members[j])
    } else {
        (&mut sa.listing.members[j], &mut sb.listing.members[index])
    };
    let same = match (&x.data, &y.data) {
        (Data::Bytes(bx, _), Data::Bytes(by, _)) => bx == by,
        (Data::Digest(dx), Data::Digest(dy)) => dx == dy,
        _ => false,
    };
    if same {
        x.data = Data::Same;
        y.data = Data::Same;
    }
}

/// A reader that hashes what passes through it (a fast 64-bit hash, to tell whether two
/// streams are equal without keeping them).
struct HashingReader<R> {
    inner: R,
    hash: StreamHash,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hash: StreamHash::default(),
        }
    }

    /// The hash and length of everything read.
    fn finish(&self) -> (u64, u64) {
        self.hash.finish()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// A 64-bit hash of a byte stream, independent of how the stream is cut into reads: four
/// independent multiply-rotate lanes over 32-byte blocks, so that it runs at memory speed.
#[derive(Default)]
pub(crate) struct StreamHash {
    lanes: [u64; 4],
    carry: [u8; 32],
    carried: usize,
    len: u64,
}

impl StreamHash {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    fn block(&mut self, block: &[u8]) {
        for (lane, word) in self.lanes.iter_mut().zip(block.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            *lane = (*lane ^ u64::from_le_bytes(w))
                .wrapping_mul(Self::K)
                .rotate_left(29);
        }
    }

    /// Adds bytes.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.carried > 0 {
            let take = (32 - self.carried).min(data.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&data[..take]);
            self.carried += take;
            data = &data[take..];
            if self.carried < 32 {
                return;
            }
            let carry = self.carry;
            self.block(&carry);
            self.carried = 0;
        }
        let mut blocks = data.chunks_exact(32);
        for b in blocks.by_ref() {
            self.block(b);
        }
        let rest = blocks.remainder();
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carried = rest.len();
    }

    /// The hash and the number of bytes.
    pub(crate) fn finish(&self) -> (u64, u64) {
        let mut h = self.len;
        for (i, lane) in self.lanes.iter().enumerate() {
            h = (h ^ lane.rotate_left(i as u32 * 16)).wrapping_mul(Self::K);
        }
        for &byte in &self.carry[..self.carried] {
            h = (h ^ u64::from(byte)).wrapping_mul(Self::K);
        }
        (h, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_hash_does_not_depend_on_read_sizes() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut whole = StreamHash::default();
        whole.update(&data);
        let mut pieces = StreamHash::default();
        for chunk in data.chunks(3) {
            pieces.update(chunk);
        }
        assert_eq!(whole.finish(), pieces.finish());
        let mut other = StreamHash::default();
        other.update(&data[1..]);
        assert_ne!(whole.finish(), other.finish());
    }
}
