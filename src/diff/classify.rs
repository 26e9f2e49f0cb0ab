//! The classifier: names the reason of each difference (DESIGN.md section 6).
//!
//! Formats find what differs; this module explains it. Content is explained in three
//! passes: known values (build paths, host names, users, zones, locales given by `check`
//! or `--known`) are replaced by placeholders on both sides; lines that only moved are
//! `ordering`; each remaining differing span is a `timestamp` if it lies inside a date on
//! both sides, a `build_path` if both sides are absolute paths, else `random`.

use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use similar::{capture_diff_slices_deadline, Algorithm, DiffOp};

use super::timestamps::{self, TimeMatch};
use super::{escape_short, KnownValues, Reason, ReasonKind};

/// Longest line or blob compared byte by byte; longer spans are reported whole.
const MAX_SPAN_DIFF: usize = 16 * 1024;
/// Binary "lines" are cut at this length so that one diff step stays cheap.
const MAX_LINE: usize = 4096;
/// Most characters of a value shown in a reason.
const SHOW: usize = 120;
/// Marks a placeholder for a known value in normalised content.
const MARK: [u8; 2] = [0x01, 0x02];

/// What is being classified and how to report it.
pub struct Classifier<'a> {
    /// The item's path, copied into each reason.
    pub path: &'a str,
    /// Values known to differ.
    pub known: &'a KnownValues,
    /// Whether the content is text (lines, line numbers) or binary.
    pub text: bool,
    /// Added to offsets in a (e.g. the file offset of an ELF section).
    pub base_offset: u64,
    /// Added to offsets in b.
    pub base_offset_b: u64,
    /// Copied into each reason's `context`.
    pub context: Option<String>,
    /// Most reasons kept.
    pub limit: usize,
}

/// One value pair known to differ, from [`KnownValues`].
struct KnownPair {
    kind: ReasonKind,
    variation: &'static str,
    a: Vec<u8>,
    b: Vec<u8>,
}

fn known_pairs(known: &KnownValues) -> Vec<KnownPair> {
    let fields = [
        (&known.build_path, ReasonKind::BuildPath, "build_path"),
        (&known.hostname, ReasonKind::Hostname, "hostname"),
        (&known.user, ReasonKind::User, "user"),
        (&known.timezone, ReasonKind::Timezone, "timezone"),
        (&known.locale, ReasonKind::Locale, "locale"),
    ];
    let mut pairs: Vec<KnownPair> = fields
        .into_iter()
        .filter_map(|(value, kind, variation)| {
            let (a, b) = value.as_ref()?;
            (a != b && a.len() >= 2 && b.len() >= 2).then(|| KnownPair {
                kind,
                variation,
                a: a.as_bytes().to_vec(),
                b: b.as_bytes().to_vec(),
            })
        })
        .collect();
    // Longest first: a build path may contain the user name.
    pairs.sort_by_key(|p| std::cmp::Reverse(p.a.len().max(p.b.len())));
    pairs
}

/// Where a line pair starts on each side: byte offsets and 0-based line indexes.
#[derive(Debug, Clone, Copy)]
struct Loc {
    off_a: usize,
    off_b: usize,
    line_a: usize,
    line_b: usize,
}

impl Classifier<'_> {
    /// Explains why `a` and `b` differ. Returns at most `limit` reasons, deduplicated.
    ///
    /// The result does not depend on which side is called a: the work is done in one
    /// canonical orientation and mirrored back, so `classify(b, a)` gives the same
    /// reasons with the sides swapped.
    pub fn classify(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
        if a <= b {
            return self.classify_oriented(a, b);
        }
        let known = self.known.swapped();
        let swapped = Classifier {
            path: self.path,
            known: &known,
            text: self.text,
            base_offset: self.base_offset_b,
            base_offset_b: self.base_offset,
            context: self.context.clone(),
            limit: self.limit,
        };
        let mut reasons = swapped.classify_oriented(b, a);
        for r in &mut reasons {
            r.mirror();
        }
        reasons
    }

    fn classify_oriented(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
        let (na, nb, mut reasons) = self.normalize(a, b);
        if na != nb {
            reasons.extend(self.classify_normalized(&na, &nb));
        }
        dedupe(&mut reasons);
        reasons.truncate(self.limit);
        reasons
    }

    fn reason(&self, kind: ReasonKind, a: String, b: String) -> Reason {
        Reason {
            kind,
            path: self.path.to_string(),
            offset: None,
            offset_b: None,
            line: None,
            line_b: None,
            a,
            b,
            variation: default_variation(kind).map(str::to_string),
            remedy: remedy(kind).map(str::to_string),
            context: self.context.clone(),
        }
    }

    /// Replaces differential occurrences of known values by shared placeholders.
    fn normalize(&self, a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<Reason>) {
        let (mut na, mut nb) = (a.to_vec(), b.to_vec());
        let mut reasons = Vec::new();
        for (i, pair) in known_pairs(self.known).iter().enumerate() {
            let differential = count(&na, &pair.a) != count(&nb, &pair.a)
                || count(&nb, &pair.b) != count(&na, &pair.b);
            let first = memchr::memmem::find(&na, &pair.a);
            if !differential || (first.is_none() && count(&nb, &pair.b) == 0) {
                continue;
            }
            let holder = placeholder(i, pair.a.len());
            na = replace_all(&na, &pair.a, &holder);
            nb = replace_all(&nb, &pair.b, &holder);
            let mut r = self.reason(
                pair.kind,
                String::from_utf8_lossy(&pair.a).into(),
                String::from_utf8_lossy(&pair.b).into(),
            );
            r.variation = Some(pair.variation.to_string());
            let first_b = memchr::memmem::find(b, &pair.b);
            r.offset = first.map(|o| self.base_offset + o as u64);
            r.line = first.filter(|_| self.text).map(|o| line_of(a, o));
            r.offset_b = first_b.map(|o| self.base_offset_b + o as u64);
            r.line_b = first_b.filter(|_| self.text).map(|o| line_of(b, o));
            reasons.push(r);
        }
        (na, nb, reasons)
    }

    fn classify_normalized(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
        if !self.text && a.len() == b.len() {
            return self.classify_aligned(a, b);
        }
        let la = split_lines(a, self.text);
        let lb = split_lines(b, self.text);
        if is_reordering(&la, &lb) {
            return vec![self.ordering_reason(&la, &lb)];
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let ops = capture_diff_slices_deadline(Algorithm::Myers, &la, &lb, Some(deadline));
        let hunks = hunks(&ops);
        let mut reasons = Vec::new();
        let moved = moved_lines(&hunks, &la, &lb);
        if !moved.is_empty() {
            reasons.push(self.ordering_reason(&la, &lb));
        }
        for (ra, rb) in hunks {
            let old: Vec<usize> = ra.filter(|&i| !moved.contains(la[i])).collect();
            let new: Vec<usize> = rb.filter(|&i| !moved.contains(lb[i])).collect();
            reasons.extend(self.classify_hunk(a, b, &la, &lb, &old, &new));
            if reasons.len() > self.limit * 2 {
                break;
            }
        }
        reasons
    }

    /// Equal-length binaries: compare byte for byte, explain each range in a window.
    fn classify_aligned(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
        const WINDOW: usize = 64;
        let mut out = Vec::new();
        let mut seen_segments: Vec<usize> = Vec::new();
        for r in aligned_ranges(a, b, 4) {
            let lo = r.start.saturating_sub(WINDOW);
            let hi = (r.end + WINDOW).min(a.len());
            let (wa, wb) = (&a[lo..hi], &b[lo..hi]);
            let local = r.start - lo..r.end - lo;
            let seg = segment_around(a, b, &r);
            if same_words_reordered(&a[seg.clone()], &b[seg.clone()]) {
                if seen_segments.last() != Some(&seg.start) {
                    let mut reason = self.word_order_reason(&a[seg.clone()], &b[seg.clone()]);
                    reason.offset = Some(self.base_offset + seg.start as u64);
                    reason.offset_b = Some(self.base_offset_b + seg.start as u64);
                    out.push(reason);
                    seen_segments.push(seg.start);
                }
                continue;
            }
            let (ta, tb) = (timestamps::find_times(wa), timestamps::find_times(wb));
            if let Some(mut reason) = self.explain_span(wa, &local, wb, &local, &ta, &tb) {
                reason.offset = Some(self.base_offset + r.start as u64);
                reason.offset_b = Some(self.base_offset_b + r.start as u64);
                out.push(reason);
            }
            if out.len() > self.limit * 2 {
                break;
            }
        }
        out
    }

    /// `ordering` for one line (or binary segment) holding the same words in another
    /// order, as a hash set or a directory listing printed on one line gives. The evidence
    /// is both lines, and the context says that the words moved.
    fn word_order_reason(&self, la: &[u8], lb: &[u8]) -> Reason {
        let mut r = self.reason(
            ReasonKind::Ordering,
            escape_short(trim_sep(la), SHOW),
            escape_short(trim_sep(lb), SHOW),
        );
        // The context names the difference, not this pair's particular order: `check`
        // matches reasons across re-runs by path, kind and context.
        let what = format!("same {} words in another order", words(la).len());
        r.context = Some(match &self.context {
            Some(c) => format!("{c}: {what}"),
            None => what,
        });
        // A hash seed, a directory listing and parallel output all reorder words: the
        // kind is certain, the variation is not (check finds it by bisection).
        r.variation = None;
        r
    }

    fn ordering_reason(&self, la: &[&[u8]], lb: &[&[u8]]) -> Reason {
        let first = la.iter().zip(lb).position(|(x, y)| x != y).unwrap_or(0);
        let show = |lines: &[&[u8]]| {
            lines
                .get(first)
                .map(|l| escape_short(trim_sep(l), SHOW))
                .unwrap_or_default()
        };
        let mut r = self.reason(ReasonKind::Ordering, show(la), show(lb));
        r.line = self.text.then_some(first as u64 + 1);
        r.line_b = r.line;
        r
    }

    fn classify_hunk(
        &self,
        a: &[u8],
        b: &[u8],
        la: &[&[u8]],
        lb: &[&[u8]],
        old: &[usize],
        new: &[usize],
    ) -> Vec<Reason> {
        if old.is_empty() && new.is_empty() {
            return Vec::new();
        }
        if old.len() == new.len() {
            let mut out = Vec::new();
            for (&i, &j) in old.iter().zip(new) {
                let loc = Loc {
                    off_a: offset_in(a, la[i]),
                    off_b: offset_in(b, lb[j]),
                    line_a: i,
                    line_b: j,
                };
                out.extend(self.classify_pair(la[i], lb[j], loc));
            }
            return out;
        }
        let blob_a = join(la, old, a);
        let blob_b = join(lb, new, b);
        let loc = Loc {
            off_a: offset_in(a, blob_a),
            off_b: offset_in(b, blob_b),
            line_a: old.first().copied().unwrap_or(0),
            line_b: new.first().copied().unwrap_or(0),
        };
        self.classify_pair(blob_a, blob_b, loc)
    }

    /// Classifies one differing line (or blob) pair, located by `loc`.
    fn classify_pair(&self, la: &[u8], lb: &[u8], loc: Loc) -> Vec<Reason> {
        if same_words_reordered(la, lb) {
            let mut r = self.word_order_reason(la, lb);
            r.offset = Some(self.base_offset + loc.off_a as u64);
            r.offset_b = Some(self.base_offset_b + loc.off_b as u64);
            r.line = self.text.then_some(loc.line_a as u64 + 1);
            r.line_b = self.text.then_some(loc.line_b as u64 + 1);
            return vec![r];
        }
        let spans = if la.len().max(lb.len()) > MAX_SPAN_DIFF {
            vec![(0..la.len(), 0..lb.len())]
        } else {
            differing_spans(la, lb)
        };
        let (ta, tb) = (timestamps::find_times(la), timestamps::find_times(lb));
        spans
            .into_iter()
            .filter_map(|(ra, rb)| {
                let mut r = self.explain_span(la, &ra, lb, &rb, &ta, &tb)?;
                r.offset = Some(self.base_offset + (loc.off_a + ra.start) as u64);
                r.offset_b = Some(self.base_offset_b + (loc.off_b + rb.start) as u64);
                r.line = self.text.then_some(loc.line_a as u64 + 1);
                r.line_b = self.text.then_some(loc.line_b as u64 + 1);
                Some(r)
            })
            .collect()
    }

    fn explain_span(
        &self,
        la: &[u8],
        ra: &Range<usize>,
        lb: &[u8],
        rb: &Range<usize>,
        ta: &[TimeMatch],
        tb: &[TimeMatch],
    ) -> Option<Reason> {
        if touches_placeholder(la, ra) || touches_placeholder(lb, rb) {
            return None;
        }
        if let (Some(ma), Some(mb)) = (containing(ta, ra), containing(tb, rb)) {
            return Some(self.timestamp_reason(la, ma, lb, mb));
        }
        let wa = widen(la, ra);
        let wb = widen(lb, rb);
        let (tok_a, tok_b) = (trim_sep(&la[wa.clone()]), trim_sep(&lb[wb.clone()]));
        if looks_like_path(tok_a) && looks_like_path(tok_b) {
            let mut r = self.reason(
                ReasonKind::BuildPath,
                escape_short(tok_a, SHOW),
                escape_short(tok_b, SHOW),
            );
            r.remedy = remedy(ReasonKind::BuildPath).map(str::to_string);
            return Some(r);
        }
        if !self.text {
            if let Some(r) = self.binary_epoch(la, ra, lb, rb) {
                return Some(r);
            }
        }
        Some(self.reason(
            ReasonKind::Random,
            escape_short(tok_a, SHOW),
            escape_short(tok_b, SHOW),
        ))
    }

    fn timestamp_reason(&self, la: &[u8], ma: &TimeMatch, lb: &[u8], mb: &TimeMatch) -> Reason {
        let mut r = self.reason(
            ReasonKind::Timestamp,
            escape_short(&la[ma.range.clone()], SHOW),
            escape_short(&lb[mb.range.clone()], SHOW),
        );
        r.variation = clock_variation(self.known, ma.unix, mb.unix);
        r
    }

    /// A raw little- or big-endian 32/64-bit epoch value covering the span. Only with
    /// known clock windows: most 4-byte values read as some time in 2000–2100.
    fn binary_epoch(
        &self,
        la: &[u8],
        ra: &Range<usize>,
        lb: &[u8],
        rb: &Range<usize>,
    ) -> Option<Reason> {
        let (wa, wb) = self.known.clock?;
        let in_windows = |t: i64| wa.contains(t, 60) || wb.contains(t, 60);
        if ra != rb || ra.is_empty() || ra.len() > 8 {
            return None;
        }
        for width in [4usize, 8] {
            let lo = ra.end.saturating_sub(width);
            for start in lo..=ra.start {
                let (Some(xa), Some(xb)) =
                    (la.get(start..start + width), lb.get(start..start + width))
                else {
                    continue;
                };
                for (va, vb) in [(le(xa), le(xb)), (be(xa), be(xb))] {
                    if in_windows(va) && in_windows(vb) {
                        let mut r = self.reason(
                            ReasonKind::Timestamp,
                            timestamps::format_unix(va),
                            timestamps::format_unix(vb),
                        );
                        r.variation = clock_variation(self.known, Some(va), Some(vb));
                        return Some(r);
                    }
                }
            }
        }
        None
    }
}

/// The variation a timestamp pair comes from: `clock` unless clock windows are known and
/// neither time lies in them.
fn clock_variation(known: &KnownValues, a: Option<i64>, b: Option<i64>) -> Option<String> {
    let Some((wa, wb)) = known.clock else {
        return Some("clock".into());
    };
    // A date without a zone may be local time: allow a day of slack.
    const SLACK: i64 = 26 * 3600;
    let inside = |t: Option<i64>| t.is_some_and(|t| wa.contains(t, SLACK) || wb.contains(t, SLACK));
    (inside(a) || inside(b) || (a.is_none() && b.is_none())).then(|| "clock".into())
}

/// The variation of DESIGN.md section 5 that usually causes a reason.
pub fn default_variation(kind: ReasonKind) -> Option<&'static str> {
    Some(match kind {
        ReasonKind::Timestamp => "clock",
        ReasonKind::BuildPath => "build_path",
        ReasonKind::Hostname => "hostname",
        ReasonKind::User => "user",
        ReasonKind::Umask => "umask",
        ReasonKind::Locale => "locale",
        ReasonKind::Timezone => "timezone",
        ReasonKind::Ordering => "fileorder",
        ReasonKind::Cpus => "cpus",
        ReasonKind::Env => "env",
        ReasonKind::Random | ReasonKind::ArchiveMetadata => return None,
    })
}

/// A generic remedy for a reason kind; formats give more precise ones for archives.
pub fn remedy(kind: ReasonKind) -> Option<&'static str> {
    Some(match kind {
        ReasonKind::Timestamp => {
            "use SOURCE_DATE_EPOCH instead of the current time (gcc honours it for __DATE__/__TIME__; -Werror=date-time finds them)"
        }
        ReasonKind::BuildPath => {
            "map the build directory away: -ffile-prefix-map=$PWD=. (C/C++), --remap-path-prefix (Rust)"
        }
        ReasonKind::Hostname => "do not embed the host name",
        ReasonKind::User => "do not embed the user name or id (tar: --owner=0 --group=0 --numeric-owner)",
        ReasonKind::Umask => "set file modes explicitly (install -m, chmod) instead of inheriting the umask",
        ReasonKind::Locale => "run the step with LC_ALL=C.UTF-8",
        ReasonKind::Timezone => "use UTC (TZ=UTC) when formatting times",
        ReasonKind::Ordering => "sort: LC_ALL=C sort, tar --sort=name, sorted directory walks",
        ReasonKind::Cpus => "make parallel work merge its results in a fixed order",
        ReasonKind::Env => "do not read unrelated environment variables",
        ReasonKind::ArchiveMetadata => {
            "normalise archive headers (tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --owner=0 --group=0 --numeric-owner, gzip -n, ar D, zip -X)"
        }
        ReasonKind::Random => return None,
    })
}

fn le(x: &[u8]) -> i64 {
    x.iter()
        .rev()
        .fold(0i64, |acc, &b| acc.wrapping_shl(8) | i64::from(b))
}

fn be(x: &[u8]) -> i64 {
    x.iter()
        .fold(0i64, |acc, &b| acc.wrapping_shl(8) | i64::from(b))
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    memchr::memmem::find_iter(hay, needle).count()
}

fn placeholder(index: usize, len: usize) -> Vec<u8> {
    let mut p = MARK.to_vec();
    p.push(0x10 + (index as u8 & 0x0f));
    p.resize(len.max(3), 0x02);
    p
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut last = 0;
    for pos in memchr::memmem::find_iter(hay, needle) {
        out.extend_from_slice(&hay[last..pos]);
        out.extend_from_slice(with);
        last = pos + needle.len();
    }
    out.extend_from_slice(&hay[last..]);
    out
}

fn touches_placeholder(line: &[u8], r: &Range<usize>) -> bool {
    let start = r.start.min(line.len());
    let hi = (r.end + 2).min(line.len());
    // A MARK inside (or just after) the span.
    if memchr::memmem::find(&line[start..hi.max(start)], &MARK).is_some() {
        return true;
    }
    // Inside a placeholder run: a MARK before the span with only fill bytes between.
    let lo = start.saturating_sub(256);
    let Some(p) = memchr::memmem::rfind(&line[lo..start], &MARK) else {
        return false;
    };
    let after_mark = lo + p + 3;
    after_mark >= start || line[after_mark..start].iter().all(|&c| c == 0x02)
}

fn line_of(data: &[u8], offset: usize) -> u64 {
    memchr::memchr_iter(b'\n', &data[..offset.min(data.len())]).count() as u64 + 1
}

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

fn trim_sep(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&c| c != b'\n' && c != 0)
        .map_or(0, |p| p + 1);
    &line[..end]
}

/// Where a slice of `data` (borrowed from it) starts.
fn offset_in(data: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(data.as_ptr() as usize)
}

/// The contiguous span of `data` covering the given lines (which are in order).
fn join<'a>(lines: &[&'a [u8]], idx: &[usize], data: &'a [u8]) -> &'a [u8] {
    match (idx.first(), idx.last()) {
        (Some(&f), Some(&l)) => {
            let start = offset_in(data, lines[f]);
            let end = offset_in(data, lines[l]) + lines[l].len();
            &data[start..end]
        }
        _ => &[],
    }
}

fn is_reordering(la: &[&[u8]], lb: &[&[u8]]) -> bool {
    if la.len() != lb.len() || la.len() < 2 {
        return false;
    }
    let norm = |l: &[u8]| trim_sep(l).to_vec();
    let mut sa: Vec<Vec<u8>> = la.iter().map(|l| norm(l)).collect();
    let mut sb: Vec<Vec<u8>> = lb.iter().map(|l| norm(l)).collect();
    sa.sort();
    sb.sort();
    sa == sb
}

/// Splits a line into words: runs of bytes that are neither whitespace nor punctuation
/// that separates list items (`,;:|"'` and brackets).
fn words(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&c| is_boundary(c) || matches!(c, b':' | b'|'))
        .filter(|w| !w.is_empty())
        .collect()
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
fn segment_around(a: &[u8], b: &[u8], r: &Range<usize>) -> Range<usize> {
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
fn hunks(ops: &[DiffOp]) -> Vec<(Range<usize>, Range<usize>)> {
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

/// Lines deleted in one place and inserted in another (same text, both sides).
fn moved_lines<'a>(
    hunks: &[(Range<usize>, Range<usize>)],
    la: &[&'a [u8]],
    lb: &[&'a [u8]],
) -> std::collections::HashSet<&'a [u8]> {
    let mut deleted: HashMap<&[u8], usize> = HashMap::new();
    for (ra, _) in hunks {
        for i in ra.clone() {
            *deleted.entry(la[i]).or_default() += 1;
        }
    }
    let mut moved = std::collections::HashSet::new();
    for (ra, rb) in hunks {
        for j in rb.clone() {
            let line = lb[j];
            // A line replaced in place is not a move.
            let in_place = ra.clone().any(|i| la[i] == line);
            if !in_place && deleted.get(line).is_some_and(|&n| n > 0) && !trim_sep(line).is_empty()
            {
                moved.insert(line);
            }
        }
    }
    moved
}

/// The differing byte spans of two lines, merging spans separated by under 4 bytes.
fn differing_spans(a: &[u8], b: &[u8]) -> Vec<(Range<usize>, Range<usize>)> {
    let deadline = Instant::now() + Duration::from_millis(200);
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

/// Differing byte ranges of two equal-length slices, merging gaps under `gap` bytes.
pub(crate) fn aligned_ranges(a: &[u8], b: &[u8], gap: usize) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let n = a.len().min(b.len());
    let mut i = 0;
    while i < n {
        // Skip equal 8-byte blocks quickly.
        if i + 8 <= n && a[i..i + 8] == b[i..i + 8] {
            i += 8;
            continue;
        }
        if a[i] != b[i] {
            match out.last_mut() {
                Some(last) if i - last.end < gap => last.end = i + 1,
                _ => out.push(i..i + 1),
            }
        }
        i += 1;
    }
    if a.len() != b.len() {
        out.push(n..a.len().max(b.len()));
    }
    out
}

/// The timestamp match that contains the span, the longest if several do.
fn containing<'m>(matches: &'m [TimeMatch], r: &Range<usize>) -> Option<&'m TimeMatch> {
    matches
        .iter()
        .filter(|m| m.range.start <= r.start && r.end <= m.range.end && !m.range.is_empty())
        .max_by_key(|m| m.range.len())
}

fn is_boundary(c: u8) -> bool {
    c.is_ascii_whitespace()
        || c < 0x20
        || matches!(
            c,
            b'"' | b'\''
                | b'='
                | b','
                | b';'
                | b'('
                | b')'
                | b'<'
                | b'>'
                | b'['
                | b']'
                | b'{'
                | b'}'
        )
}

/// Widens a span to the token around it.
fn widen(line: &[u8], r: &Range<usize>) -> Range<usize> {
    let mut start = r.start.min(line.len());
    while start > 0 && !is_boundary(line[start - 1]) {
        start -= 1;
    }
    let mut end = r.end.min(line.len());
    while end < line.len() && !is_boundary(line[end]) {
        end += 1;
    }
    if end - start > SHOW * 4 {
        return r.start.min(line.len())..r.end.min(line.len());
    }
    start..end
}

fn looks_like_path(token: &[u8]) -> bool {
    token.len() > 2 && token.starts_with(b"/") && token[1..].contains(&b'/')
}

/// Drops repeated reasons (same kind, values and context), keeping the first.
fn dedupe(reasons: &mut Vec<Reason>) {
    let mut seen = std::collections::HashSet::new();
    reasons.retain(|r| seen.insert((r.kind, r.a.clone(), r.b.clone(), r.context.clone())));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &str, b: &str, known: &KnownValues) -> Vec<ReasonKind> {
        let c = Classifier {
            path: "f",
            known,
            text: true,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
        };
        c.classify(a.as_bytes(), b.as_bytes())
            .into_iter()
            .map(|r| r.kind)
            .collect()
    }

    #[test]
    fn c_date_is_a_timestamp() {
        let k = KnownValues::default();
        let kinds = run(
            "built Nov 25 2026 10:00:01\n",
            "built Mar  3 2031 23:59:59\n",
            &k,
        );
        assert_eq!(kinds, [ReasonKind::Timestamp]);
    }

    #[test]
    fn reordered_lines_are_ordering() {
        let k = KnownValues::default();
        assert_eq!(run("a\nb\nc\n", "c\na\nb\n", &k), [ReasonKind::Ordering]);
    }

    #[test]
    fn known_build_path_of_other_length_is_build_path() {
        let k = KnownValues {
            build_path: Some(("/tmp/a".into(), "/tmp/bbbb".into())),
            ..KnownValues::default()
        };
        assert_eq!(
            run("x /tmp/a/src y\n", "x /tmp/bbbb/src y\n", &k),
            [ReasonKind::BuildPath]
        );
    }

    #[test]
    fn unknown_path_pair_is_build_path_heuristically() {
        let k = KnownValues::default();
        assert_eq!(
            run("cwd=/home/x/a\n", "cwd=/srv/y/b\n", &k),
            [ReasonKind::BuildPath]
        );
    }

    #[test]
    fn a_set_printed_in_hash_order_is_ordering() {
        let k = KnownValues::default();
        let a = "theta eta gamma zeta alpha epsilon delta beta\n";
        let b = "gamma epsilon zeta delta eta theta alpha beta\n";
        assert_eq!(run(a, b, &k), [ReasonKind::Ordering]);
        assert_eq!(
            run(
                "{'alpha', 'beta', 'gamma'}",
                "{'gamma', 'alpha', 'beta'}",
                &k
            ),
            [ReasonKind::Ordering]
        );
        // Other words, or the same letters in other words, are not a reordering.
        assert!(!same_words_reordered(b"a b c", b"a b d"));
        assert!(!same_words_reordered(b"ab c", b"ba c"));
        assert!(!same_words_reordered(b"a b", b"a  b"));
    }

    #[test]
    fn reordered_words_carry_both_lines_as_evidence() {
        let k = KnownValues::default();
        let c = Classifier {
            path: "f",
            known: &k,
            text: true,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
        };
        let r = c.classify(b"x\nb c a\n", b"x\na b c\n");
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].a.as_str(), r[0].b.as_str()), ("b c a", "a b c"));
        assert_eq!((r[0].line, r[0].offset), (Some(2), Some(2)));
        assert_eq!(
            r[0].context.as_deref(),
            Some("same 3 words in another order")
        );
    }

    #[test]
    fn reordered_words_in_a_binary_segment_are_ordering() {
        let k = KnownValues::default();
        let c = Classifier {
            path: "f",
            known: &k,
            text: false,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
        };
        let a = b"\x7fELF\0\0 alpha beta gamma\0\x01\x02";
        let b = b"\x7fELF\0\0 gamma alpha beta\0\x01\x02";
        let kinds: Vec<_> = c.classify(a, b).into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::Ordering]);
    }

    #[test]
    fn other_spans_are_random() {
        let k = KnownValues::default();
        assert_eq!(
            run("seed 8f3a9c\n", "seed 1b2d7e\n", &k),
            [ReasonKind::Random]
        );
    }

    #[test]
    fn clock_outside_known_windows_has_no_variation() {
        let w = crate::diff::TimeWindow { start: 0, end: 10 };
        let k = KnownValues {
            clock: Some((w, w)),
            ..KnownValues::default()
        };
        assert_eq!(
            clock_variation(&k, Some(1_900_000_000), Some(1_900_000_001)),
            None
        );
        assert_eq!(clock_variation(&k, Some(5), None).as_deref(), Some("clock"));
    }

    #[test]
    fn binary_le_epoch_in_known_windows_is_a_timestamp() {
        let w = |t: i64| crate::diff::TimeWindow {
            start: t - 5,
            end: t + 5,
        };
        let k = KnownValues {
            clock: Some((w(1_795_000_000), w(1_900_000_000))),
            ..KnownValues::default()
        };
        let mut a = vec![0u8; 16];
        let mut b = vec![0u8; 16];
        a[4..8].copy_from_slice(&1_795_000_000u32.to_le_bytes());
        b[4..8].copy_from_slice(&1_900_000_000u32.to_le_bytes());
        let c = Classifier {
            path: "f",
            known: &k,
            text: false,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
        };
        let kinds: Vec<_> = c.classify(&a, &b).into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::Timestamp]);
    }
}
