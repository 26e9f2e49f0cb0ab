//! Line alignment: content is cut into lines (only where it differs, when it is large),
//! lines that only moved are `ordering`, and each differing hunk is explained line pair
//! by line pair, or as one blob, by the span rules of `spans.rs`; equal-length binary
//! content is compared byte for byte in windows instead. Budgets bound every step:
//! content with too many lines to align is explained as one span, and the time left is
//! checked between hunks.

use std::ops::Range;
use std::time::{Duration, Instant};

use super::classifier::{Run, Seen};
use super::lines::{
    aligned_ranges, count_lines, differing_lines, hunks, is_reordering, join, moved_lines,
    offset_in, same_words_reordered, segment_around, split_lines, MAX_SPAN_DIFF,
};
use super::spans::Loc;
use crate::diff::align;
use crate::diff::items::Reason;
use crate::diff::timestamps;

/// Bytes of memory taken per line split: the slice, its hash, and the alignment's maps.
const LINE_COST: u64 = 64;

/// The share of an item's time its lines may take to align before a coarser alignment
/// is taken (a fifth: 2 s by default).
const ALIGN_SHARE: u32 = 5;

/// Said on a known value's reason when strings holding it also came out in another
/// order: one consequence of the value's other length, not a reordering of its own.
pub const REORDERED_NOTE: &str =
    "strings holding it are in another order too: the table is laid out anew for its other length";

impl Run<'_> {
    /// Explains why `a` and `b` differ: known values first, then what they leave.
    pub(super) fn classify(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
        let (na, nb, mut reasons) = self.normalize(a, b);
        if na != nb {
            let known = reasons.len();
            reasons.extend(self.classify_normalized(&na, &nb));
            if self.reordered_by_value.get() {
                for r in reasons.iter_mut().take(known) {
                    r.note.get_or_insert_with(|| REORDERED_NOTE.to_string());
                }
            }
        }
        reasons
    }

    fn classify_normalized(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
        let text = self.c.text;
        if !text && a.len() == b.len() {
            return self.classify_aligned(a, b);
        }
        let (ra, rb, line_base) = differing_lines(a, b, text);
        let lines = count_lines(&a[ra.clone()], text) + count_lines(&b[rb.clone()], text);
        let Some(_held) = self.hold(
            lines.saturating_mul(LINE_COST),
            &format!(
                "{lines} lines are too many to align: the differing part is explained as one span"
            ),
        ) else {
            return self.one_span(a, b, ra, rb, line_base);
        };
        self.line_base.set(line_base);
        let la = split_lines(&a[ra], text);
        let lb = split_lines(&b[rb], text);
        if is_reordering(&la, &lb) {
            if self.lines_reordered_by_known_value(&la, &lb) {
                return Vec::new();
            }
            return vec![self.ordering_reason(&la, &lb)];
        }
        let deadline = self.c.budget.map_or_else(
            || Instant::now() + Duration::from_secs(2),
            |b| b.step_deadline(ALIGN_SHARE).min(self.deadline),
        );
        let ops = align::diff(&la, &lb, deadline).ops;
        let hunks = hunks(&ops);
        let mut reasons = Vec::new();
        let moved = moved_lines(&hunks, &la, &lb);
        let moved_lines: Vec<&[u8]> = moved.iter().copied().collect();
        if !moved.is_empty() && !self.lines_reordered_by_known_value(&moved_lines, &[]) {
            reasons.push(self.ordering_reason(&la, &lb));
        }
        let mut seen = Seen::new(self.c.limit * 2);
        for (n, (ra, rb)) in hunks.iter().enumerate() {
            if self.out_of_time() {
                self.note_time(&format!(
                    "{n} of {} differing regions explained",
                    hunks.len()
                ));
                break;
            }
            let old: Vec<usize> = ra.clone().filter(|&i| !moved.contains(la[i])).collect();
            let new: Vec<usize> = rb.clone().filter(|&i| !moved.contains(lb[i])).collect();
            reasons.extend(self.classify_hunk(a, b, (&la, &lb), (&old, &new), &mut seen));
            if seen.full() {
                break;
            }
        }
        reasons
    }

    /// The differing part of content with too many lines to align, explained as one span
    /// (from the first differing line to the last).
    fn one_span(
        &self,
        a: &[u8],
        b: &[u8],
        ra: Range<usize>,
        rb: Range<usize>,
        line_base: usize,
    ) -> Vec<Reason> {
        let loc = Loc {
            off_a: ra.start,
            off_b: rb.start,
            line_a: line_base,
            line_b: line_base,
        };
        self.classify_pair(&a[ra], &b[rb], loc)
    }

    /// Equal-length binaries: compare byte for byte, explain each range in a window.
    fn classify_aligned(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
        const WINDOW: usize = 64;
        let c = self.c;
        let mut out = Vec::new();
        let mut seen_segments: Vec<usize> = Vec::new();
        for (n, r) in aligned_ranges(a, b, 4).enumerate() {
            if self.out_of_time() {
                self.note_time(&format!("{n} differing ranges explained, not the rest"));
                break;
            }
            // A range this long is explained from its start: no value is that long.
            let r = r.start..r.end.min(r.start + MAX_SPAN_DIFF);
            let lo = r.start.saturating_sub(WINDOW);
            let hi = (r.end + WINDOW).min(a.len());
            let (wa, wb) = (&a[lo..hi], &b[lo..hi]);
            let local = r.start - lo..r.end - lo;
            let seg = segment_around(a, b, &r);
            if same_words_reordered(&a[seg.clone()], &b[seg.clone()]) {
                let by_value = self.reordered_by_known_value(&a[seg.clone()], &b[seg.clone()]);
                if !by_value && seen_segments.last() != Some(&seg.start) {
                    let mut reason = self.word_order_reason(&a[seg.clone()], &b[seg.clone()]);
                    reason.offset = Some(self.offset(0, seg.start));
                    reason.offset_b = Some(self.offset(1, seg.start));
                    out.push(reason);
                    seen_segments.push(seg.start);
                }
                continue;
            }
            let (ta, tb) = (timestamps::find_times(wa), timestamps::find_times(wb));
            for found in self.explain_span(wa, &local, wb, &local, &ta, &tb) {
                let mut reason = found.reason;
                reason.offset = Some(self.offset(0, lo + found.at_a));
                reason.offset_b = Some(self.offset(1, lo + found.at_b));
                out.push(reason);
            }
            if out.len() > c.limit * 2 {
                break;
            }
        }
        out
    }

    /// Explains one hunk: its lines pair by pair when both sides have as many, else as
    /// one blob. Stops once `seen` is full, or when the time is up.
    fn classify_hunk(
        &self,
        a: &[u8],
        b: &[u8],
        (la, lb): (&[&[u8]], &[&[u8]]),
        (old, new): (&[usize], &[usize]),
        seen: &mut Seen,
    ) -> Vec<Reason> {
        if old.is_empty() && new.is_empty() {
            return Vec::new();
        }
        let base = self.line_base.get();
        if old.len() == new.len() {
            let mut out = Vec::new();
            for (n, (&i, &j)) in old.iter().zip(new).enumerate() {
                if seen.full() {
                    break;
                }
                if self.out_of_time() {
                    self.note_time(&format!("{n} of {} differing lines explained", old.len()));
                    break;
                }
                let loc = Loc {
                    off_a: offset_in(a, la[i]),
                    off_b: offset_in(b, lb[j]),
                    line_a: base + i,
                    line_b: base + j,
                };
                let found = self.classify_pair(la[i], lb[j], loc);
                seen.add(&found);
                out.extend(found);
            }
            return out;
        }
        let blob_a = join(la, old, a);
        let blob_b = join(lb, new, b);
        let loc = Loc {
            off_a: offset_in(a, blob_a),
            off_b: offset_in(b, blob_b),
            line_a: base + old.first().copied().unwrap_or(0),
            line_b: base + new.first().copied().unwrap_or(0),
        };
        let found = self.classify_pair(blob_a, blob_b, loc);
        seen.add(&found);
        found
    }
}
