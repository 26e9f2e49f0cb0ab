//! The classifier's state: what is being classified and how its reasons are reported
//! ([`Classifier`]), and one classification pass over it ([`Run`]: the known pairs
//! replaced by placeholders, the spellings of the two known zones, the paths seen, the
//! budget). The pass's rules are in `alignment.rs` (lines) and `spans.rs` (spans), the
//! entry points in `mod.rs`.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use super::build_path::PathsSeen;
use super::placeholders::{self, line_of, KnownPair, OffsetMap, MARK};
use super::remedies::remedy;
use super::zone_rules::{zone_spellings, ZoneSpellings};
use crate::diff::budget::{self, Budget, Held};
use crate::diff::items::Reason;
use crate::diff::options::KnownValues;
use crate::model::vocabulary::{ReasonKind, Variation};

/// What is being classified and how to report it. [`Classifier::classify`] (in
/// `classify/mod.rs`) explains a pair of contents.
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

impl Classifier<'_> {
    /// A reason of `kind` found in this item, with the variation that usually causes it
    /// and the generic remedy; the caller places it and says more.
    pub(super) fn reason(&self, kind: ReasonKind, a: String, b: String) -> Reason {
        Reason {
            kind,
            path: self.path.to_string(),
            offset: None,
            offset_b: None,
            line: None,
            line_b: None,
            a,
            b,
            variation: kind.variation().map(Variation::name).map(str::to_string),
            remedy: remedy(kind).map(str::to_string),
            context: self.context.clone(),
            high_entropy: None,
            note: None,
        }
    }
}

/// One classification pass: the pairs replaced by placeholders, the spellings of the two
/// known time zones, and what the pass learnt about paths.
pub(super) struct Run<'c> {
    pub(super) c: &'c Classifier<'c>,
    pub(super) pairs: Vec<KnownPair>,
    pub(super) zones: Option<ZoneSpellings>,
    pub(super) heuristic: bool,
    pub(super) paths: RefCell<PathsSeen>,
    /// Where placeholders stand in the normalised content of sides a and b.
    pub(super) maps: RefCell<[OffsetMap; 2]>,
    /// When the explanation must stop.
    pub(super) deadline: Instant,
    /// Lines before the part split into lines (the common first lines left out).
    pub(super) line_base: Cell<usize>,
    /// What a budget left unexplained.
    pub(super) notes: RefCell<Vec<String>>,
    /// Strings holding a known value came out in another order: a consequence of the
    /// value's other length, said once on the value's reason.
    pub(super) reordered_by_value: Cell<bool>,
}

impl<'c> Run<'c> {
    pub(super) fn new(
        c: &'c Classifier<'c>,
        mut pairs: Vec<KnownPair>,
        heuristic: bool,
        deadline: Instant,
    ) -> Run<'c> {
        // Longest first: a build path may contain the user name.
        pairs.sort_by_key(|p| std::cmp::Reverse(p.a.len().max(p.b.len())));
        let zones = zone_spellings(c.known);
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

    pub(super) fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Notes that the time ran out with `what` left unexplained (once per item).
    pub(super) fn note_time(&self, what: &str) {
        let note = format!("{} (time): {what} (--max-time)", budget::NOT_COMPARED);
        let mut notes = self.notes.borrow_mut();
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// Holds `n` bytes of the memory budget while the guard lives; `None` if they do
    /// not fit (and a note saying what was not done).
    pub(super) fn hold(&self, n: u64, what: &str) -> Option<Option<Held>> {
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

    /// Whether a reordering of `a` into `b` in binary content moves strings holding a
    /// known value: a string table sorted or hashed by content (`.debug_line_str`,
    /// `.strtab`) orders its strings anew when one grows, so the order follows from the
    /// value. Remembered, so that the value's reason says so. Lines of text that moved
    /// are an `ordering` of their own, paths or not.
    pub(super) fn reordered_by_known_value(&self, a: &[u8], b: &[u8]) -> bool {
        if self.c.text {
            return false;
        }
        let replaced = self.maps.borrow().iter().any(|m| !m.is_empty());
        let holds = |x: &[u8]| memchr::memmem::find(x, &MARK).is_some();
        let by_value = replaced && (holds(a) || holds(b));
        if by_value {
            self.reordered_by_value.set(true);
        }
        by_value
    }

    /// [`Run::reordered_by_known_value`] for the lines of a reordering.
    pub(super) fn lines_reordered_by_known_value(&self, la: &[&[u8]], lb: &[&[u8]]) -> bool {
        let moved = |x: &[&[u8]], y: &[&[u8]]| -> bool {
            x.iter()
                .filter(|l| !y.contains(l))
                .chain(x.iter().zip(y).filter(|(p, q)| p != q).map(|(p, _)| p))
                .any(|l| self.reordered_by_known_value(l, b""))
        };
        moved(la, lb) || moved(lb, la)
    }

    pub(super) fn reason(&self, kind: ReasonKind, a: String, b: String) -> Reason {
        self.c.reason(kind, a, b)
    }

    /// Replaces differential occurrences of known values by shared placeholders (see
    /// [`placeholders::normalize`]), remembers where they were, so that offsets found in
    /// the normalised content are reported in the original one, and gives the reasons of
    /// the values replaced.
    pub(super) fn normalize<'d>(
        &self,
        a: &'d [u8],
        b: &'d [u8],
    ) -> (Cow<'d, [u8]>, Cow<'d, [u8]>, Vec<Reason>) {
        let c = self.c;
        let normalized = placeholders::normalize(&self.pairs, a, b);
        let reasons = normalized
            .replaced
            .iter()
            .map(|found| {
                let pair = found.pair;
                let mut r = self.reason(
                    pair.kind,
                    String::from_utf8_lossy(&pair.a).into(),
                    String::from_utf8_lossy(&pair.b).into(),
                );
                r.note = pair.note.clone();
                r.offset = found.first_a.map(|o| c.base_offset + o as u64);
                r.line = found.first_a.filter(|_| c.text).map(|o| line_of(a, o));
                r.offset_b = found.first_b.map(|o| c.base_offset_b + o as u64);
                r.line_b = found.first_b.filter(|_| c.text).map(|o| line_of(b, o));
                r
            })
            .collect();
        *self.maps.borrow_mut() = normalized.maps;
        (normalized.a, normalized.b, reasons)
    }

    /// The reported offset of side `side` (0 for a) for an offset in normalised content.
    pub(super) fn offset(&self, side: usize, normalized: usize) -> u64 {
        let base = if side == 0 {
            self.c.base_offset
        } else {
            self.c.base_offset_b
        };
        base + self.maps.borrow()[side].original(normalized) as u64
    }
}

/// What makes two reasons the same for [`dedupe`].
type ReasonKey = (ReasonKind, String, String, Option<String>);

fn key(r: &Reason) -> ReasonKey {
    (r.kind, r.a.clone(), r.b.clone(), r.context.clone())
}

/// The distinct reasons found so far, up to a number after which explaining more could
/// not change the reasons kept.
pub(super) struct Seen {
    pub(super) keys: HashSet<ReasonKey>,
    pub(super) max: usize,
}

impl Seen {
    pub(super) fn new(max: usize) -> Seen {
        Seen {
            keys: HashSet::new(),
            max,
        }
    }

    pub(super) fn add(&mut self, reasons: &[Reason]) {
        for r in reasons {
            if self.keys.len() <= self.max {
                self.keys.insert(key(r));
            }
        }
    }

    pub(super) fn full(&self) -> bool {
        self.keys.len() > self.max
    }
}

/// Drops repeated reasons (same kind, values and context), keeping the first.
pub(super) fn dedupe(reasons: &mut Vec<Reason>) {
    let mut seen = HashSet::new();
    reasons.retain(|r| seen.insert(key(r)));
}
