//! Compressed streams: what gzip (`gzip.rs`), xz (`xz.rs`) and zstd (`zstd.rs`) have in
//! common. Header fields are compared, then the content decompressed within the limits
//! of `decompress.rs`: in memory, as two streams, or, for a tar inside, member by member.

use std::io::Read;
use std::sync::{Arc, Mutex};

use super::binary;
use super::context::Cx;
use super::decompress::{read_head, read_held, Bounded, Lenient};
use super::field_reasons::field_reason;
use super::items::{Change, DiffItem, FieldDiff, ItemKind};
use super::listing::{Meta, Style};
use super::{stream, tar};

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
        let is_tar = tar::is_tar(&ea.data) || tar::is_tar(&eb.data);
        let inner_path = if is_tar { path } else { inner };
        return cx.compare_blobs(inner_path, &ea.data, &eb.data);
    }
    let ra = std::io::Cursor::new(ea.data).chain(Lenient(&mut *da));
    let rb = std::io::Cursor::new(eb.data).chain(Lenient(&mut *db));
    let found = stream::compare_readers(ra, rb, None);
    if da.limited() || db.limited() {
        return Vec::new();
    }
    match found {
        Ok(found) => stream::item(inner, found, cx).into_iter().collect(),
        Err(_) => Vec::new(),
    }
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

pub(crate) fn compare_sources(
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
    let streamed_tar =
        tar::is_tar(&head_a) && tar::is_tar(&head_b) && deeper.depth <= cx.opts.max_depth;
    let mut inner = if streamed_tar {
        let ra = std::io::Cursor::new(head_a).chain(&mut da);
        let rb = std::io::Cursor::new(head_b).chain(&mut db);
        tar::compare_streams(path, ra, rb, &deeper)
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
    own.reasons.extend(binary::classify(
        &own.path, head_a, head_b, cx, base, context, &mut notes,
    ));
    own.evidence.notes.extend(notes);
}

fn header_diffs(f: &StreamFormat, own: &mut DiffItem, a: &[u8], b: &[u8], cx: &Cx) {
    let style = Style {
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
            own.reasons
                .push(field_reason(path_of(own), &style, ma, mb, None, cx));
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

/// The header fields of a format without any (xz, zstd).
pub(crate) fn no_header(_: &[u8]) -> Vec<Meta> {
    Vec::new()
}

/// The name of the content of a stream that does not record it: from its path.
pub(crate) fn name_from_path(_: &[u8], path: &str) -> String {
    strip_suffix(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_stripped() {
        assert_eq!(strip_suffix("x/out.txt.gz"), "out.txt");
        assert_eq!(strip_suffix("a.tgz"), "a.tar");
        assert_eq!(strip_suffix("blob"), "blob.data");
    }
}
