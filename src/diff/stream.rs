//! Content too large to hold in memory, compared as two streams in place: chunk by
//! chunk at the same offsets, like `cmp`, keeping only bounded windows around the first
//! differences, which are then explained like any binary content. Memory stays at two
//! chunks and the windows, whatever the size.
//!
//! In place means not realigned: when the sizes differ, what follows the first
//! difference may be shifted, so the comparison stops there (for files, whose sizes are
//! known) and the item says so with a `not compared: budget (memory)` note.

use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;

use super::binary::{classify, hex_view_at};
use super::budget::show_bytes;
use super::classify::lines::aligned_ranges;
use super::context::Cx;
use super::items::{ByteRange, Change, DiffItem, FieldDiff, ItemKind};
use super::regular_files::open_regular;

/// Bytes read from each side at a time.
const CHUNK: usize = 1 << 20;
/// Most differing ranges kept, with a window of bytes around each.
const MAX_WINDOWS: usize = 16;
/// Bytes kept before and after a differing range.
const CONTEXT: usize = 64;
/// Longest window kept around one range.
const MAX_WINDOW: usize = 4096;
/// Differing bytes closer than this are one range.
const GAP: usize = 16;

/// The bytes of both sides around one differing range.
struct Window {
    /// Offset of the window in both streams.
    start: u64,
    /// The differing range, as offsets in both streams.
    range: Range<u64>,
    a: Vec<u8>,
    b: Vec<u8>,
}

/// What an in-place comparison found.
#[derive(Default)]
pub(crate) struct InPlace {
    /// Bytes of side a compared (the whole stream unless it stopped early, then its
    /// size when known).
    pub len_a: u64,
    /// The same for side b.
    pub len_b: u64,
    /// Differing ranges found.
    pub ranges: u64,
    /// Whether it stopped at the first difference (sizes known to differ).
    pub stopped: bool,
    windows: Vec<Window>,
}

impl InPlace {
    /// Whether the two streams were the same.
    pub(crate) fn same(&self) -> bool {
        self.ranges == 0 && self.len_a == self.len_b
    }
}

/// Compares two streams in place. With `sizes` known to differ, stops after the chunk
/// holding the first difference: past it, in-place offsets may be shifted.
pub(crate) fn compare_readers<RA, RB>(
    mut ra: RA,
    mut rb: RB,
    sizes: Option<(u64, u64)>,
) -> io::Result<InPlace>
where
    RA: Read + Send,
    RB: Read + Send,
{
    let stop_at_first = sizes.is_some_and(|(x, y)| x != y);
    let mut found = InPlace::default();
    let (mut ba, mut bb) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    // The last bytes of the previous chunks, for the context before a range.
    let (mut tail_a, mut tail_b): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    let (mut open_a, mut open_b) = (true, true);
    let mut offset = 0u64;
    while open_a || open_b {
        let (na, nb) = rayon::join(
            || fill(&mut ra, &mut ba, open_a),
            || fill(&mut rb, &mut bb, open_b),
        );
        let (na, nb) = (na?, nb?);
        open_a &= na == CHUNK;
        open_b &= nb == CHUNK;
        found.len_a += na as u64;
        found.len_b += nb as u64;
        let before = found.ranges;
        scan(
            &mut found,
            offset,
            (&ba[..na], &bb[..nb]),
            (&tail_a, &tail_b),
        );
        if stop_at_first && found.ranges > before {
            found.stopped = true;
            break;
        }
        keep_tail(&mut tail_a, &ba[..na]);
        keep_tail(&mut tail_b, &bb[..nb]);
        offset += na.max(nb) as u64;
        if na == 0 && nb == 0 {
            break;
        }
    }
    if let (true, Some((x, y))) = (found.stopped, sizes) {
        (found.len_a, found.len_b) = (x, y);
    }
    Ok(found)
}

/// Fills `buf` from `r` (fewer bytes only at its end); nothing once the stream ended.
fn fill(r: &mut impl Read, buf: &mut [u8], open: bool) -> io::Result<usize> {
    if !open {
        return Ok(0);
    }
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn keep_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    if chunk.len() >= CONTEXT {
        tail.clear();
        tail.extend_from_slice(&chunk[chunk.len() - CONTEXT..]);
    } else {
        tail.extend_from_slice(chunk);
        let extra = tail.len().saturating_sub(CONTEXT);
        tail.drain(..extra);
    }
}

/// Finds the differing ranges of one pair of chunks at `offset` (one side may be shorter:
/// its end is a difference) and keeps windows around the first of them.
fn scan(found: &mut InPlace, offset: u64, (a, b): (&[u8], &[u8]), tails: (&[u8], &[u8])) {
    for r in aligned_ranges(a, b, GAP) {
        found.ranges += 1;
        if found.windows.len() >= MAX_WINDOWS {
            continue;
        }
        let lo = r.start.saturating_sub(CONTEXT);
        let hi = (r.end + CONTEXT).min(lo + MAX_WINDOW);
        let side = |chunk: &[u8], tail: &[u8]| {
            // Context from the previous chunk when the range starts near this one's start.
            let before = CONTEXT.saturating_sub(r.start).min(tail.len());
            let mut w = tail[tail.len() - before..].to_vec();
            w.extend_from_slice(&chunk[lo.min(chunk.len())..hi.min(chunk.len())]);
            (w, before)
        };
        let (wa, before) = side(a, tails.0);
        let (mut wb, before_b) = side(b, tails.1);
        // Both windows start at the same offset: trim the longer context.
        let skip = before_b.saturating_sub(before);
        wb.drain(..skip);
        let wa = wa[before.saturating_sub(before_b)..].to_vec();
        let start = offset + lo as u64 - before.min(before_b) as u64;
        let end = (offset + r.end as u64).min(start + MAX_WINDOW as u64);
        found.windows.push(Window {
            start,
            range: offset + r.start as u64..end.max(offset + r.start as u64 + 1),
            a: wa,
            b: wb,
        });
    }
}

/// Compares two regular files too large to hold in memory, in place.
pub(crate) fn compare_files(
    path: &str,
    a: &Path,
    b: &Path,
    sizes: (u64, u64),
    cx: &Cx,
) -> io::Result<Vec<DiffItem>> {
    let ((fa, size_a), (fb, size_b)) = (open_regular(a)?, open_regular(b)?);
    let sizes = if (size_a, size_b) == sizes {
        sizes
    } else {
        (size_a, size_b)
    };
    let found = compare_readers(fa, fb, Some(sizes))?;
    Ok(item(path, found, cx).into_iter().collect())
}

/// The item for what an in-place comparison found (`None` if the streams were the same):
/// each kept window explained as binary content, its range shown, and notes saying how
/// it was compared and what was not.
pub(crate) fn item(path: &str, found: InPlace, cx: &Cx) -> Option<DiffItem> {
    if found.same() {
        return None;
    }
    let mut item = DiffItem::new(path.to_string(), ItemKind::Binary, Change::Modified);
    let limit = cx.opts.max_findings_per_item;
    for w in &found.windows {
        if item.reasons.len() >= limit {
            break;
        }
        let notes = &mut item.evidence.notes;
        let reasons = classify(path, &w.a, &w.b, cx, (w.start, w.start), None, notes);
        item.reasons.extend(reasons);
        let local = (w.range.start - w.start) as usize..(w.range.end - w.start) as usize;
        let clip = |data: &[u8]| local.start.min(data.len())..local.end.min(data.len());
        item.evidence.byte_ranges.push(ByteRange {
            offset_a: w.range.start,
            len_a: clip(&w.a).len() as u64,
            offset_b: w.range.start,
            len_b: clip(&w.b).len() as u64,
            hex_a: hex_view_at(&w.a, &clip(&w.a), w.start),
            hex_b: hex_view_at(&w.b, &clip(&w.b), w.start),
        });
    }
    item.reasons.truncate(limit);
    item.evidence.notes.dedup();
    let shown = found.windows.len() as u64;
    item.evidence.notes.insert(
        0,
        format!(
            "compared as two streams, in place (the content does not fit in --max-memory {}): {} differing range{}{}, explained in windows around the first {shown}",
            show_bytes(cx.budget.limit()),
            found.ranges,
            if found.ranges == 1 { "" } else { "s" },
            if found.stopped { " before the comparison stopped" } else { "" },
        ),
    );
    if found.len_a != found.len_b {
        item.evidence.metadata.push(FieldDiff {
            member: None,
            field: "size".into(),
            a: format!("{} bytes", found.len_a),
            b: format!("{} bytes", found.len_b),
        });
        item.evidence.notes.push(cx.budget.memory_note(
            "the sizes differ, and content this large is compared in place: what follows the first difference was not realigned",
        ));
    }
    Some(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_compared_chunk_by_chunk_with_windows_around_differences() {
        let mut a = vec![0u8; 3 * CHUNK + 100];
        let mut b = a.clone();
        b[10] = 1;
        b[CHUNK + 5] = 2; // near a chunk boundary: context comes from the previous chunk
        a[3 * CHUNK + 50] = 3;
        let found = compare_readers(&a[..], &b[..], None).unwrap();
        assert_eq!(
            (found.len_a, found.len_b, found.ranges),
            (a.len() as u64, a.len() as u64, 3)
        );
        let starts: Vec<u64> = found.windows.iter().map(|w| w.range.start).collect();
        assert_eq!(starts, [10, CHUNK as u64 + 5, 3 * CHUNK as u64 + 50]);
        let w = &found.windows[1];
        assert_eq!(w.start, CHUNK as u64 + 5 - CONTEXT as u64);
        assert_eq!(w.a.len(), w.b.len());
        assert_eq!(w.b[(w.range.start - w.start) as usize], 2);
        assert!(compare_readers(&a[..], &a[..], None).unwrap().same());
    }

    #[test]
    fn a_stream_that_ends_early_differs_by_its_missing_tail() {
        let a = vec![7u8; CHUNK + 10];
        let b = vec![7u8; CHUNK + 20];
        let found = compare_readers(&a[..], &b[..], None).unwrap();
        assert_eq!(
            (found.len_a, found.len_b, found.ranges),
            (a.len() as u64, b.len() as u64, 1)
        );
        assert!(!found.same());
        // Sizes known to differ: stops at the first difference.
        let mut c = vec![0u8; 4 * CHUNK];
        c[5] = 1;
        let found = compare_readers(
            &c[..],
            &vec![0u8; 4 * CHUNK + 1][..],
            Some((4 << 20, (4 << 20) + 1)),
        )
        .unwrap();
        assert!(found.stopped);
        assert_eq!(found.windows.len(), 1);
    }
}
