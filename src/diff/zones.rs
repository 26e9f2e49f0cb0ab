//! UTC offsets of time zones, read from the system's zoneinfo files (TZif, RFC 8536), so
//! that a local time without zone (zip's DOS time) can be matched against the two time
//! zones `check` used.
//!
//! Only what attribution needs: the offset of a named zone (`Pacific/Kiritimati`, `UTC`)
//! or of a POSIX `TZ` value without daylight saving time (`UTC0`, `<+14>-14`) at a given
//! time. When the answer is not certain (an unknown zone, a daylight-saving rule past the
//! last listed transition) it is `None`, and nothing is attributed from it.

use std::path::Path;

/// Where zoneinfo files are.
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// The offset from UTC, in seconds east, of `zone` at unix time `at`; `None` if unknown.
pub fn utc_offset(zone: &str, at: i64) -> Option<i64> {
    let zone = zone.trim().trim_start_matches(':');
    if zone.is_empty() || matches!(zone, "UTC" | "GMT" | "Z" | "UCT" | "Etc/UTC") {
        return Some(0);
    }
    if let Some(off) = posix_fixed_offset(zone) {
        return Some(off);
    }
    if zone.split('/').any(|part| part.is_empty() || part == "..") {
        return None;
    }
    let data = std::fs::read(Path::new(ZONEINFO).join(zone)).ok()?;
    tzif_offset(&data, at)
}

/// The offset of a POSIX `TZ` value with no daylight-saving part, such as `UTC0`, `EST5`
/// or `<+14>-14` (POSIX counts hours west of UTC, so the sign flips).
fn posix_fixed_offset(tz: &str) -> Option<i64> {
    let rest = if let Some(quoted) = tz.strip_prefix('<') {
        &quoted[quoted.find('>')? + 1..]
    } else {
        let name_len = tz.bytes().take_while(u8::is_ascii_alphabetic).count();
        if name_len < 3 {
            return None;
        }
        &tz[name_len..]
    };
    let (sign, digits) = match rest.as_bytes().first()? {
        b'-' => (-1, &rest[1..]),
        b'+' => (1, &rest[1..]),
        _ => (1, rest),
    };
    let mut secs = 0i64;
    let mut parts = 0;
    for (i, part) in digits.split(':').enumerate() {
        if i > 2 || part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let n: i64 = part.parse().ok()?;
        secs += n * [3600, 60, 1][i];
        parts += 1;
    }
    (parts > 0).then_some(-sign * secs)
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The offset at `at` from the contents of a TZif file.
fn tzif_offset(data: &[u8], at: i64) -> Option<i64> {
    if data.get(..4)? != b"TZif" {
        return None;
    }
    let version = *data.get(4)?;
    let counts = |base: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (i, slot) in c.iter_mut().enumerate() {
            *slot = be32(data, base + 20 + 4 * i)? as usize;
        }
        Some(c)
    };
    let [isut, isstd, leap, times, types, chars] = counts(0)?;
    let v1_len = times * 5 + types * 6 + chars + leap * 8 + isstd + isut;
    let (base, width) = if version >= b'2' {
        (44 + v1_len, 8)
    } else {
        (0, 4)
    };
    let [isut, isstd, leap, times, types, chars] = counts(base)?;
    let body = base + 44;
    let transition = |i: usize| -> Option<i64> {
        let at = body + i * width;
        let b = data.get(at..at + width)?;
        Some(if width == 8 {
            i64::from_be_bytes(b.try_into().ok()?)
        } else {
            i64::from(i32::from_be_bytes(b.try_into().ok()?))
        })
    };
    let index_at = body + times * width;
    let types_at = index_at + times;
    let offset_of = |t: usize| -> Option<i64> {
        (t < types).then_some(())?;
        Some(i64::from(be32(data, types_at + 6 * t)? as i32))
    };
    // The last transition at or before `at`.
    let mut last = None;
    for i in 0..times {
        if transition(i)? <= at {
            last = Some(i);
        } else {
            break;
        }
    }
    let Some(i) = last else {
        // Before the first transition: the first type.
        return offset_of(0);
    };
    if i + 1 == times && version >= b'2' {
        // Past the listed transitions the footer's rule applies: trust it only when it has
        // no daylight saving time.
        let footer_at = types_at + types * 6 + chars + leap * 12 + isstd + isut;
        let footer = data.get(footer_at..)?;
        let text = std::str::from_utf8(footer).ok()?.trim_matches('\n');
        if !text.is_empty() {
            return posix_fixed_offset(text);
        }
    }
    offset_of(usize::from(*data.get(index_at + i)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_values_without_dst() {
        assert_eq!(posix_fixed_offset("UTC0"), Some(0));
        assert_eq!(posix_fixed_offset("EST5"), Some(-5 * 3600));
        assert_eq!(posix_fixed_offset("<+14>-14"), Some(14 * 3600));
        assert_eq!(posix_fixed_offset("<+0530>-5:30"), Some(5 * 3600 + 1800));
        assert_eq!(posix_fixed_offset("CET-1CEST,M3.5.0,M10.5.0/3"), None);
        assert_eq!(posix_fixed_offset("Pacific/Kiritimati"), None);
    }

    #[test]
    fn named_zones_from_zoneinfo() {
        assert_eq!(utc_offset("UTC", 1_795_000_000), Some(0));
        if Path::new(ZONEINFO).join("Pacific/Kiritimati").exists() {
            assert_eq!(
                utc_offset("Pacific/Kiritimati", 1_795_000_000),
                Some(14 * 3600)
            );
            assert_eq!(
                utc_offset("Pacific/Kiritimati", 1_958_000_000),
                Some(14 * 3600)
            );
        }
        assert_eq!(utc_offset("../../etc/passwd", 0), None);
        assert_eq!(utc_offset("No/Such_Zone", 0), None);
    }
}
