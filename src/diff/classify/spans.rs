//! The span rules: why one differing span of a line (or of a window of binary content)
//! differs. A span inside a placeholder is explained already; one naming a known zone is
//! `timezone`; one inside a date on both sides a `timestamp` (or `timezone`, when the
//! zones alone moved it); a prefix swap of two paths is `build_path` when no values are
//! known; a raw epoch in binary content a `timestamp`; the rest `random`. The same words
//! in another order are `ordering`.

use std::ops::Range;

use super::build_path::prefix_swap;
use super::classifier::Run;
use super::lines::{differing_spans, same_words_reordered, MAX_SPAN_DIFF};
use super::placeholders::touches_placeholder;
use super::remedies::WORD_ORDER_REMEDY;
use super::time_rules::{clock_variation, containing, epoch_in_windows, time_shift, Shift};
use super::tokens::{
    blank, newlines, show_value, shown_value, trim_sep, trim_ws, widen, words, SHOW,
};
use super::zone_rules::{counterpart, spelling_in};
use crate::diff::entropy;
use crate::diff::escape::escape_short;
use crate::diff::items::Reason;
use crate::diff::timestamps::{self, TimeMatch};
use crate::model::vocabulary::{ReasonKind, Variation};

/// Where a line pair starts on each side: byte offsets and 0-based line indexes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Loc {
    pub(super) off_a: usize,
    pub(super) off_b: usize,
    pub(super) line_a: usize,
    pub(super) line_b: usize,
}

/// A reason and where its two values start, relative to the line (or window) explained.
pub(super) struct Found {
    pub(super) reason: Reason,
    pub(super) at_a: usize,
    pub(super) at_b: usize,
}

impl Run<'_> {
    /// `ordering` for one line (or binary segment) holding the same words in another
    /// order, as a hash set or a directory listing printed on one line gives. The evidence
    /// is both lines, and the context says that the words moved.
    pub(super) fn word_order_reason(&self, la: &[u8], lb: &[u8]) -> Reason {
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

    pub(super) fn ordering_reason(&self, la: &[&[u8]], lb: &[&[u8]]) -> Reason {
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

    /// Classifies one differing line (or blob) pair, located by `loc`.
    pub(super) fn classify_pair(&self, la: &[u8], lb: &[u8], loc: Loc) -> Vec<Reason> {
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
    pub(super) fn explain_span(
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
        let replaced = self.maps.borrow().iter().any(|m| !m.is_empty());
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
            self.paths.borrow_mut().remember(tok_a, tok_b);
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
            if let Some(r) = self.epoch_reason(la, ra, lb, rb) {
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
        r.variation = Some(Variation::Timezone.name().into());
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
                r.variation = Some(Variation::Timezone.name().into());
            }
            Some(Shift::ClockAndZone) => {
                r.variation = Some(format!(
                    "{}, {}",
                    Variation::Clock.name(),
                    Variation::Timezone.name()
                ))
            }
            None => {}
        }
        r
    }

    /// `timestamp` for a raw epoch value covering the span in binary content (see
    /// [`epoch_in_windows`]).
    fn epoch_reason(
        &self,
        la: &[u8],
        ra: &Range<usize>,
        lb: &[u8],
        rb: &Range<usize>,
    ) -> Option<Reason> {
        let (va, vb) = epoch_in_windows(self.c.known, la, ra, lb, rb)?;
        let mut r = self.reason(
            ReasonKind::Timestamp,
            timestamps::format_unix(va),
            timestamps::format_unix(vb),
        );
        r.variation = clock_variation(self.c.known, Some(va), Some(vb));
        Some(r)
    }
}
