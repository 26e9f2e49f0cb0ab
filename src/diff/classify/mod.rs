//! The classifier: names the reason of each difference (docs/design.md section 6).
//!
//! Formats find what differs; this module explains it. Content is explained in three
//! passes: known values (build paths, host names, users, locales given by `check` or
//! `--known`) are replaced by placeholders on both sides; lines that only moved are
//! `ordering`; each remaining differing span is `timezone` if it names one of the two
//! known zones (its name, an abbreviation or a UTC offset), a `timestamp` if it lies
//! inside a date on both sides, and otherwise `random`, whose evidence says whether the
//! spans look random (high entropy) or are an unexplained low-entropy change.
//!
//! Attribution is exact whenever known values are given (as `check` always gives them):
//! a path is `build_path` only where it is one of the two known build paths. With no
//! known values at all (`reprobe diff A B`), two absolute paths are `build_path` when
//! they look like a prefix swap: the same path below a common, non-trivial suffix
//! (`…/w/a/src/hello.c` and `…/w/bbbbbb/src/hello.c`). The two leading parts found so are
//! then treated as known build paths for the whole item, so that every place holding
//! them is attributed, whichever strings the line diff happened to pair.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use similar::{capture_diff_slices_deadline, Algorithm, DiffOp};

use super::budget::Budget;
use super::timestamps::{self, TimeMatch};
use super::{align, entropy, escape_short, KnownValues, Reason, ReasonKind};

/// Longest line or blob compared byte by byte; longer spans are reported whole.
const MAX_SPAN_DIFF: usize = 16 * 1024;
/// Binary "lines" are cut at this length so that one diff step stays cheap.
const MAX_LINE: usize = 4096;
/// Most characters of a value shown in a reason.
const SHOW: usize = 120;
/// Marks a placeholder for a known value in normalised content.
const MARK: [u8; 2] = [0x01, 0x02];
/// Most path tokens remembered per side for inferring a build path prefix swap.
const MAX_PATHS: usize = 64;
/// Most build path pairs inferred for one item.
const MAX_INFERRED: usize = 4;
/// Content larger than this (both sides) is split into lines only where it differs:
/// the common first and last lines are left out.
const TRIM_ABOVE: usize = 1 << 20;
/// Bytes of memory taken per line split: the slice, its hash, and the alignment's maps.
const LINE_COST: u64 = 64;
/// The share of an item's time its lines may take to align before a coarser alignment
/// is taken (a fifth: 2 s by default).
const ALIGN_SHARE: u32 = 5;

/// The remedy of an `ordering` inside one line: the same words in another order, as a
/// printed hash set gives.
pub const WORD_ORDER_REMEDY: &str =
    "sort it, or set PYTHONHASHSEED (Python set/dict order of strings)";

/// Said on a known value's reason when strings holding it also came out in another
/// order: one consequence of the value's other length, not a reordering of its own.
pub const REORDERED_NOTE: &str =
    "strings holding it are in another order too: the table is laid out anew for its other length";

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
    /// The comparison's budget: the item's deadline and the memory its lines take.
    /// `None` sets no limit (unit tests).
    pub(crate) budget: Option<&'a Arc<Budget>>,
}

/// One value pair known (or inferred) to differ, replaced by a placeholder.
#[derive(Debug, Clone)]
struct KnownPair {
    kind: ReasonKind,
    variation: &'static str,
    a: Vec<u8>,
    b: Vec<u8>,
    /// A path: an occurrence must end where a path component ends (`/tmp/a` is not
    /// found in `/tmp/abc`).
    path: bool,
    /// Said of every reason of this pair (how an inferred pair was found).
    note: Option<String>,
}

/// The pairs of [`KnownValues`] that are replaced by placeholders. Time zones are not:
/// they are matched span by span (see [`Run::zone_span`]), with all their spellings.
fn known_pairs(known: &KnownValues) -> Vec<KnownPair> {
    let fields = [
        (&known.build_path, ReasonKind::BuildPath, "build_path"),
        (&known.hostname, ReasonKind::Hostname, "hostname"),
        (&known.user, ReasonKind::User, "user"),
        (&known.locale, ReasonKind::Locale, "locale"),
    ];
    fields
        .into_iter()
        .filter_map(|(value, kind, variation)| {
            let (a, b) = value.as_ref()?;
            (a != b && a.len() >= 2 && b.len() >= 2).then(|| KnownPair {
                kind,
                variation,
                a: a.as_bytes().to_vec(),
                b: b.as_bytes().to_vec(),
                path: kind == ReasonKind::BuildPath,
                note: None,
            })
        })
        .collect()
}

/// Where a line pair starts on each side: byte offsets and 0-based line indexes.
#[derive(Debug, Clone, Copy)]
struct Loc {
    off_a: usize,
    off_b: usize,
    line_a: usize,
    line_b: usize,
}

/// A reason and where its two values start, relative to the line (or window) explained.
struct Found {
    reason: Reason,
    at_a: usize,
    at_b: usize,
}

impl Classifier<'_> {
    /// Explains why `a` and `b` differ. Returns at most `limit` reasons, deduplicated.
    ///
    /// The result does not depend on which side is called a: the work is done in one
    /// canonical orientation and mirrored back, so `classify(b, a)` gives the same
    /// reasons with the sides swapped.
    pub fn classify(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
        self.classify_noting(a, b, &mut Vec::new())
    }

    /// Like [`Classifier::classify`], and says in `notes` what a budget left unexplained.
    pub(crate) fn classify_noting(
        &self,
        a: &[u8],
        b: &[u8],
        notes: &mut Vec<String>,
    ) -> Vec<Reason> {
        let deadline = self.budget.map_or_else(
            || Instant::now() + Duration::from_secs(1 << 30),
            |b| b.item_deadline(),
        );
        if a <= b {
            return self.classify_oriented(a, b, deadline, notes);
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
            budget: self.budget,
        };
        let mut reasons = swapped.classify_oriented(b, a, deadline, notes);
        for r in &mut reasons {
            r.mirror();
        }
        reasons
    }

    fn classify_oriented(
        &self,
        a: &[u8],
        b: &[u8],
        deadline: Instant,
        notes: &mut Vec<String>,
    ) -> Vec<Reason> {
        let heuristic = self.known.is_empty();
        let mut run = Run::new(self, known_pairs(self.known), heuristic, deadline);
        let mut reasons = run.classify(a, b);
        if heuristic {
            let inferred = run.inferred_build_paths();
            if !inferred.is_empty() {
                // Again, with the build paths found treated as known: every place that
                // holds them is attributed, and only what they do not explain is left.
                run = Run::new(self, inferred, heuristic, deadline);
                reasons = run.classify(a, b);
            }
        }
        notes.extend(run.notes.take());
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
            high_entropy: None,
            note: None,
        }
    }
}

/// Path tokens seen in unexplained spans, from which build path pairs are inferred.
#[derive(Default)]
struct PathsSeen {
    a: Vec<Vec<u8>>,
    b: Vec<Vec<u8>>,
}

/// The spellings of the known zone of side a and of side b.
type ZoneSpellings = (Arc<Vec<String>>, Arc<Vec<String>>);

/// Two leading parts of paths, and (support, common suffix).
type PrefixVotes = HashMap<(Vec<u8>, Vec<u8>), (usize, Vec<u8>)>;

/// One classification pass: the pairs replaced by placeholders, the spellings of the two
/// known time zones, and what the pass learnt about paths.
struct Run<'c> {
    c: &'c Classifier<'c>,
    pairs: Vec<KnownPair>,
    zones: Option<ZoneSpellings>,
    heuristic: bool,
    paths: RefCell<PathsSeen>,
    /// Where placeholders stand in the normalised content of sides a and b.
    maps: RefCell<[OffsetMap; 2]>,
    /// When the explanation must stop.
    deadline: Instant,
    /// Lines before the part split into lines (the common first lines left out).
    line_base: Cell<usize>,
    /// What a budget left unexplained.
    notes: RefCell<Vec<String>>,
    /// Strings holding a known value came out in another order: a consequence of the
    /// value's other length, said once on the value's reason.
    reordered_by_value: Cell<bool>,
}

impl<'c> Run<'c> {
    fn new(
        c: &'c Classifier<'c>,
        mut pairs: Vec<KnownPair>,
        heuristic: bool,
        deadline: Instant,
    ) -> Run<'c> {
        // Longest first: a build path may contain the user name.
        pairs.sort_by_key(|p| std::cmp::Reverse(p.a.len().max(p.b.len())));
        let zones = c.known.timezone.as_ref().and_then(|(za, zb)| {
            if za == zb {
                return None;
            }
            // The names in use today and, with known clocks, during each build (a
            // zone with daylight saving time has two).
            let today = chrono::Utc::now().timestamp() / 86_400 * 86_400;
            let times = |side: usize| -> Vec<i64> {
                match c.known.clock {
                    Some(w) => {
                        let w = if side == 0 { w.0 } else { w.1 };
                        vec![w.start, w.end, today]
                    }
                    None => vec![today],
                }
            };
            let (mut xa, mut xb) = (
                super::zones::aliases(za, &times(0)).to_vec(),
                super::zones::aliases(zb, &times(1)).to_vec(),
            );
            // A spelling both zones share (two zones at one offset) tells nothing.
            let common: Vec<String> = xa.iter().filter(|s| xb.contains(s)).cloned().collect();
            xa.retain(|s| !common.contains(s));
            xb.retain(|s| !common.contains(s));
            (!xa.is_empty() || !xb.is_empty()).then(|| (Arc::new(xa), Arc::new(xb)))
        });
        Run {
            c,
            pairs,
            zones,
            heuristic,
            paths: RefCell::default(),
            maps: RefCell::default(),
            deadline,
            line_base: Cell::new(0),
            notes: RefCell::default(),
            reordered_by_value: Cell::new(false),
        }
    }

    fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Notes that the time ran out with `what` left unexplained (once per item).
    fn note_time(&self, what: &str) {
        let note = format!(
            "{} (time): {what} (--max-time)",
            super::budget::NOT_COMPARED
        );
        let mut notes = self.notes.borrow_mut();
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// Holds `n` bytes of the memory budget while the guard lives; `None` if they do
    /// not fit (and a note saying what was not done).
    fn hold(&self, n: u64, what: &str) -> Option<Option<super::budget::Held>> {
        let Some(budget) = self.c.budget else {
            return Some(None);
        };
        match budget.hold(n) {
            Some(held) => Some(Some(held)),
            None => {
                self.notes.borrow_mut().push(budget.memory_note(what));
                None
            }
        }
    }

    fn classify(&self, a: &[u8], b: &[u8]) -> Vec<Reason> {
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

    /// Whether a reordering of `a` into `b` in binary content moves strings holding a
    /// known value: a string table sorted or hashed by content (`.debug_line_str`,
    /// `.strtab`) orders its strings anew when one grows, so the order follows from the
    /// value. Remembered, so that the value's reason says so. Lines of text that moved
    /// are an `ordering` of their own, paths or not.
    fn reordered_by_known_value(&self, a: &[u8], b: &[u8]) -> bool {
        if self.c.text {
            return false;
        }
        let replaced = self.maps.borrow().iter().any(|m| !m.0.is_empty());
        let holds = |x: &[u8]| memchr::memmem::find(x, &MARK).is_some();
        let by_value = replaced && (holds(a) || holds(b));
        if by_value {
            self.reordered_by_value.set(true);
        }
        by_value
    }

    /// [`Run::reordered_by_known_value`] for the lines of a reordering.
    fn lines_reordered_by_known_value(&self, la: &[&[u8]], lb: &[&[u8]]) -> bool {
        let moved = |x: &[&[u8]], y: &[&[u8]]| -> bool {
            x.iter()
                .filter(|l| !y.contains(l))
                .chain(x.iter().zip(y).filter(|(p, q)| p != q).map(|(p, _)| p))
                .any(|l| self.reordered_by_known_value(l, b""))
        };
        moved(la, lb) || moved(lb, la)
    }

    fn reason(&self, kind: ReasonKind, a: String, b: String) -> Reason {
        self.c.reason(kind, a, b)
    }

    /// Replaces differential occurrences of known values by shared placeholders, and
    /// remembers where they were, so that offsets found in the normalised content are
    /// reported in the original one.
    fn normalize<'d>(
        &self,
        a: &'d [u8],
        b: &'d [u8],
    ) -> (Cow<'d, [u8]>, Cow<'d, [u8]>, Vec<Reason>) {
        let c = self.c;
        let mut reasons = Vec::new();
        let (mut needles_a, mut needles_b) = (Vec::new(), Vec::new());
        for (i, pair) in self.pairs.iter().enumerate() {
            let n = |hay: &[u8], needle: &[u8]| count(hay, needle, pair.path);
            let differential = n(a, &pair.a) != n(b, &pair.a) || n(b, &pair.b) != n(a, &pair.b);
            let first_a = find(a, &pair.a, pair.path);
            let first_b = find(b, &pair.b, pair.path);
            if !differential || (first_a.is_none() && first_b.is_none()) {
                continue;
            }
            let holder = placeholder(i, pair.a.len());
            needles_a.push((pair.a.as_slice(), holder.clone(), pair.path));
            needles_b.push((pair.b.as_slice(), holder, pair.path));
            let mut r = self.reason(
                pair.kind,
                String::from_utf8_lossy(&pair.a).into(),
                String::from_utf8_lossy(&pair.b).into(),
            );
            r.variation = Some(pair.variation.to_string());
            r.note = pair.note.clone();
            r.offset = first_a.map(|o| c.base_offset + o as u64);
            r.line = first_a.filter(|_| c.text).map(|o| line_of(a, o));
            r.offset_b = first_b.map(|o| c.base_offset_b + o as u64);
            r.line_b = first_b.filter(|_| c.text).map(|o| line_of(b, o));
            reasons.push(r);
        }
        let (na, map_a) = replace_pairs(a, &needles_a);
        let (nb, map_b) = replace_pairs(b, &needles_b);
        *self.maps.borrow_mut() = [map_a, map_b];
        (na, nb, reasons)
    }

    /// The reported offset of side `side` (0 for a) for an offset in normalised content.
    fn offset(&self, side: usize, normalized: usize) -> u64 {
        let base = if side == 0 {
            self.c.base_offset
        } else {
            self.c.base_offset_b
        };
        base + self.maps.borrow()[side].original(normalized) as u64
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
        r.context = Some(match &self.c.context {
            Some(c) => format!("{c}: {what}"),
            None => what,
        });
        // A hash seed, a directory listing and parallel output all reorder words: the
        // kind is certain, the variation is not (check finds it by bisection).
        r.variation = None;
        r.remedy = Some(WORD_ORDER_REMEDY.to_string());
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
        r.line = self
            .c
            .text
            .then_some((self.line_base.get() + first) as u64 + 1);
        r.line_b = r.line;
        r
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

    /// Classifies one differing line (or blob) pair, located by `loc`.
    fn classify_pair(&self, la: &[u8], lb: &[u8], loc: Loc) -> Vec<Reason> {
        let c = self.c;
        if same_words_reordered(la, lb) {
            if self.reordered_by_known_value(la, lb) {
                return Vec::new();
            }
            let mut r = self.word_order_reason(la, lb);
            r.offset = Some(self.offset(0, loc.off_a));
            r.offset_b = Some(self.offset(1, loc.off_b));
            r.line = c.text.then_some(loc.line_a as u64 + 1);
            r.line_b = c.text.then_some(loc.line_b as u64 + 1);
            return vec![r];
        }
        let whole = la.len().max(lb.len()) > MAX_SPAN_DIFF;
        let spans = if whole {
            vec![(0..la.len(), 0..lb.len())]
        } else {
            differing_spans(la, lb, self.deadline)
        };
        // No date is as long as a span that large: do not search one for dates.
        let (ta, tb) = if whole {
            (Vec::new(), Vec::new())
        } else {
            (timestamps::find_times(la), timestamps::find_times(lb))
        };
        let mut out = Vec::new();
        for (ra, rb) in spans {
            for found in self.explain_span(la, &ra, lb, &rb, &ta, &tb) {
                let (at_a, at_b) = (loc.off_a + found.at_a, loc.off_b + found.at_b);
                let mut r = found.reason;
                r.offset = Some(self.offset(0, at_a));
                r.offset_b = Some(self.offset(1, at_b));
                r.line = c
                    .text
                    .then_some(loc.line_a as u64 + 1 + newlines(la, found.at_a));
                r.line_b = c
                    .text
                    .then_some(loc.line_b as u64 + 1 + newlines(lb, found.at_b));
                out.push(r);
            }
        }
        out
    }

    /// Explains one differing span (`ra` in `la`, `rb` in `lb`); each reason comes with
    /// where its values start in `la` and `lb`.
    fn explain_span(
        &self,
        la: &[u8],
        ra: &Range<usize>,
        lb: &[u8],
        rb: &Range<usize>,
        ta: &[TimeMatch],
        tb: &[TimeMatch],
    ) -> Vec<Found> {
        // Only where a known value was replaced can a placeholder stand: content that
        // holds the marker bytes itself (random binary data does) is explained.
        let replaced = self.maps.borrow().iter().any(|m| !m.0.is_empty());
        if replaced && (touches_placeholder(la, ra) || touches_placeholder(lb, rb)) {
            return Vec::new();
        }
        if let Some(found) = self.zone_span(la, ra, lb, rb, ta, tb) {
            return found;
        }
        if let (Some(ma), Some(mb)) = (containing(ta, ra), containing(tb, rb)) {
            let reason = self.timestamp_reason(la, ma, lb, mb);
            return vec![Found {
                reason,
                at_a: ma.range.start,
                at_b: mb.range.start,
            }];
        }
        let wa = widen(la, ra);
        let wb = widen(lb, rb);
        let (tok_a, tok_b) = (trim_sep(&la[wa.clone()]), trim_sep(&lb[wb.clone()]));
        if self.heuristic {
            self.remember_paths(tok_a, tok_b);
            if let Some(swap) = prefix_swap(tok_a, tok_b) {
                let mut r = self.reason(
                    ReasonKind::BuildPath,
                    escape_short(swap.a, SHOW),
                    escape_short(swap.b, SHOW),
                );
                r.note = Some(swap.note());
                return vec![Found {
                    reason: r,
                    at_a: wa.start,
                    at_b: wb.start,
                }];
            }
        }
        if !self.c.text {
            if let Some(r) = self.binary_epoch(la, ra, lb, rb) {
                return vec![Found {
                    reason: r,
                    at_a: ra.start,
                    at_b: rb.start,
                }];
            }
        }
        // Show the token around the span; a span of separators alone (NULs, newlines)
        // is shown as it is, so that a value is never blank.
        let (va, at_a) = shown_value(la, ra, tok_a, wa.start);
        let (vb, at_b) = shown_value(lb, rb, tok_b, wb.start);
        let mut r = self.reason(ReasonKind::Random, show_value(va), show_value(vb));
        entropy::annotate(&mut r, va, vb);
        vec![Found {
            reason: r,
            at_a,
            at_b,
        }]
    }

    /// `timezone` when the span holds a spelling of the known zone of its side (its
    /// name, an abbreviation, an offset) on at least one side. The values are the bytes
    /// found on each side: the spelling, and on a side without one, the token in the
    /// same place (`zone LINT` against `zone UTC` gives `LINT` and `UTC`). What the span
    /// holds besides (the hour of a date in another zone) is explained on its own.
    fn zone_span(
        &self,
        la: &[u8],
        ra: &Range<usize>,
        lb: &[u8],
        rb: &Range<usize>,
        ta: &[TimeMatch],
        tb: &[TimeMatch],
    ) -> Option<Vec<Found>> {
        let (za, zb) = self.zones.as_ref()?;
        let oa = spelling_in(la, ra, za);
        let ob = spelling_in(lb, rb, zb);
        let (ca, cb) = match (oa, ob) {
            (None, None) => return None,
            (Some(x), Some(y)) => (x, y),
            (Some(x), None) => {
                let y = counterpart(lb, rb, &x, ra);
                (x, y)
            }
            (None, Some(y)) => {
                let x = counterpart(la, ra, &y, rb);
                (x, y)
            }
        };
        let show = |line: &[u8], r: &Range<usize>| escape_short(trim_ws(&line[r.clone()]), SHOW);
        let mut r = self.reason(ReasonKind::Timezone, show(la, &ca), show(lb, &cb));
        r.variation = Some("timezone".into());
        let mut out = vec![Found {
            reason: r,
            at_a: ca.start,
            at_b: cb.start,
        }];
        let clamp = |x: usize, r: &Range<usize>| x.clamp(r.start, r.end);
        let parts = [
            (ra.start..clamp(ca.start, ra), rb.start..clamp(cb.start, rb)),
            (clamp(ca.end, ra)..ra.end, clamp(cb.end, rb)..rb.end),
        ];
        for (pa, pb) in parts {
            if blank(&la[pa.clone()]) && blank(&lb[pb.clone()]) {
                continue;
            }
            if (pa.len(), pb.len()) == (ra.len(), rb.len()) {
                continue;
            }
            out.extend(self.explain_span(la, &pa, lb, &pb, ta, tb));
        }
        Some(out)
    }

    fn timestamp_reason(&self, la: &[u8], ma: &TimeMatch, lb: &[u8], mb: &TimeMatch) -> Reason {
        let mut r = self.reason(
            ReasonKind::Timestamp,
            escape_short(&la[ma.range.clone()], SHOW),
            escape_short(&lb[mb.range.clone()], SHOW),
        );
        r.variation = clock_variation(self.c.known, ma.unix, mb.unix);
        let (va, vb) = (&la[ma.range.clone()], &lb[mb.range.clone()]);
        match time_shift(self.c.known, (ma.unix, va), (mb.unix, vb)) {
            Some(Shift::Zone) => {
                r = self.reason(ReasonKind::Timezone, r.a, r.b);
                r.variation = Some("timezone".into());
            }
            Some(Shift::ClockAndZone) => r.variation = Some("clock, timezone".into()),
            None => {}
        }
        r
    }

    /// Remembers the path tokens of an unexplained span, for [`Run::inferred_build_paths`].
    fn remember_paths(&self, tok_a: &[u8], tok_b: &[u8]) {
        let mut guard = self.paths.borrow_mut();
        let PathsSeen { a, b } = &mut *guard;
        for (tok, list) in [(tok_a, a), (tok_b, b)] {
            if looks_like_path(tok) && list.len() < MAX_PATHS && !list.iter().any(|p| p == tok) {
                list.push(tok.to_vec());
            }
        }
    }

    /// Build path pairs inferred from the path tokens of unexplained spans: every pair
    /// of a path of side a and one of side b that is a prefix swap votes for its two
    /// leading parts; the best supported, at most one per leading part, win.
    fn inferred_build_paths(&self) -> Vec<KnownPair> {
        let seen = self.paths.borrow();
        let mut votes = PrefixVotes::new();
        for ta in &seen.a {
            for tb in &seen.b {
                if let Some(swap) = prefix_swap(ta, tb) {
                    let entry = votes
                        .entry((swap.a.to_vec(), swap.b.to_vec()))
                        .or_insert((0, swap.suffix.to_vec()));
                    entry.0 += 1;
                }
            }
        }
        let mut ranked: Vec<_> = votes.into_iter().collect();
        ranked.sort_by(|x, y| (y.1 .0, y.0 .0.len(), &x.0).cmp(&(x.1 .0, x.0 .0.len(), &y.0)));
        let mut out: Vec<KnownPair> = Vec::new();
        for ((pa, pb), (_, suffix)) in ranked {
            if out.len() >= MAX_INFERRED || out.iter().any(|p| p.a == pa || p.b == pb) {
                continue;
            }
            let note = PrefixSwap {
                a: &pa,
                b: &pb,
                suffix: &suffix,
            }
            .note();
            out.push(KnownPair {
                kind: ReasonKind::BuildPath,
                variation: "build_path",
                a: pa,
                b: pb,
                path: true,
                note: Some(note),
            });
        }
        out
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
        let (wa, wb) = self.c.known.clock?;
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
                        r.variation = clock_variation(self.c.known, Some(va), Some(vb));
                        return Some(r);
                    }
                }
            }
        }
        None
    }
}

/// Two absolute paths that differ only in a leading part: `a` and `b` are the leading
/// parts, `suffix` what follows them on both sides.
struct PrefixSwap<'t> {
    a: &'t [u8],
    b: &'t [u8],
    suffix: &'t [u8],
}

impl PrefixSwap<'_> {
    fn note(&self) -> String {
        format!(
            "inferred: the paths differ only before {} (--known build_path=A,B attributes exactly)",
            escape_short(self.suffix, SHOW)
        )
    }
}

/// Whether two path tokens look like one path under two different roots: the same
/// non-trivial suffix starting at a `/` (`/src/hello.c`), and different, absolute
/// leading parts. `/etc/passwd` and `/etc/shadow` are not: nothing after their common
/// prefix is shared.
fn prefix_swap<'t>(a: &'t [u8], b: &'t [u8]) -> Option<PrefixSwap<'t>> {
    if !looks_like_path(a) || !looks_like_path(b) || a == b {
        return None;
    }
    let common = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let tail = &a[a.len() - common..];
    let slash = tail.iter().position(|&c| c == b'/')?;
    let suffix = &tail[slash..];
    let (pa, pb) = (&a[..a.len() - suffix.len()], &b[..b.len() - suffix.len()]);
    let named = suffix.iter().filter(|c| c.is_ascii_alphanumeric()).count();
    let trivial = suffix.len() < 3 || named < 2;
    if trivial || pa.len() < 2 || pb.len() < 2 || !pa.starts_with(b"/") || !pb.starts_with(b"/") {
        return None;
    }
    Some(PrefixSwap {
        a: pa,
        b: pb,
        suffix,
    })
}

/// The value shown for one side of an unexplained span: the token around it, or the
/// span's own bytes when the token is blank; and where it starts.
fn shown_value<'l>(
    line: &'l [u8],
    r: &Range<usize>,
    token: &'l [u8],
    token_start: usize,
) -> (&'l [u8], usize) {
    if token.is_empty() && !r.is_empty() {
        let end = r.end.min(line.len());
        let start = r.start.min(end);
        (&line[start..end], start)
    } else {
        (token, token_start)
    }
}

/// A value as shown in a reason: escaped and cut; a long run of raw bytes is cut
/// shorter, with its length.
fn show_value(value: &[u8]) -> String {
    const RAW: usize = 24;
    let raw = value
        .iter()
        .any(|&c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r'));
    if raw && value.len() > RAW {
        format!("{} ({} bytes)", escape_short(value, RAW), value.len())
    } else {
        escape_short(value, SHOW)
    }
}

/// The spelling of a zone (from `spellings`, longest first) that overlaps the span `r`
/// of `line`, standing as a word of its own: `+14` is not found in `+145` nor in the
/// `+14:00` of an ISO date's offset (a digit before it), `UTC` not in `UTCX`.
fn spelling_in(line: &[u8], r: &Range<usize>, spellings: &[String]) -> Option<Range<usize>> {
    let lo = r.start.saturating_sub(64);
    let hi = (r.end + 64).min(line.len());
    let window = line.get(lo..hi)?;
    let overlaps = |s: usize, e: usize| {
        if r.is_empty() {
            s < r.start && r.start < e
        } else {
            s < r.end && r.start < e
        }
    };
    for spelling in spellings {
        let needle = spelling.as_bytes();
        for pos in memchr::memmem::find_iter(window, needle) {
            let (s, e) = (lo + pos, lo + pos + needle.len());
            if overlaps(s, e) && stands_alone(line, s, e) {
                return Some(s..e);
            }
        }
    }
    None
}

/// Whether `line[s..e]` is a word of its own: no letter or digit right before or after,
/// and a number is not followed by more of a number (`:00`, `.5`).
fn stands_alone(line: &[u8], s: usize, e: usize) -> bool {
    let before = s.checked_sub(1).and_then(|i| line.get(i)).copied();
    let after = line.get(e).copied();
    let ends_in_digit = e > s && line[e - 1].is_ascii_digit();
    let continues = |c: u8| {
        c.is_ascii_alphanumeric()
            || (ends_in_digit && matches!(c, b':' | b'.') && {
                line.get(e + 1).is_some_and(u8::is_ascii_digit)
            })
    };
    !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'/') && !after.is_some_and(continues)
}

/// The token of `line` in the place of the other side's zone spelling `other` (inside
/// the other side's span `other_span`): the first token of the span when the spelling
/// starts it, the last when it ends it, else the whole span.
fn counterpart(
    line: &[u8],
    r: &Range<usize>,
    other: &Range<usize>,
    other_span: &Range<usize>,
) -> Range<usize> {
    if r.is_empty() {
        return r.clone();
    }
    if other.start <= other_span.start {
        widen(line, &(r.start..r.start + 1))
    } else if other.end >= other_span.end {
        widen(line, &(r.end - 1..r.end))
    } else {
        widen(line, r)
    }
}

/// Whether bytes hold nothing but separators.
fn blank(x: &[u8]) -> bool {
    x.iter().all(|&c| is_boundary(c) || c == b':')
}

fn trim_ws(x: &[u8]) -> &[u8] {
    let start = x
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(x.len());
    let end = x
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &x[start..end.max(start)]
}

/// Newlines in `line` before `at`: the line of a value inside a multi-line blob.
fn newlines(line: &[u8], at: usize) -> u64 {
    memchr::memchr_iter(b'\n', &line[..at.min(line.len())]).count() as u64
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

/// What moved a time: the zone alone, or the clock and the zone together.
#[derive(Debug, PartialEq, Eq)]
enum Shift {
    Zone,
    ClockAndZone,
}

/// Seconds allowed between a shift and the offsets that explain it: a step's own run.
const SHIFT_SLACK: i64 = 120;

/// Whether the two times differ by the known zones' offsets alone, or by the clocks'
/// offset plus the zones'. Dates are compared whole; times of day (`__TIME__`,
/// `date +%H:%M`) modulo a day. `None` when no known zones differ in offset, or when
/// the difference is neither.
fn time_shift(
    known: &KnownValues,
    (ua, va): (Option<i64>, &[u8]),
    (ub, vb): (Option<i64>, &[u8]),
) -> Option<Shift> {
    let (za, zb) = known.timezone.as_ref()?;
    let at = known
        .clock
        .map_or_else(|| chrono::Utc::now().timestamp(), |w| w.0.start);
    let zone = super::zones::utc_offset(zb, at)? - super::zones::utc_offset(za, at)?;
    if zone == 0 {
        return None;
    }
    let (diff, day) = match (ua, ub) {
        (Some(a), Some(b)) => (b - a, None),
        _ => (seconds_of_day(vb)? - seconds_of_day(va)?, Some(86_400)),
    };
    let near = |x: i64, lo: i64, hi: i64| match day {
        Some(d) => (lo - SHIFT_SLACK..=hi + SHIFT_SLACK).any(|y| (x - y).rem_euclid(d) == 0),
        None => x >= lo - SHIFT_SLACK && x <= hi + SHIFT_SLACK,
    };
    let (clock_lo, clock_hi) = known
        .clock
        .map_or((0, 0), |(wa, wb)| (wb.start - wa.end, wb.end - wa.start));
    let clock_moved = clock_lo.abs() > SHIFT_SLACK || clock_hi.abs() > SHIFT_SLACK;
    if clock_moved && near(diff - zone, clock_lo, clock_hi) && !near(diff, clock_lo, clock_hi) {
        return Some(Shift::ClockAndZone);
    }
    let run = known
        .clock
        .map_or(0, |(wa, wb)| (wa.end - wa.start).max(wb.end - wb.start));
    (near(diff - zone, -run, run) && !near(diff, -run, run)).then_some(Shift::Zone)
}

/// The seconds since midnight of the first `HH:MM` or `HH:MM:SS` in `v`.
fn seconds_of_day(v: &[u8]) -> Option<i64> {
    let digits = |x: &[u8]| -> Option<i64> {
        let [h, l] = x else { return None };
        (h.is_ascii_digit() && l.is_ascii_digit()).then(|| i64::from((h - b'0') * 10 + (l - b'0')))
    };
    (0..v.len().saturating_sub(4)).find_map(|i| {
        let hh = digits(v.get(i..i + 2)?)?;
        if v.get(i + 2) != Some(&b':') {
            return None;
        }
        let mm = digits(v.get(i + 3..i + 5)?)?;
        let ss = match (v.get(i + 5), v.get(i + 6..i + 8)) {
            (Some(b':'), Some(x)) => digits(x).unwrap_or(0),
            _ => 0,
        };
        (hh < 24 && mm < 60).then_some(hh * 3600 + mm * 60 + ss)
    })
}

/// The variation of docs/design.md section 5 that usually causes a reason.
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
            "normalise archive headers (tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --clamp-mtime --owner=0 --group=0 --numeric-owner, gzip -n, ar D, zip -X)"
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

/// Occurrences of `needle` in `hay`; for a path, only those that end where a path
/// component ends (at a `/` or a character that cannot be part of a name).
fn occurrences<'h>(
    hay: &'h [u8],
    needle: &'h [u8],
    path: bool,
) -> impl Iterator<Item = usize> + 'h {
    memchr::memmem::find_iter(hay, needle).filter(move |&pos| {
        let next = hay.get(pos + needle.len()).copied();
        !path
            || needle.ends_with(b"/")
            || !next.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    })
}

fn count(hay: &[u8], needle: &[u8], path: bool) -> usize {
    occurrences(hay, needle, path).count()
}

fn find(hay: &[u8], needle: &[u8], path: bool) -> Option<usize> {
    occurrences(hay, needle, path).next()
}

fn placeholder(index: usize, len: usize) -> Vec<u8> {
    let mut p = MARK.to_vec();
    p.push(0x10 + (index as u8 & 0x0f));
    p.resize(len.max(3), 0x02);
    p
}

/// Where placeholders stand in normalised content: (normalised start, placeholder
/// length, original start, value length), in order.
#[derive(Debug, Default)]
struct OffsetMap(Vec<(usize, usize, usize, usize)>);

impl OffsetMap {
    /// The offset in the original content of an offset in the normalised one (inside a
    /// placeholder: where its value starts).
    fn original(&self, pos: usize) -> usize {
        let n = self.0.partition_point(|seg| seg.0 <= pos);
        let Some(&(norm, norm_len, orig, orig_len)) = n.checked_sub(1).and_then(|i| self.0.get(i))
        else {
            return pos;
        };
        if pos < norm + norm_len {
            orig
        } else {
            pos - (norm + norm_len) + orig + orig_len
        }
    }
}

/// Replaces every occurrence of each needle (value, placeholder, is a path) in one pass:
/// where occurrences overlap, the earliest wins, then the longest.
fn replace_pairs<'h>(
    hay: &'h [u8],
    needles: &[(&[u8], Vec<u8>, bool)],
) -> (Cow<'h, [u8]>, OffsetMap) {
    if needles.is_empty() {
        return (Cow::Borrowed(hay), OffsetMap::default());
    }
    let mut found: Vec<(usize, usize, usize)> = Vec::new();
    for (k, (needle, _, path)) in needles.iter().enumerate() {
        found.extend(occurrences(hay, needle, *path).map(|pos| (pos, needle.len(), k)));
    }
    found.sort_by_key(|&(pos, len, _)| (pos, std::cmp::Reverse(len)));
    let mut out = Vec::with_capacity(hay.len());
    let mut map = Vec::new();
    let mut last = 0;
    for (pos, len, k) in found {
        if pos < last {
            continue;
        }
        out.extend_from_slice(&hay[last..pos]);
        let holder = &needles[k].1;
        map.push((out.len(), holder.len(), pos, len));
        out.extend_from_slice(holder);
        last = pos + len;
    }
    out.extend_from_slice(&hay[last..]);
    (Cow::Owned(out), OffsetMap(map))
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
    let mut sa: Vec<&[u8]> = la.iter().map(|l| trim_sep(l)).collect();
    let mut sb: Vec<&[u8]> = lb.iter().map(|l| trim_sep(l)).collect();
    sa.sort_unstable();
    sb.sort_unstable();
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

/// Lines deleted in one place and inserted in another (same text, both sides). Linear:
/// deleted lines are counted once, and each hunk's own deleted lines are looked up in a
/// set, so that a line replaced in place is not taken for a move.
fn moved_lines<'a>(
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
fn differing_spans(a: &[u8], b: &[u8], deadline: Instant) -> Vec<(Range<usize>, Range<usize>)> {
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

/// What makes two reasons the same for [`dedupe`].
type ReasonKey = (ReasonKind, String, String, Option<String>);

fn key(r: &Reason) -> ReasonKey {
    (r.kind, r.a.clone(), r.b.clone(), r.context.clone())
}

/// The distinct reasons found so far, up to a number after which explaining more could
/// not change the reasons kept.
struct Seen {
    keys: HashSet<ReasonKey>,
    max: usize,
}

impl Seen {
    fn new(max: usize) -> Seen {
        Seen {
            keys: HashSet::new(),
            max,
        }
    }

    fn add(&mut self, reasons: &[Reason]) {
        for r in reasons {
            if self.keys.len() <= self.max {
                self.keys.insert(key(r));
            }
        }
    }

    fn full(&self) -> bool {
        self.keys.len() > self.max
    }
}

/// Drops repeated reasons (same kind, values and context), keeping the first.
fn dedupe(reasons: &mut Vec<Reason>) {
    let mut seen = HashSet::new();
    reasons.retain(|r| seen.insert(key(r)));
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
            budget: None,
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

    fn reasons(a: &str, b: &str, known: &KnownValues) -> Vec<Reason> {
        Classifier {
            path: "f",
            known,
            text: true,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
            budget: None,
        }
        .classify(a.as_bytes(), b.as_bytes())
    }

    #[test]
    fn unrelated_absolute_paths_are_not_build_paths() {
        let k = KnownValues::default();
        // A symlink to /etc/passwd against one to /etc/shadow: no common suffix.
        assert_eq!(run("/etc/passwd", "/etc/shadow", &k), [ReasonKind::Random]);
        assert_eq!(
            run("cwd=/home/x/a\n", "cwd=/srv/y/b\n", &k),
            [ReasonKind::Random]
        );
        // A common suffix of one letter is no evidence either.
        assert!(prefix_swap(b"/a/x/b", b"/c/y/b").is_none());
    }

    #[test]
    fn a_prefix_swap_without_known_values_is_build_path() {
        let k = KnownValues::default();
        let r = reasons(
            "src /work/w/a/src/hello.c\n",
            "src /work/w/bbbbbb/src/hello.c\n",
            &k,
        );
        assert_eq!(r.len(), 1, "{r:#?}");
        assert_eq!(r[0].kind, ReasonKind::BuildPath);
        assert_eq!(
            (r[0].a.as_str(), r[0].b.as_str()),
            ("/work/w/a", "/work/w/bbbbbb")
        );
        assert_eq!((r[0].offset, r[0].offset_b), (Some(4), Some(4)));
        assert!(
            r[0].note.as_deref().unwrap().contains("/src/hello.c"),
            "{r:#?}"
        );
    }

    #[test]
    fn inferred_build_paths_attribute_strings_the_line_diff_paired_wrongly() {
        // The line diff pairs `…/a/src/hello.c` with `…/bbbbbb` (no common suffix), but
        // the prefix swap seen across the two lines attributes every occurrence.
        let k = KnownValues::default();
        let r = reasons(
            "/p/w/a/src/hello.c\n/p/w/a\n",
            "/p/w/bbbbbb\n/p/w/bbbbbb/src/hello.c\n",
            &k,
        );
        let kinds: Vec<ReasonKind> = r.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [ReasonKind::BuildPath, ReasonKind::Ordering],
            "{r:#?}"
        );
        assert_eq!(
            (r[0].a.as_str(), r[0].b.as_str()),
            ("/p/w/a", "/p/w/bbbbbb")
        );
        assert_eq!((r[0].offset, r[0].offset_b), (Some(0), Some(0)));
    }

    #[test]
    fn with_known_values_only_the_known_build_paths_are_build_path() {
        let k = KnownValues {
            build_path: Some(("/tmp/a".into(), "/tmp/bbbb".into())),
            ..KnownValues::default()
        };
        let r = reasons(
            "x /tmp/a/src y /opt/one/lib/x.so\n",
            "x /tmp/bbbb/src y /opt/two/lib/x.so\n",
            &k,
        );
        let kinds: Vec<ReasonKind> = r.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::BuildPath, ReasonKind::Random], "{r:#?}");
        assert_eq!((r[0].a.as_str(), r[0].b.as_str()), ("/tmp/a", "/tmp/bbbb"));
        assert_eq!((r[0].offset, r[0].offset_b), (Some(2), Some(2)));
        assert_eq!(r[0].variation.as_deref(), Some("build_path"));
        assert!(r[0].note.is_none());
        // A known path is not found inside a longer name.
        let r = reasons("/tmp/abc /tmp/a\n", "/tmp/abc /tmp/bbbb\n", &k);
        assert_eq!(r.len(), 1, "{r:#?}");
        assert_eq!(r[0].offset, Some(9));
    }

    #[test]
    fn offsets_after_a_known_value_of_another_length_are_in_the_original_content() {
        let k = KnownValues {
            build_path: Some(("/tmp/a".into(), "/tmp/bbbb".into())),
            timezone: Some(("UTC".into(), "Pacific/Kiritimati".into())),
            ..KnownValues::default()
        };
        let r = reasons(
            "x /tmp/a/src seed 8f3a9c zone UTC\n",
            "x /tmp/bbbb/src seed 1b2d7e zone +14\n",
            &k,
        );
        let found: Vec<(ReasonKind, Option<u64>, Option<u64>)> =
            r.iter().map(|r| (r.kind, r.offset, r.offset_b)).collect();
        assert_eq!(
            found,
            [
                (ReasonKind::BuildPath, Some(2), Some(2)),
                (ReasonKind::Random, Some(18), Some(21)),
                (ReasonKind::Timezone, Some(30), Some(33)),
            ],
            "{r:#?}"
        );
    }

    #[test]
    fn unexplained_spans_say_whether_they_look_random() {
        let k = KnownValues::default();
        let word = reasons("Heute ist Dienstag\n", "Heute ist Tuesday\n", &k);
        assert_eq!(word.len(), 1);
        assert_eq!(word[0].kind, ReasonKind::Random);
        assert_eq!(
            (word[0].a.as_str(), word[0].b.as_str()),
            ("Dienstag", "Tuesday")
        );
        assert_eq!(word[0].high_entropy, Some(false));
        assert_eq!(
            word[0].note.as_deref(),
            Some("unexplained by known values; not high-entropy")
        );
        let uuid = reasons(
            "id 3f2b8c1e-9d4a-4f6b-8e2c-1a7b9c0d5e3f\n",
            "id 0c6e2d71-5b1f-4a8e-9f3d-7e2a4b6c8d10\n",
            &k,
        );
        assert_eq!(uuid[0].high_entropy, Some(true), "{uuid:#?}");
        assert_eq!(
            uuid[0].note.as_deref(),
            Some("high-entropy (uuid): looks random")
        );
        let json = serde_json::to_value(&word[0]).unwrap();
        assert_eq!(json["high_entropy"], false);
        assert_eq!(
            json["note"],
            "unexplained by known values; not high-entropy"
        );
    }

    fn zones() -> KnownValues {
        KnownValues {
            timezone: Some(("Pacific/Kiritimati".into(), "UTC".into())),
            ..KnownValues::default()
        }
    }

    #[test]
    fn timezone_evidence_is_the_differing_bytes_with_both_offsets() {
        let k = zones();
        // "LINT" is no spelling of Pacific/Kiritimati in today's tz database, but it
        // stands where side b spells UTC.
        let r = reasons("zone LINT\n", "zone UTC\n", &k);
        assert_eq!(r.len(), 1, "{r:#?}");
        assert_eq!(r[0].kind, ReasonKind::Timezone);
        assert_eq!((r[0].a.as_str(), r[0].b.as_str()), ("LINT", "UTC"));
        assert_eq!((r[0].offset, r[0].offset_b), (Some(5), Some(5)));
        assert_eq!((r[0].line, r[0].line_b), (Some(1), Some(1)));
        assert_eq!(r[0].variation.as_deref(), Some("timezone"));
        let json = serde_json::to_value(&r[0]).unwrap();
        assert_eq!(
            (json["offset"].as_u64(), json["offset_b"].as_u64()),
            (Some(5), Some(5))
        );
    }

    #[test]
    fn zone_abbreviations_and_numeric_offsets_are_timezone() {
        if !std::path::Path::new("/usr/share/zoneinfo/Pacific/Kiritimati").exists() {
            eprintln!("skipped: no zoneinfo for Pacific/Kiritimati");
            return;
        }
        let k = zones();
        for (a, b, va, vb) in [
            ("zone +14\n", "zone UTC\n", "+14", "UTC"),
            ("offset +1400 ok\n", "offset +0000 ok\n", "+1400", "+0000"),
            ("tz=+14:00;\n", "tz=+00:00;\n", "+14:00", "+00:00"),
            (
                "in Pacific/Kiritimati\n",
                "in UTC\n",
                "Pacific/Kiritimati",
                "UTC",
            ),
        ] {
            let r = reasons(a, b, &k);
            assert_eq!(r.len(), 1, "{a}: {r:#?}");
            assert_eq!(r[0].kind, ReasonKind::Timezone, "{a}");
            assert_eq!((r[0].a.as_str(), r[0].b.as_str()), (va, vb), "{a}");
        }
        // `date` in two zones: the zone is `timezone`, and so is the hour, moved by
        // exactly the zones' offsets.
        let r = reasons(
            "Thu Nov 26 23:34:11 +14 2026\n",
            "Thu Nov 26 09:34:11 UTC 2026\n",
            &k,
        );
        let kinds: Vec<ReasonKind> = r.iter().map(|r| r.kind).collect();
        assert!(kinds.iter().all(|k| *k == ReasonKind::Timezone), "{r:#?}");
        let tz = r.iter().find(|r| r.a == "+14").unwrap();
        assert_eq!((tz.a.as_str(), tz.b.as_str()), ("+14", "UTC"));
        assert_eq!((tz.offset, tz.offset_b), (Some(20), Some(20)));
        // A number that merely contains the offset is not a zone.
        assert_eq!(
            run("build +145\n", "build UTCX\n", &k),
            [ReasonKind::Random]
        );
    }

    #[test]
    fn a_set_printed_in_hash_order_is_ordering() {
        let k = KnownValues::default();
        let a = "theta eta gamma zeta alpha epsilon delta beta\n";
        let b = "gamma epsilon zeta delta eta theta alpha beta\n";
        assert_eq!(run(a, b, &k), [ReasonKind::Ordering]);
        assert_eq!(
            reasons(a, b, &k)[0].remedy.as_deref(),
            Some("sort it, or set PYTHONHASHSEED (Python set/dict order of strings)")
        );
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
            budget: None,
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
            budget: None,
        };
        let a = b"\x7fELF\0\0 alpha beta gamma\0\x01\x02";
        let b = b"\x7fELF\0\0 gamma alpha beta\0\x01\x02";
        let kinds: Vec<_> = c.classify(a, b).into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::Ordering]);
    }

    #[test]
    fn marker_bytes_in_content_without_known_values_do_not_hide_a_difference() {
        let k = KnownValues::default();
        let c = Classifier {
            path: "f",
            known: &k,
            text: false,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
            budget: None,
        };
        // The bytes of a placeholder's marker right before the only difference.
        let a = b"\x7fELF\x00\x01\x02XYZ\x00tail";
        let b = b"\x7fELF\x00\x01\x02QRS\x00tail";
        let kinds: Vec<_> = c.classify(a, b).into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::Random]);
    }

    #[test]
    fn other_spans_are_random() {
        let k = KnownValues::default();
        assert_eq!(
            run("seed 8f3a9c\n", "seed 1b2d7e\n", &k),
            [ReasonKind::Random]
        );
        let r = reasons("seed 8f3a9c\n", "seed 1b2d7e\n", &k);
        assert_eq!(r[0].high_entropy, Some(true));
        assert_eq!(
            r[0].note.as_deref(),
            Some("high-entropy (hex): looks random")
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
            budget: None,
        };
        let kinds: Vec<_> = c.classify(&a, &b).into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [ReasonKind::Timestamp]);
    }
}

#[cfg(test)]
mod shift_tests {
    use super::*;
    use crate::diff::TimeWindow;

    /// Build a at 23:30 UTC, build b with the clock pushed by `push` seconds in
    /// Pacific/Kiritimati (UTC+14).
    fn known(push: i64) -> KnownValues {
        let start = 1_796_340_600; // 2026-12-03 23:30:00 UTC
        KnownValues {
            clock: Some((
                TimeWindow {
                    start,
                    end: start + 1,
                },
                TimeWindow {
                    start: start + push,
                    end: start + push + 1,
                },
            )),
            timezone: Some(("UTC".into(), "Pacific/Kiritimati".into())),
            ..KnownValues::default()
        }
    }

    fn kinds(a: &str, b: &str, k: &KnownValues) -> Vec<(ReasonKind, Option<String>)> {
        let c = Classifier {
            path: "t",
            known: k,
            text: true,
            base_offset: 0,
            base_offset_b: 0,
            context: None,
            limit: 50,
            budget: None,
        };
        let mut out: Vec<_> = c
            .classify(a.as_bytes(), b.as_bytes())
            .into_iter()
            .map(|r| (r.kind, r.variation))
            .collect();
        let swapped = k.swapped();
        let c = Classifier {
            known: &swapped,
            ..c
        };
        let mirrored: Vec<_> = c
            .classify(b.as_bytes(), a.as_bytes())
            .into_iter()
            .map(|r| (r.kind, r.variation))
            .collect();
        assert_eq!(out, mirrored, "the same either way round");
        out.dedup();
        out
    }

    #[test]
    fn a_time_of_day_moved_by_the_zone_alone_is_timezone() {
        assert_eq!(
            kinds("23:30\n", "13:30\n", &known(0)),
            [(ReasonKind::Timezone, Some("timezone".into()))]
        );
    }

    #[test]
    fn a_time_of_day_moved_by_clock_and_zone_is_both() {
        // Pushed 7 hours (and whole days), then 14 hours east: 23:30 + 21 h.
        let push = 1888 * 86_400 + 7 * 3600;
        assert_eq!(
            kinds("23:30\n", "20:30\n", &known(push)),
            [(ReasonKind::Timestamp, Some("clock, timezone".into()))]
        );
    }

    #[test]
    fn a_time_of_day_moved_by_the_clock_alone_is_clock() {
        let push = 1888 * 86_400 + 7 * 3600;
        assert_eq!(
            kinds("23:30\n", "06:30\n", &known(push)),
            [(ReasonKind::Timestamp, Some("clock".into()))]
        );
    }
}
