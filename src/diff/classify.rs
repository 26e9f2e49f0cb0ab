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
    /// Added to offsets (e.g. the file offset of an ELF section).
    pub base_offset: u64,
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

impl Classifier<'_> {
    /// Explains why `a` and `b` differ. Returns at most `limit` reasons, deduplicated.
    pub fn classify(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
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
            line: None,
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
            r.offset = first.map(|o| self.base_offset + o as u64);
            r.line = first.filter(|_| self.text).map(|o| line_of(a, o));
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
        for r in aligned_ranges(a, b, 4) {
            let lo = r.start.saturating_sub(WINDOW);
            let hi = (r.end + WINDOW).min(a.len());
            let (wa, wb) = (&a[lo..hi], &b[lo..hi]);
            let local = r.start - lo..r.end - lo;
            let (ta, tb) = (timestamps::find_times(wa), timestamps::find_times(wb));
            if let Some(mut reason) = self.explain_span(wa, &local, wb, &local, &ta, &tb) {
                reason.offset = Some(self.base_offset + r.start as u64);
                out.push(reason);
            }
            if out.len() > self.limit * 2 {
                break;
            }
        }
        out
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
                out.extend(self.classify_pair(la[i], lb[j], offset_in(a, la[i]), i));
            }
            return out;
        }
        let blob_a = join(la, old, a);
        let blob_b = join(lb, new, b);
        let start = old.first().map_or(0, |&i| offset_in(a, la[i]));
        self.classify_pair(blob_a, blob_b, start, old.first().copied().unwrap_or(0))
    }

    /// Classifies one differing line (or blob) pair; `offset` and `line` locate it in a.
    fn classify_pair(&self, la: &[u8], lb: &[u8], offset: usize, line: usize) -> Vec<Reason> {
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
                r.offset = Some(self.base_offset + (offset + ra.start) as u64);
                r.line = self.text.then_some(line as u64 + 1);
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
    let lo = r.start.saturating_sub(MAX_SPAN_DIFF.min(256));
    let hi = (r.end + 2).min(line.len());
    let window = &line[lo..hi];
    // Inside a placeholder run: a MARK before the span with only fill bytes between.
    let before = (r.start - lo).min(window.len());
    if let Some(p) = memchr::memmem::rfind(&window[..before], &MARK) {
        // The fill bytes after MARK and the index byte; none when the span starts at
        // the index byte (fuzzing found that slicing `p + 3..` overran there).
        let between = window.get(p + 3..before).unwrap_or_default();
        if between.iter().all(|&c| c == 0x02) {
            return true;
        }
    }
    memchr::memmem::find(&line[r.start.min(line.len())..hi], &MARK).is_some()
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
                last.0.end = ra.end;
                last.1.end = rb.end;
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
                last.0.end = ra.end;
                last.1.end = rb.end;
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
            context: None,
            limit: 50,
        };
        let kinds: Vec<_> = c.classify(&a, &b).into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::Timestamp]);
    }
}
