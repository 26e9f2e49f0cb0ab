//! Time zones in a differing span: the spellings of each side's known zone (its name,
//! abbreviations, UTC offsets, as `zones.rs` lists them), found where they stand as a
//! word of their own, and the token standing in their place on the other side.

use std::ops::Range;
use std::sync::Arc;

use super::tokens::widen;
use crate::diff::options::KnownValues;
use crate::diff::zones;

/// The spellings of the known zone of side a and of side b.
pub(super) type ZoneSpellings = (Arc<Vec<String>>, Arc<Vec<String>>);

/// The spellings of each side's known zone that the other side's zone does not share:
/// the names in use today and, with known clocks, during each build. `None` when no two
/// different zones are known, or when they share every spelling.
pub(super) fn zone_spellings(known: &KnownValues) -> Option<ZoneSpellings> {
    known.timezone.as_ref().and_then(|(za, zb)| {
        if za == zb {
            return None;
        }
        // The names in use today and, with known clocks, during each build (a
        // zone with daylight saving time has two).
        let today = chrono::Utc::now().timestamp() / 86_400 * 86_400;
        let times = |side: usize| -> Vec<i64> {
            match known.clock {
                Some(w) => {
                    let w = if side == 0 { w.0 } else { w.1 };
                    vec![w.start, w.end, today]
                }
                None => vec![today],
            }
        };
        let (mut xa, mut xb) = (
            zones::aliases(za, &times(0)).to_vec(),
            zones::aliases(zb, &times(1)).to_vec(),
        );
        // A spelling both zones share (two zones at one offset) tells nothing.
        let common: Vec<String> = xa.iter().filter(|s| xb.contains(s)).cloned().collect();
        xa.retain(|s| !common.contains(s));
        xb.retain(|s| !common.contains(s));
        (!xa.is_empty() || !xb.is_empty()).then(|| (Arc::new(xa), Arc::new(xb)))
    })
}

/// The spelling of a zone (from `spellings`, longest first) that overlaps the span `r`
/// of `line`, standing as a word of its own: `+14` is not found in `+145` nor in the
/// `+14:00` of an ISO date's offset (a digit before it), `UTC` not in `UTCX`.
pub(super) fn spelling_in(
    line: &[u8],
    r: &Range<usize>,
    spellings: &[String],
) -> Option<Range<usize>> {
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
pub(super) fn counterpart(
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
