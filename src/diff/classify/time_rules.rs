//! Dates and times in a differing span: the date that contains the span, and which
//! variation moved it: the clock (a time inside a build's window), the zone (moved by
//! exactly the two known zones' offsets), or both; and raw epoch values in binary
//! content.

use std::ops::Range;

use crate::diff::options::KnownValues;
use crate::diff::timestamps::TimeMatch;
use crate::diff::zones;
use crate::model::vocabulary::Variation;

/// The timestamp match that contains the span, the longest if several do.
pub(super) fn containing<'m>(matches: &'m [TimeMatch], r: &Range<usize>) -> Option<&'m TimeMatch> {
    matches
        .iter()
        .filter(|m| m.range.start <= r.start && r.end <= m.range.end && !m.range.is_empty())
        .max_by_key(|m| m.range.len())
}

/// The variation a timestamp pair comes from: `clock` unless clock windows are known and
/// neither time lies in them.
pub(super) fn clock_variation(
    known: &KnownValues,
    a: Option<i64>,
    b: Option<i64>,
) -> Option<String> {
    let Some((wa, wb)) = known.clock else {
        return Some(Variation::Clock.name().into());
    };
    // A date without a zone may be local time: allow a day of slack.
    const SLACK: i64 = 26 * 3600;
    let inside = |t: Option<i64>| t.is_some_and(|t| wa.contains(t, SLACK) || wb.contains(t, SLACK));
    (inside(a) || inside(b) || (a.is_none() && b.is_none())).then(|| Variation::Clock.name().into())
}

/// What moved a time: the zone alone, or the clock and the zone together.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Shift {
    Zone,
    ClockAndZone,
}

/// Seconds allowed between a shift and the offsets that explain it: a step's own run.
const SHIFT_SLACK: i64 = 120;

/// Whether the two times differ by the known zones' offsets alone, or by the clocks'
/// offset plus the zones'. Dates are compared whole; times of day (`__TIME__`,
/// `date +%H:%M`) modulo a day. `None` when no known zones differ in offset, or when
/// the difference is neither.
pub(super) fn time_shift(
    known: &KnownValues,
    (ua, va): (Option<i64>, &[u8]),
    (ub, vb): (Option<i64>, &[u8]),
) -> Option<Shift> {
    let (za, zb) = known.timezone.as_ref()?;
    let at = known
        .clock
        .map_or_else(|| chrono::Utc::now().timestamp(), |w| w.0.start);
    let zone = zones::utc_offset(zb, at)? - zones::utc_offset(za, at)?;
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

/// A raw little- or big-endian 32/64-bit epoch value covering the span on both sides,
/// each inside a build's window: the two times. Only with known clock windows: most
/// 4-byte values read as some time in 2000–2100.
pub(super) fn epoch_in_windows(
    known: &KnownValues,
    la: &[u8],
    ra: &Range<usize>,
    lb: &[u8],
    rb: &Range<usize>,
) -> Option<(i64, i64)> {
    let (wa, wb) = known.clock?;
    let in_windows = |t: i64| wa.contains(t, 60) || wb.contains(t, 60);
    if ra != rb || ra.is_empty() || ra.len() > 8 {
        return None;
    }
    for width in [4usize, 8] {
        let lo = ra.end.saturating_sub(width);
        for start in lo..=ra.start {
            let (Some(xa), Some(xb)) = (la.get(start..start + width), lb.get(start..start + width))
            else {
                continue;
            };
            for (va, vb) in [(le(xa), le(xb)), (be(xa), be(xb))] {
                if in_windows(va) && in_windows(vb) {
                    return Some((va, vb));
                }
            }
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

#[cfg(test)]
mod shift_tests {
    use super::*;
    use crate::diff::classify::Classifier;
    use crate::diff::TimeWindow;
    use crate::model::vocabulary::ReasonKind;

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
