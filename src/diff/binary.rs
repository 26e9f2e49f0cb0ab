//! Bytes of no recognised format: differing byte ranges with hex views, classified as
//! binary content.

use std::ops::Range;
use std::time::{Duration, Instant};

use similar::DiffOp;

use std::sync::Arc;

use super::align;
use super::budget::Budget;
use super::classify::lines::{aligned_ranges, count_lines, differing_lines, split_lines};
use super::classify::Classifier;
use super::context::Cx;
use super::items::{ByteRange, Change, DiffItem, ItemKind, Reason};

/// Most byte ranges kept as evidence for one item.
const MAX_RANGES: usize = 16;
/// Most bytes of one range shown in a hex view.
const MAX_SHOWN: usize = 64;
/// Bytes of context shown before and after a range.
const CONTEXT: usize = 16;

/// Compares two differing blobs as bytes.
pub(crate) fn compare_item(path: &str, a: &[u8], b: &[u8], cx: &Cx) -> DiffItem {
    let mut item = DiffItem::new(path.to_string(), ItemKind::Binary, Change::Modified);
    item.reasons = classify(path, a, b, cx, (0, 0), None, &mut item.evidence.notes);
    item.evidence.byte_ranges = byte_ranges(a, b, Some(cx.budget));
    item
}

/// Classifies binary content (offsets shifted by `base` on sides a and b, reasons tagged
/// with `context`); what a budget left unexplained goes to `notes`.
pub(crate) fn classify(
    path: &str,
    a: &[u8],
    b: &[u8],
    cx: &Cx,
    base: (u64, u64),
    context: Option<String>,
    notes: &mut Vec<String>,
) -> Vec<Reason> {
    Classifier {
        path,
        known: &cx.opts.known,
        text: false,
        base_offset: base.0,
        base_offset_b: base.1,
        context,
        limit: cx.opts.max_findings_per_item,
        budget: Some(cx.budget),
    }
    .classify_noting(a, b, notes)
}

/// The differing ranges of two blobs with hex views, at most [`MAX_RANGES`]; blobs of
/// different lengths are aligned within the budget (until its item deadline, in the
/// memory it has left; `None` for no limit).
pub(crate) fn byte_ranges(a: &[u8], b: &[u8], budget: Option<&Arc<Budget>>) -> Vec<ByteRange> {
    let pairs: Vec<(Range<usize>, Range<usize>)> = if a.len() == b.len() {
        aligned_ranges(a, b, CONTEXT)
            .take(MAX_RANGES)
            .map(|r| (r.clone(), r))
            .collect()
    } else {
        shifted_ranges(a, b, budget)
    };
    pairs
        .into_iter()
        .map(|(ra, rb)| ByteRange {
            offset_a: ra.start as u64,
            len_a: ra.len() as u64,
            offset_b: rb.start as u64,
            len_b: rb.len() as u64,
            hex_a: hex_view(a, &ra),
            hex_b: hex_view(b, &rb),
        })
        .collect()
}

/// Bytes of memory taken per segment aligned: the slice, its hash, the alignment's maps.
const SEGMENT_COST: u64 = 64;

/// Ranges of blobs of different lengths, found by aligning their NUL/newline segments
/// (for a tenth of an item's time at most: 1 s by default) from the first that differs
/// to the last. When the segments do
/// not fit in the memory budget, that whole differing part is the one range.
fn shifted_ranges(
    a: &[u8],
    b: &[u8],
    budget: Option<&Arc<Budget>>,
) -> Vec<(Range<usize>, Range<usize>)> {
    let (ra, rb, _) = differing_lines(a, b, false);
    let segments = count_lines(&a[ra.clone()], false) + count_lines(&b[rb.clone()], false);
    let held = budget.map(|budget| budget.hold(segments.saturating_mul(SEGMENT_COST)));
    if matches!(held, Some(None)) {
        return vec![(ra, rb)];
    }
    let deadline = budget.map_or_else(
        || Instant::now() + Duration::from_secs(1),
        |b| b.step_deadline(10),
    );
    let (la, lb) = (
        split_lines(&a[ra.clone()], false),
        split_lines(&b[rb.clone()], false),
    );
    let ops = align::diff(&la, &lb, deadline).ops;
    let starts = |lines: &[&[u8]], base: usize| {
        let mut acc = base;
        let mut v: Vec<usize> = lines
            .iter()
            .map(|l| {
                let s = acc;
                acc += l.len();
                s
            })
            .collect();
        v.push(acc);
        v
    };
    let (sa, sb) = (starts(&la, ra.start), starts(&lb, rb.start));
    ops.iter()
        .filter(|op| !matches!(op, DiffOp::Equal { .. }))
        .take(MAX_RANGES)
        .map(|op| {
            let (ra, rb) = (op.old_range(), op.new_range());
            (sa[ra.start]..sa[ra.end], sb[rb.start]..sb[rb.end])
        })
        .collect()
}

/// A hex and ASCII view of `data` around `r`, 16 bytes a line, offsets in hex.
pub(crate) fn hex_view(data: &[u8], r: &Range<usize>) -> String {
    hex_view_at(data, r, 0)
}

/// [`hex_view`] of a window of a larger whole that starts at offset `base`: the offsets
/// shown are the whole's.
pub(crate) fn hex_view_at(data: &[u8], r: &Range<usize>, base: u64) -> String {
    let skew = (base % 16) as usize;
    let start = ((r.start + skew).saturating_sub(CONTEXT) / 16 * 16).saturating_sub(skew);
    let end = (r.start + r.len().min(MAX_SHOWN) + CONTEXT).min(data.len());
    let mut out = String::new();
    let mut line = start;
    while line < end {
        let chunk = &data[line..(line + 16).min(data.len())];
        out.push_str(&format!("{:08x}  ", base + line as u64));
        for i in 0..16 {
            match chunk.get(i) {
                Some(byte) => out.push_str(&format!("{byte:02x} ")),
                None => out.push_str("   "),
            }
        }
        out.push('|');
        out.extend(chunk.iter().map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
        line += 16;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_view_shows_offsets_bytes_and_ascii() {
        let data = b"hello, world! 0123456789";
        let v = hex_view(data, &(20..21));
        assert!(v.starts_with("00000000  68 65 6c 6c 6f"), "{v}");
        assert!(v.contains("|hello, world! 01|"), "{v}");
        assert!(v.contains("00000010  "), "{v}");
    }

    #[test]
    fn ranges_of_shifted_blobs_point_at_the_change() {
        let a = b"aaaa\0/tmp/x\0tail\0";
        let b = b"aaaa\0/tmp/xyz\0tail\0";
        let r = byte_ranges(a, b, None);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].offset_a, r[0].len_a, r[0].len_b), (5, 7, 9));
    }
}
