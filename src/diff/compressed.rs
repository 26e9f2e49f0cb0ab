//! Compressed streams (gzip in `gzip.rs`; xz and zstd here): bounded decompression and
//! comparison of the decompressed content.

use std::io::Read;
use std::sync::{Arc, Mutex};

use super::members::Meta;
use super::{compare_blobs, Change, Cx, DiffItem, FieldDiff, Format, ItemKind};

/// Bytes read from a decoder at a time.
const CHUNK: usize = 256 * 1024;
/// Streams that expand to less than this are never called bombs, whatever the ratio.
const RATIO_FLOOR: u64 = 16 << 20;

/// The result of a bounded decompression: what was produced, and why it stopped early.
#[cfg(test)]
pub(crate) struct Expanded {
    pub data: Vec<u8>,
    pub problem: Option<String>,
}

/// A decompressing reader held within the limits of a [`Cx`]: the total expansion budget
/// and the ratio limit. A corrupt or truncated stream, or a limit reached, ends the
/// stream with an error and records a `problem` (the reader never panics).
pub(crate) struct Bounded<'c, R> {
    inner: R,
    cx: &'c Cx<'c>,
    produced: u64,
    ratio_cap: u64,
    problem: Option<String>,
    /// Whether it stopped at a limit (rather than at corrupt input): what was produced
    /// is only a prefix of the content, not to be compared.
    limited: bool,
}

impl<'c, R: Read> Bounded<'c, R> {
    /// Bounds `inner`, the decoder of a stream of `compressed_len` bytes.
    pub(crate) fn new(inner: R, compressed_len: usize, cx: &'c Cx<'c>) -> Self {
        let ratio_cap = (compressed_len as u64)
            .saturating_mul(cx.opts.max_ratio)
            .max(RATIO_FLOOR);
        Bounded {
            inner,
            cx,
            produced: 0,
            ratio_cap,
            problem: None,
            limited: false,
        }
    }

    /// Whether it stopped at a limit (total expansion or ratio).
    pub(crate) fn limited(&self) -> bool {
        self.limited
    }

    /// Why the stream ended early, if it did.
    pub(crate) fn problem(&self) -> Option<&String> {
        self.problem.as_ref()
    }

    fn stop(&mut self, problem: String) -> std::io::Error {
        let err = std::io::Error::other(problem.clone());
        self.problem.get_or_insert(problem);
        err
    }
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(p) = &self.problem {
            return Err(std::io::Error::other(p.clone()));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => return Err(err),
            Err(err) => {
                let produced = self.produced;
                return Err(self.stop(format!(
                    "corrupt or truncated stream after {produced} bytes: {err}"
                )));
            }
        };
        if !self.cx.take_budget(n as u64) {
            self.limited = true;
            let limit = self.cx.opts.max_expanded_bytes;
            return Err(self.stop(format!(
                "decompression stopped: more than {limit} bytes expanded in total (limit)"
            )));
        }
        // The clock is read once per MiB produced.
        let next_mib = (self.produced + n as u64) >> 20 != self.produced >> 20;
        if next_mib && self.cx.budget.out_of_time() {
            self.limited = true;
            let produced = self.produced;
            let note = self
                .cx
                .budget
                .time_note(&format!("decompression stopped after {produced} bytes"));
            return Err(self.stop(note));
        }
        self.produced += n as u64;
        if self.produced > self.ratio_cap {
            self.limited = true;
            let ratio = self.cx.opts.max_ratio;
            return Err(self.stop(format!(
                "decompression stopped: expands more than {ratio}x (possible decompression bomb)"
            )));
        }
        Ok(n)
    }
}

/// Decompresses `reader` (fed `compressed_len` bytes) within the limits of `cx`.
#[cfg(test)]
pub(crate) fn expand<'c>(reader: impl Read, compressed_len: usize, cx: &'c Cx<'c>) -> Expanded {
    let mut bounded = Bounded::new(reader, compressed_len, cx);
    let data = read_rest(&mut bounded, Vec::new());
    Expanded {
        data,
        problem: bounded.problem,
    }
}

/// Compares two decompressed contents (`head_*` already read): in memory when both fit in
/// the memory budget, else as two streams in place. Nothing when a side stopped at a
/// limit: only a prefix of its content was expanded, and comparing it would report the
/// cut, not a difference. A tar is reported at `path` itself, other content at `inner`.
fn compare_expanded<RA: Read + Send, RB: Read + Send>(
    (path, inner): (&str, &str),
    (da, head_a): (&mut Bounded<'_, RA>, Vec<u8>),
    (db, head_b): (&mut Bounded<'_, RB>, Vec<u8>),
    cx: &Cx,
) -> Vec<DiffItem> {
    let (ea, eb) = rayon::join(|| read_held(da, head_a, cx), || read_held(db, head_b, cx));
    if ea.whole && eb.whole {
        if da.limited() || db.limited() {
            return Vec::new();
        }
        let is_tar = super::tar::is_tar(&ea.data) || super::tar::is_tar(&eb.data);
        let inner_path = if is_tar { path } else { inner };
        return compare_blobs(inner_path, &ea.data, &eb.data, cx);
    }
    let ra = std::io::Cursor::new(ea.data).chain(Lenient(&mut *da));
    let rb = std::io::Cursor::new(eb.data).chain(Lenient(&mut *db));
    let found = super::stream::compare_readers(ra, rb, None);
    if da.limited() || db.limited() {
        return Vec::new();
    }
    match found {
        Ok(found) => super::stream::item(inner, found, cx).into_iter().collect(),
        Err(_) => Vec::new(),
    }
}

/// Content read from a decompressor and held in the memory budget: all of it (`whole`),
/// or the part read before the budget ran out.
struct HeldContent {
    data: Vec<u8>,
    whole: bool,
    _held: Option<super::budget::Held>,
}

/// Reads the rest of `reader` after `data` while the memory budget holds it; stops at
/// the first error (recorded by a [`Bounded`] reader), which counts as the end.
fn read_held(reader: &mut impl Read, mut data: Vec<u8>, cx: &Cx) -> HeldContent {
    let Some(mut held) = cx.budget.hold(data.capacity() as u64) else {
        return HeldContent {
            data,
            whole: false,
            _held: None,
        };
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if data.len() + n > data.capacity() {
            // Grow as a Vec would (doubling), but only as far as the budget holds: while
            // the bytes move, the old buffer and the new one are both held.
            let (old, want) = (data.capacity(), (data.capacity() * 2).max(data.len() + n));
            if !held.grow(want as u64) {
                data.reserve_exact(n);
                data.extend_from_slice(&buf[..n]);
                return HeldContent {
                    data,
                    whole: false,
                    _held: Some(held),
                };
            }
            data.reserve_exact(want - data.len());
            held.release(old as u64);
        }
        data.extend_from_slice(&buf[..n]);
    }
    HeldContent {
        data,
        whole: true,
        _held: Some(held),
    }
}

/// A reader whose errors end the stream: a [`Bounded`] reader records why it stopped.
struct Lenient<R>(R);

impl<R: Read> Read for Lenient<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(0),
                done => return done,
            }
        }
    }
}

/// Reads the rest of `reader` after `data`; stops at the first error (recorded by a
/// [`Bounded`] reader).
#[cfg(test)]
fn read_rest(reader: &mut impl Read, mut data: Vec<u8>) -> Vec<u8> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return data,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return data,
        }
    }
}

/// Reads up to `n` bytes (fewer only at the end of the stream or on an error).
fn read_head(reader: &mut impl Read, n: usize) -> Vec<u8> {
    let mut head = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    head.truncate(filled);
    head
}

/// A boxed decoder that can move to another thread.
pub(crate) type Decoder<'a> = Box<dyn Read + Send + 'a>;

/// Bytes found after the end of a compressed stream that are not part of it (garbage
/// appended to a gzip file, zeros padding it to a block).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Trailer {
    /// Where they start in the compressed file.
    pub offset: u64,
    /// How many there are.
    pub len: u64,
    /// The first of them (at most 64 KiB).
    pub head: Vec<u8>,
}

/// Where a decoder records the [`Trailer`] it found, if any.
pub(crate) type TrailerSlot = Arc<Mutex<Option<Trailer>>>;

/// How one compressed format reads its header and opens its decoder.
pub(crate) struct StreamFormat {
    pub kind: ItemKind,
    pub header: fn(&[u8]) -> Vec<Meta>,
    /// Opens a decoder; a format that can tell its stream's end from bytes after it
    /// (gzip) records those in the slot instead of failing on them.
    pub decoder: for<'a> fn(Decoder<'a>, TrailerSlot) -> Decoder<'a>,
    pub inner_name: fn(&[u8], &str) -> String,
    pub remedy: &'static str,
}

/// Compares two compressed streams: header fields, then the decompressed content. A tar
/// inside is transparent: its members are reported as `out.tar.gz!/member`, and it is
/// compared as it is decompressed, member by member, on two threads, so that only the
/// members that differ are held in memory.
pub(crate) fn compare_stream(
    f: &StreamFormat,
    path: &str,
    a: &[u8],
    b: &[u8],
    cx: &Cx,
) -> Vec<DiffItem> {
    let sa = Source {
        head: a,
        reader: Box::new(a),
        len: a.len() as u64,
    };
    let sb = Source {
        head: b,
        reader: Box::new(b),
        len: b.len() as u64,
    };
    compare_sources(f, path, sa, sb, cx)
}

/// One side of a compressed stream: its first bytes (for the header), a reader of the
/// whole stream, and its compressed length.
pub(crate) struct Source<'a> {
    pub head: &'a [u8],
    pub reader: Decoder<'a>,
    pub len: u64,
}

/// Bytes of a file read ahead for its header.
const HEAD: usize = 64 * 1024;

/// Compares two large compressed files straight from disk, without reading them into
/// memory: the `FORMATS` entry of their content decides, and `None` means that they are
/// not (both) of one compressed format, to be compared the usual way.
pub(crate) fn compare_files(
    path: &str,
    a: &std::path::Path,
    b: &std::path::Path,
    cx: &Cx,
) -> std::io::Result<Option<Vec<DiffItem>>> {
    let open = |p: &std::path::Path| -> std::io::Result<(Vec<u8>, std::fs::File, u64)> {
        let (mut file, len) = super::dir::open_regular(p)?;
        let mut head = vec![0u8; HEAD];
        let n = super::dir::read_full(&mut file, &mut head)?;
        head.truncate(n);
        Ok((head, file, len))
    };
    let (head_a, file_a, len_a) = open(a)?;
    let (head_b, file_b, len_b) = open(b)?;
    let format = match (sniff(&head_a), sniff(&head_b)) {
        (Some(fa), Some(fb)) if std::ptr::eq(fa, fb) => fa,
        _ => return Ok(None),
    };
    Ok(Some(compare_open_files(
        format,
        path,
        (&head_a, file_a, len_a),
        (&head_b, file_b, len_b),
        cx,
    )))
}

type OpenFile<'a> = (&'a [u8], std::fs::File, u64);

fn compare_open_files<'a>(
    format: &StreamFormat,
    path: &str,
    (head_a, file_a, len_a): OpenFile<'a>,
    (head_b, file_b, len_b): OpenFile<'a>,
    cx: &Cx,
) -> Vec<DiffItem> {
    let source = |head: &'a [u8], file: std::fs::File, len: u64| -> Source<'a> {
        let rest = std::io::BufReader::with_capacity(1 << 20, file);
        Source {
            head,
            reader: Box::new(head.chain(rest)),
            len,
        }
    };
    let (sa, sb) = (source(head_a, file_a, len_a), source(head_b, file_b, len_b));
    compare_sources(format, path, sa, sb, cx)
}

/// The compressed format whose magic `head` starts with.
fn sniff(head: &[u8]) -> Option<&'static StreamFormat> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(&super::gzip::GZIP)
    } else if head.starts_with(b"\xfd7zXZ\x00") {
        Some(&XZ)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(&ZSTD)
    } else {
        None
    }
}

fn compare_sources(
    f: &StreamFormat,
    path: &str,
    a: Source<'_>,
    b: Source<'_>,
    cx: &Cx,
) -> Vec<DiffItem> {
    let mut own = DiffItem::new(path.to_string(), f.kind, Change::Metadata);
    header_diffs(f, &mut own, a.head, b.head, cx);
    let (len_a, len_b) = (a.len as usize, b.len as usize);
    let head_bytes_a = a.head;
    let (trailer_a, trailer_b) = (TrailerSlot::default(), TrailerSlot::default());
    let mut da = Bounded::new((f.decoder)(a.reader, trailer_a.clone()), len_a, cx);
    let mut db = Bounded::new((f.decoder)(b.reader, trailer_b.clone()), len_b, cx);
    let (head_a, head_b) = (read_head(&mut da, 512), read_head(&mut db, 512));
    let deeper = cx.deeper();
    let streamed_tar = super::tar::is_tar(&head_a)
        && super::tar::is_tar(&head_b)
        && deeper.depth <= cx.opts.max_depth;
    let mut inner = if streamed_tar {
        let ra = std::io::Cursor::new(head_a).chain(&mut da);
        let rb = std::io::Cursor::new(head_b).chain(&mut db);
        super::tar::compare_streams(path, ra, rb, &deeper)
    } else {
        let inner_name = format!("{path}!{}", (f.inner_name)(head_bytes_a, path));
        compare_expanded(
            (path, &inner_name),
            (&mut da, head_a),
            (&mut db, head_b),
            &deeper,
        )
    };
    for (side, d) in [("a", &da), ("b", &db)] {
        if let Some(p) = d.problem() {
            own.evidence.notes.push(format!("side {side}: {p}"));
        }
    }
    let limited: Vec<&str> = [("a", &da), ("b", &db)]
        .iter()
        .filter(|(_, d)| d.limited())
        .map(|(side, _)| *side)
        .collect();
    if !limited.is_empty() {
        own.change = Change::Modified;
        if streamed_tar {
            // The members read whole on both sides were compared; presence and the
            // stream as a whole cannot be told from a cut stream.
            inner.retain(|i| !matches!(i.change, Change::Added | Change::Removed));
            for item in inner.iter_mut().filter(|i| i.path == own.path) {
                item.reasons.retain(|r| {
                    !r.context
                        .as_deref()
                        .is_some_and(|c| c.starts_with("tar stream outside"))
                });
                item.evidence
                    .notes
                    .retain(|n| !n.starts_with("the tar streams differ"));
            }
            own.evidence.notes.push(
                "members after the stop were not compared (decompression stopped at a limit)"
                    .into(),
            );
        } else {
            own.evidence.notes.push(format!(
                "contents not compared: decompression stopped at a limit on side {}",
                limited.join(" and side ")
            ));
        }
    }
    trailer_diffs(f, &mut own, &trailer_a, &trailer_b, cx);
    let mut items = Vec::new();
    for item in inner {
        if item.path == own.path {
            merge_into(&mut own, item);
        } else {
            own.change = Change::Modified;
            items.push(item);
        }
    }
    if !own.reasons.is_empty()
        || !own.evidence.notes.is_empty()
        || !own.evidence.metadata.is_empty()
    {
        items.push(own);
    }
    items
}

/// Notes bytes found after the stream on either side and, when they differ, explains
/// them as binary content (offsets in the compressed files).
fn trailer_diffs(
    f: &StreamFormat,
    own: &mut DiffItem,
    slot_a: &TrailerSlot,
    slot_b: &TrailerSlot,
    cx: &Cx,
) {
    let take = |slot: &TrailerSlot| slot.lock().ok().and_then(|mut t| t.take());
    let (ta, tb) = (take(slot_a), take(slot_b));
    if ta.is_none() && tb.is_none() {
        return;
    }
    let format = f.kind.as_str();
    for (side, t) in [("a", &ta), ("b", &tb)] {
        if let Some(t) = t {
            let what = if t.head.iter().all(|&c| c == 0) && t.len == t.head.len() as u64 {
                "zero bytes"
            } else {
                "bytes of garbage"
            };
            own.evidence.notes.push(format!(
                "side {side}: {} {what} after the {format} stream (at offset {}; the stream itself is compared normally)",
                t.len, t.offset
            ));
        }
    }
    let shown = |t: &Option<Trailer>| {
        t.as_ref()
            .map_or("none".to_string(), |t| format!("{} bytes", t.len))
    };
    let (empty_a, empty_b) = (Vec::new(), Vec::new());
    let head_a = ta.as_ref().map_or(&empty_a, |t| &t.head);
    let head_b = tb.as_ref().map_or(&empty_b, |t| &t.head);
    if head_a == head_b && shown(&ta) == shown(&tb) {
        return;
    }
    own.evidence.metadata.push(FieldDiff {
        member: None,
        field: format!("bytes after the {format} stream"),
        a: shown(&ta),
        b: shown(&tb),
    });
    let base = (
        ta.as_ref().map_or(0, |t| t.offset),
        tb.as_ref().map_or(0, |t| t.offset),
    );
    let context = Some(format!("bytes after the {format} stream"));
    let mut notes = Vec::new();
    own.reasons.extend(super::binary::classify(
        &own.path, head_a, head_b, cx, base, context, &mut notes,
    ));
    own.evidence.notes.extend(notes);
}

fn header_diffs(f: &StreamFormat, own: &mut DiffItem, a: &[u8], b: &[u8], cx: &Cx) {
    let style = super::members::Style {
        kind: f.kind,
        sep: "!",
        ordered: false,
        fields_on_members: false,
        remedy: f.remedy,
        order_remedy: "",
    };
    let (ha, hb) = ((f.header)(a), (f.header)(b));
    for ma in &ha {
        let Some(mb) = hb.iter().find(|m| m.field == ma.field) else {
            continue;
        };
        if ma.value != mb.value {
            own.reasons.push(super::members::field_reason(
                path_of(own),
                &style,
                ma,
                mb,
                None,
                cx,
            ));
            own.evidence.metadata.push(FieldDiff {
                member: None,
                field: ma.field.into(),
                a: ma.value.clone(),
                b: mb.value.clone(),
            });
        }
    }
}

fn path_of(item: &DiffItem) -> &str {
    &item.path
}

/// Folds an item found at the same path (a transparent inner tar) into `own`.
fn merge_into(own: &mut DiffItem, other: DiffItem) {
    if other.change == Change::Modified {
        own.change = Change::Modified;
    }
    own.reasons.extend(other.reasons);
    own.evidence.metadata.extend(other.evidence.metadata);
    own.evidence.notes.extend(other.evidence.notes);
    own.evidence.byte_ranges.extend(other.evidence.byte_ranges);
    if own.evidence.unified_diff.is_none() {
        own.evidence.unified_diff = other.evidence.unified_diff;
    }
}

/// The name of the content of `path` without its compression suffix.
pub(crate) fn strip_suffix(path: &str) -> String {
    let name = path.rsplit(['!', '/']).next().unwrap_or(path);
    for (suffix, replacement) in [
        (".tgz", ".tar"),
        (".gz", ""),
        (".xz", ""),
        (".zst", ""),
        (".txz", ".tar"),
    ] {
        if let Some(stem) = name.strip_suffix(suffix) {
            if !stem.is_empty() {
                return format!("{stem}{replacement}");
            }
        }
    }
    format!("{name}.data")
}

fn no_header(_: &[u8]) -> Vec<Meta> {
    Vec::new()
}

fn name_from_path(_: &[u8], path: &str) -> String {
    strip_suffix(path)
}

/// An xz stream.
pub(crate) struct Xz;

pub(crate) const XZ: StreamFormat = StreamFormat {
    kind: ItemKind::Xz,
    header: no_header,
    decoder: |d, _| Box::new(xz2::read::XzDecoder::new_multi_decoder(d)),
    inner_name: name_from_path,
    remedy: "compress with fixed options (xz -T1 gives the same bytes on every machine)",
};

impl Format for Xz {
    fn kind(&self) -> ItemKind {
        ItemKind::Xz
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        data.starts_with(b"\xfd7zXZ\x00")
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        compare_stream(&XZ, path, a, b, cx)
    }
}

/// A zstd stream.
pub(crate) struct Zstd;

pub(crate) const ZSTD: StreamFormat = StreamFormat {
    kind: ItemKind::Zstd,
    header: no_header,
    decoder: |d, _| match zstd::stream::read::Decoder::new(d) {
        Ok(dec) => Box::new(dec) as Decoder<'_>,
        Err(err) => Box::new(FailingReader(Some(err))),
    },
    inner_name: name_from_path,
    remedy: "compress with fixed options (zstd without --no-check differences, same level)",
};

impl Format for Zstd {
    fn kind(&self) -> ItemKind {
        ItemKind::Zstd
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        compare_stream(&ZSTD, path, a, b, cx)
    }
}

/// A reader that fails once with the error it holds.
struct FailingReader(Option<std::io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.take() {
            Some(err) => Err(err),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn suffixes_are_stripped() {
        assert_eq!(strip_suffix("x/out.txt.gz"), "out.txt");
        assert_eq!(strip_suffix("a.tgz"), "a.tar");
        assert_eq!(strip_suffix("blob"), "blob.data");
    }

    #[test]
    fn ratio_limit_stops_a_bomb() {
        let opts = super::super::DiffOptions {
            max_ratio: 10,
            ..Default::default()
        };
        let budget = AtomicU64::new(0);
        let limits = crate::diff::budget::Budget::unlimited();
        let cx = Cx {
            opts: &opts,
            depth: 0,
            expanded: &budget,
            budget: &limits,
        };
        let zeros = std::io::repeat(0).take(64 << 20);
        let e = expand(zeros, 1000, &cx);
        assert!(e.problem.unwrap().contains("bomb"));
        assert!(e.data.len() as u64 <= RATIO_FLOOR + CHUNK as u64);
    }

    #[test]
    fn budget_limit_stops_expansion() {
        let opts = super::super::DiffOptions {
            max_expanded_bytes: 1 << 20,
            ..Default::default()
        };
        let budget = AtomicU64::new(0);
        let limits = crate::diff::budget::Budget::unlimited();
        let cx = Cx {
            opts: &opts,
            depth: 0,
            expanded: &budget,
            budget: &limits,
        };
        let e = expand(std::io::repeat(1).take(8 << 20), 8 << 20, &cx);
        assert!(e.problem.unwrap().contains("limit"));
    }
}
