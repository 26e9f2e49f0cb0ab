//! Lines and ranges of two contents: content cut into lines (binary content at NULs and
//! in bounded runs too), the part of large content that differs, the hunks of a line
//! diff and the lines that only moved, the differing byte ranges of two slices, and
//! whether two lines hold the same words in another order. Used by the classifier's
//! passes and by the binary and streamed comparisons.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::time::{Duration, Instant};

use similar::{capture_diff_slices_deadline, Algorithm, DiffOp};

use super::tokens::{trim_sep, words};

/// Longest line or blob compared byte by byte; longer spans are reported whole.
pub(super) const MAX_SPAN_DIFF: usize = 16 * 1024;

/// Binary "lines" are cut at this length so that one diff step stays cheap.
const MAX_LINE: usize = 4096;

/// Content larger than this (both sides) is split into lines only where it differs:
/// the common first and last lines are left out.
const TRIM_ABOVE: usize = 1 << 20;

/// Splits into lines that keep their terminator; binary splits at `\n` and NUL too, and
/// cuts long runs.
pub(crate) fn split_lines(data: &[u8], text: bool) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &c) in data.iter().enumerate() {
        let end_here = c == b'\n' || (!text && c == 0) || (!text && i + 1 - start >= MAX_LINE);
        if end_here {
            out.push(&data[start..=i]);
            start = i + 1;
        }
    }
    if start < data.len() {
        out.push(&data[start..]);
    }
    out
}

/// Where a slice of `data` (borrowed from it) starts.
pub(super) fn offset_in(data: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(data.as_ptr() as usize)
}

/// The contiguous span of `data` covering the given lines (which are in order).
pub(super) fn join<'a>(lines: &[&'a [u8]], idx: &[usize], data: &'a [u8]) -> &'a [u8] {
    match (idx.first(), idx.last()) {
        (Some(&f), Some(&l)) => {
            let start = offset_in(data, lines[f]);
            let end = offset_in(data, lines[l]) + lines[l].len();
            &data[start..end]
        }
        _ => &[],
    }
}

pub(super) fn is_reordering(la: &[&[u8]], lb: &[&[u8]]) -> bool {
    if la.len() != lb.len() || la.len() < 2 {
        return false;
    }
    let mut sa: Vec<&[u8]> = la.iter().map(|l| trim_sep(l)).collect();
    let mut sb: Vec<&[u8]> = lb.iter().map(|l| trim_sep(l)).collect();
    sa.sort_unstable();
    sb.sort_unstable();
    sa == sb
}

/// Whether two different lines hold the same words, in another order, with the same
/// separators: the same multiset of words, the same multiset of bytes, at least two words.
pub(crate) fn same_words_reordered(a: &[u8], b: &[u8]) -> bool {
    if a == b || a.len() != b.len() || a.len() > MAX_SPAN_DIFF {
        return false;
    }
    let mut bytes = [0i32; 256];
    for (&x, &y) in a.iter().zip(b) {
        bytes[usize::from(x)] += 1;
        bytes[usize::from(y)] -= 1;
    }
    if bytes.iter().any(|&n| n != 0) {
        return false;
    }
    let (mut wa, mut wb) = (words(a), words(b));
    if wa.len() < 2 || wa == wb {
        return false;
    }
    wa.sort_unstable();
    wb.sort_unstable();
    wa == wb
}

/// The segment (between newlines or NULs) around a differing range of two equal-length
/// blobs, the same bounds on both sides.
pub(super) fn segment_around(a: &[u8], b: &[u8], r: &Range<usize>) -> Range<usize> {
    let is_end = |c: u8| c == b'\n' || c == 0;
    let lo = r.start.saturating_sub(MAX_LINE);
    let start = (lo..r.start)
        .rev()
        .find(|&i| is_end(a[i]) || is_end(b[i]))
        .map_or(lo, |i| i + 1);
    let hi = (r.end + MAX_LINE).min(a.len());
    let end = (r.end..hi)
        .find(|&i| is_end(a[i]) || is_end(b[i]))
        .unwrap_or(hi);
    start..end
}

/// Groups consecutive non-equal operations into (old lines, new lines) hunks.
pub(super) fn hunks(ops: &[DiffOp]) -> Vec<(Range<usize>, Range<usize>)> {
    let mut out: Vec<(Range<usize>, Range<usize>)> = Vec::new();
    let mut open = false;
    for op in ops {
        if let DiffOp::Equal { .. } = op {
            open = false;
            continue;
        }
        let (ra, rb) = (op.old_range(), op.new_range());
        match out.last_mut() {
            Some(last) if open => {
                last.0.end = last.0.end.max(ra.end);
                last.1.end = last.1.end.max(rb.end);
            }
            _ => out.push((ra, rb)),
        }
        open = true;
    }
    out
}

/// Lines deleted in one place and inserted in another (same text, both sides). Linear:
/// deleted lines are counted once, and each hunk's own deleted lines are looked up in a
/// set, so that a line replaced in place is not taken for a move.
pub(super) fn moved_lines<'a>(
    hunks: &[(Range<usize>, Range<usize>)],
    la: &[&'a [u8]],
    lb: &[&'a [u8]],
) -> HashSet<&'a [u8]> {
    let mut deleted: HashMap<&[u8], usize> = HashMap::new();
    for (ra, _) in hunks {
        for i in ra.clone() {
            *deleted.entry(la[i]).or_default() += 1;
        }
    }
    let mut moved = HashSet::new();
    for (ra, rb) in hunks {
        let here: HashSet<&[u8]> = la[ra.clone()].iter().copied().collect();
        for &line in &lb[rb.clone()] {
            // A line replaced in place is not a move.
            if !here.contains(line)
                && deleted.get(line).is_some_and(|&n| n > 0)
                && !trim_sep(line).is_empty()
            {
                moved.insert(line);
            }
        }
    }
    moved
}

/// The differing byte spans of two lines, merging spans separated by under 4 bytes.
pub(super) fn differing_spans(
    a: &[u8],
    b: &[u8],
    deadline: Instant,
) -> Vec<(Range<usize>, Range<usize>)> {
    let deadline = deadline.min(Instant::now() + Duration::from_millis(200));
    let ops = capture_diff_slices_deadline(Algorithm::Myers, a, b, Some(deadline));
    let mut out: Vec<(Range<usize>, Range<usize>)> = Vec::new();
    for op in ops {
        if let DiffOp::Equal { .. } = op {
            continue;
        }
        let (ra, rb) = (op.old_range(), op.new_range());
        match out.last_mut() {
            Some(last)
                if ra.start.saturating_sub(last.0.end) < 4
                    && rb.start.saturating_sub(last.1.end) < 4 =>
            {
                last.0.end = last.0.end.max(ra.end);
                last.1.end = last.1.end.max(rb.end);
            }
            _ => out.push((ra, rb)),
        }
    }
    out
}

/// Differing byte ranges of two slices, merging gaps under `gap` bytes, in order and
/// found as they are asked for (equal stretches are skipped block by block); when the
/// lengths differ, what one side has beyond the other is the last range.
pub(crate) fn aligned_ranges<'d>(a: &'d [u8], b: &'d [u8], gap: usize) -> AlignedRanges<'d> {
    AlignedRanges {
        a,
        b,
        at: 0,
        next: None,
        tail_done: false,
        gap,
    }
}

/// The iterator of [`aligned_ranges`].
pub(crate) struct AlignedRanges<'d> {
    a: &'d [u8],
    b: &'d [u8],
    /// Where to look for the next difference.
    at: usize,
    /// A difference already found beyond the range last returned.
    next: Option<usize>,
    tail_done: bool,
    gap: usize,
}

impl AlignedRanges<'_> {
    /// The first differing offset at or after `from` in the common length.
    fn diff_at(&self, mut from: usize) -> Option<usize> {
        const BLOCK: usize = 256;
        let n = self.a.len().min(self.b.len());
        while from < n {
            let end = (from + BLOCK).min(n);
            let (x, y) = (&self.a[from..end], &self.b[from..end]);
            if x == y {
                from = end;
                continue;
            }
            return x.iter().zip(y).position(|(p, q)| p != q).map(|k| from + k);
        }
        None
    }
}

impl Iterator for AlignedRanges<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let start = match self.next.take() {
            Some(i) => Some(i),
            None => self.diff_at(self.at),
        };
        let Some(start) = start else {
            let (la, lb) = (self.a.len(), self.b.len());
            if la == lb || self.tail_done {
                return None;
            }
            self.tail_done = true;
            return Some(la.min(lb)..la.max(lb));
        };
        let mut end = start + 1;
        loop {
            match self.diff_at(end) {
                Some(i) if i - end < self.gap => end = i + 1,
                found => {
                    self.next = found;
                    break;
                }
            }
        }
        self.at = end;
        Some(start..end)
    }
}

/// The part of `a` and `b` that is split into lines, and the lines before it. Small
/// content is split whole; large content only from the first line that differs to the
/// last, cut where lines start and end (as [`split_lines`] cuts them), so that the lines
/// split are the content's own.
pub(crate) fn differing_lines(
    a: &[u8],
    b: &[u8],
    text: bool,
) -> (Range<usize>, Range<usize>, usize) {
    if a.len() + b.len() <= TRIM_ABOVE {
        return (0..a.len(), 0..b.len(), 0);
    }
    let common = aligned_ranges(a, b, 1)
        .next()
        .map_or(a.len().min(b.len()), |r| r.start);
    let start = line_start(a, common, text);
    let room = a.len().min(b.len()) - start;
    let same_end = common_suffix(&a[a.len() - room..], &b[b.len() - room..]);
    // Cut after the first line end in the common last part: the lines after it are the
    // same on both sides, and cut the same way.
    let tail = &a[a.len() - same_end..];
    let is_end = |c: &u8| *c == b'\n' || (!text && *c == 0);
    let cut = tail.iter().position(is_end).map_or(0, |p| same_end - p - 1);
    let lines_before = if text {
        memchr::memchr_iter(b'\n', &a[..start]).count()
    } else {
        0
    };
    (start..a.len() - cut, start..b.len() - cut, lines_before)
}

/// How many last bytes two slices of one length have in common (block by block).
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 256;
    let mut n = 0;
    while n < a.len() {
        let take = BLOCK.min(a.len() - n);
        let (x, y) = (
            &a[a.len() - n - take..a.len() - n],
            &b[b.len() - n - take..b.len() - n],
        );
        if x == y {
            n += take;
            continue;
        }
        return n + x
            .iter()
            .rev()
            .zip(y.iter().rev())
            .take_while(|(p, q)| p == q)
            .count();
    }
    n
}

/// Where the line (as [`split_lines`] cuts lines) holding offset `pos` starts.
fn line_start(data: &[u8], pos: usize, text: bool) -> usize {
    let before = &data[..pos];
    let end = if text {
        memchr::memrchr(b'\n', before)
    } else {
        memchr::memrchr2(b'\n', 0, before)
    };
    let start = end.map_or(0, |e| e + 1);
    if text {
        start
    } else {
        start + (pos - start) / MAX_LINE * MAX_LINE
    }
}

/// How many lines [`split_lines`] gives for `data` (an upper bound for binary content).
pub(crate) fn count_lines(data: &[u8], text: bool) -> u64 {
    let ends = if text {
        memchr::memchr_iter(b'\n', data).count()
    } else {
        memchr::memchr2_iter(b'\n', 0, data).count() + data.len() / MAX_LINE
    };
    ends as u64 + 1
}
