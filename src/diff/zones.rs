//! Time zones read from the system's zoneinfo files (TZif, RFC 8536): the UTC offset of
//! a zone at a given time, so that a local time without zone (zip's DOS time) can be
//! matched against the two time zones `check` used, and the names a zone is written as
//! (`Pacific/Kiritimati`, its abbreviation `+14`, the offsets `+14`, `+1400`, `+14:00`), so
//! that a differing span that names one of the two known zones is `timezone`.
//!
//! Only what attribution needs. When an answer is not certain (an unknown zone, a
//! daylight-saving rule past the last listed transition) it is `None`, and nothing is
//! attributed from it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

/// Where zoneinfo files are when `TZDIR` does not say.
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// Names that mean UTC itself.
const UTC_NAMES: [&str; 6] = ["UTC", "GMT", "Z", "UCT", "Etc/UTC", "Etc/GMT"];

/// The zoneinfo directory: `$TZDIR` (as the C library reads it), else the usual place.
fn zoneinfo_dir() -> PathBuf {
    std::env::var_os("TZDIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(ZONEINFO), PathBuf::from)
}

/// The offset from UTC, in seconds east, of `zone` at unix time `at`; `None` if unknown.
pub fn utc_offset(zone: &str, at: i64) -> Option<i64> {
    let zone = zone.trim().trim_start_matches(':');
    if zone.is_empty() || UTC_NAMES.contains(&zone) {
        return Some(0);
    }
    if let Some(off) = posix_fixed_offset(zone) {
        return Some(off);
    }
    load(zone)?.offset_at(at)
}

/// The ways a text may name `zone` at the times `at` (unix seconds): the zone's own
/// name, its abbreviations then in use (`CET`, `CEST`, `+14`), and its UTC offsets as
/// `+14`, `+1400` and `+14:00`. Longest first; empty if the zone is unknown.
pub fn aliases(zone: &str, at: &[i64]) -> Arc<Vec<String>> {
    type Cache = Mutex<HashMap<(String, Vec<i64>), Arc<Vec<String>>>>;
    static CACHE: LazyLock<Cache> = LazyLock::new(Default::default);
    let key = (zone.to_string(), at.to_vec());
    if let Some(found) = CACHE.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return found;
    }
    let found = Arc::new(compute_aliases(zone, at));
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() > 256 {
            cache.clear();
        }
        cache.insert(key, found.clone());
    }
    found
}

fn compute_aliases(zone: &str, at: &[i64]) -> Vec<String> {
    let zone = zone.trim().trim_start_matches(':');
    let Some((abbreviations, offsets)) = names(zone, at) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if s.len() >= 2 && !out.contains(&s) {
            out.push(s);
        }
    };
    add(zone.to_string());
    for a in abbreviations {
        add(a);
    }
    for off in offsets {
        for form in offset_forms(off) {
            add(form);
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// `+14`, `+1400`, `+14:00` for 14 hours east; `+0530`, `+05:30` for 5.5 hours (a bare
/// hour would be a different offset).
fn offset_forms(secs_east: i64) -> Vec<String> {
    let sign = if secs_east < 0 { '-' } else { '+' };
    let abs = secs_east.unsigned_abs();
    let (h, m) = (abs / 3600, abs % 3600 / 60);
    let mut forms = vec![
        format!("{sign}{h:02}{m:02}"),
        format!("{sign}{h:02}:{m:02}"),
    ];
    if m == 0 {
        forms.push(format!("{sign}{h:02}"));
    }
    forms
}

/// The abbreviations and offsets of `zone` in use at the times `at`, and those of its
/// current rule (the TZif footer).
fn names(zone: &str, at: &[i64]) -> Option<(Vec<String>, Vec<i64>)> {
    if zone.is_empty() || UTC_NAMES.contains(&zone) {
        return Some((vec!["UTC".into(), "GMT".into()], vec![0]));
    }
    if let Some(p) = parse_posix(zone) {
        let mut abbr = vec![p.std.0.clone()];
        let mut offs = vec![p.std.1];
        if let Some((name, off)) = p.dst {
            abbr.push(name);
            offs.push(off);
        }
        return Some((abbr, offs));
    }
    let tz = load(zone)?;
    let (mut abbr, mut offs) = (Vec::new(), Vec::new());
    for &t in at {
        if let Some(ty) = tz.type_at(t) {
            abbr.push(ty.abbr.clone());
            offs.push(ty.offset);
        }
    }
    if let Some(p) = tz.footer.as_deref().and_then(parse_posix) {
        abbr.push(p.std.0);
        offs.push(p.std.1);
        if let Some((name, off)) = p.dst {
            abbr.push(name);
            offs.push(off);
        }
    }
    // "LMT" (local mean time) and empty names say nothing about this zone.
    abbr.retain(|a| !a.is_empty() && a != "LMT");
    Some((abbr, offs))
}

/// A POSIX `TZ` value: the standard time's name and offset (seconds east), and the
/// daylight-saving time's, if any (its rule is not read).
#[derive(Debug, PartialEq, Eq)]
struct PosixTz {
    std: (String, i64),
    dst: Option<(String, i64)>,
}

/// Parses `std offset [dst [offset]] [,rule]`, such as `UTC0`, `EST5EDT,M3.2.0,M11.1.0`
/// or `<+14>-14` (POSIX counts hours west of UTC, so the sign flips).
fn parse_posix(tz: &str) -> Option<PosixTz> {
    let (std_name, rest) = posix_name(tz)?;
    let (std_west, rest) = posix_offset(rest)?;
    let std = (std_name, -std_west);
    if rest.is_empty() {
        return Some(PosixTz { std, dst: None });
    }
    let (dst_name, rest) = posix_name(rest)?;
    let (dst_off, rest) = match posix_offset(rest) {
        Some((west, rest)) => (-west, rest),
        None => (std.1 + 3600, rest),
    };
    if !(rest.is_empty() || rest.starts_with(',')) {
        return None;
    }
    Some(PosixTz {
        std,
        dst: Some((dst_name, dst_off)),
    })
}

/// A zone name: `<...>` or at least three letters.
fn posix_name(s: &str) -> Option<(String, &str)> {
    if let Some(quoted) = s.strip_prefix('<') {
        let end = quoted.find('>')?;
        return Some((quoted[..end].to_string(), &quoted[end + 1..]));
    }
    let n = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    (n >= 3).then(|| (s[..n].to_string(), &s[n..]))
}

/// An offset `[+-]hh[:mm[:ss]]` in seconds west, and the rest of the text.
fn posix_offset(s: &str) -> Option<(i64, &str)> {
    let (sign, body) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let len = body
        .bytes()
        .take_while(|c| c.is_ascii_digit() || *c == b':')
        .count();
    let (digits, rest) = body.split_at(len);
    let mut secs = 0i64;
    for (i, part) in digits.split(':').enumerate() {
        if i > 2 || part.is_empty() || part.len() > 3 {
            return None;
        }
        secs += part.parse::<i64>().ok()? * [3600, 60, 1][i];
    }
    Some((sign * secs, rest))
}

/// The offset of a POSIX `TZ` value with no daylight-saving part, such as `UTC0`, `EST5`
/// or `<+14>-14`.
fn posix_fixed_offset(tz: &str) -> Option<i64> {
    match parse_posix(tz)? {
        PosixTz { std, dst: None } => Some(std.1),
        _ => None,
    }
}

/// One local time type of a TZif file.
#[derive(Debug, Clone)]
struct TimeType {
    offset: i64,
    abbr: String,
}

/// What a TZif file says: transitions, their local time types, and the rule after them.
#[derive(Debug)]
struct Tzif {
    transitions: Vec<i64>,
    indexes: Vec<u8>,
    types: Vec<TimeType>,
    footer: Option<String>,
    /// Whether the footer applies past the last transition (version 2 and later).
    has_footer: bool,
}

/// Reads the zoneinfo file of a zone name such as `Pacific/Kiritimati`.
fn load(zone: &str) -> Option<Tzif> {
    if zone.starts_with('/') || zone.split('/').any(|part| part.is_empty() || part == "..") {
        return None;
    }
    let data = std::fs::read(zoneinfo_dir().join(zone)).ok()?;
    parse_tzif(&data)
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn parse_tzif(data: &[u8]) -> Option<Tzif> {
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
    let mut transitions = Vec::with_capacity(times.min(4096));
    for i in 0..times {
        let at = body + i * width;
        let b = data.get(at..at + width)?;
        transitions.push(if width == 8 {
            i64::from_be_bytes(b.try_into().ok()?)
        } else {
            i64::from(i32::from_be_bytes(b.try_into().ok()?))
        });
    }
    let index_at = body + times * width;
    let indexes = data.get(index_at..index_at + times)?.to_vec();
    let types_at = index_at + times;
    let chars_at = types_at + types * 6;
    let abbr_chars = data.get(chars_at..chars_at + chars)?;
    let mut ttypes = Vec::with_capacity(types);
    for t in 0..types {
        let at = types_at + 6 * t;
        let offset = i64::from(be32(data, at)? as i32);
        let idx = usize::from(*data.get(at + 5)?);
        let abbr = abbr_chars
            .get(idx..)
            .and_then(|s| s.split(|&c| c == 0).next())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        ttypes.push(TimeType { offset, abbr });
    }
    let footer = (version >= b'2')
        .then(|| {
            let footer_at = chars_at + chars + leap * 12 + isstd + isut;
            let text = std::str::from_utf8(data.get(footer_at..)?).ok()?;
            Some(text.trim_matches('\n').to_string())
        })
        .flatten();
    Some(Tzif {
        transitions,
        indexes,
        types: ttypes,
        has_footer: version >= b'2',
        footer,
    })
}

impl Tzif {
    /// The index of the last transition at or before `at`.
    fn last_transition(&self, at: i64) -> Option<usize> {
        let n = self.transitions.partition_point(|&t| t <= at);
        n.checked_sub(1)
    }

    /// The local time type in effect at `at`, from the listed transitions only.
    fn type_at(&self, at: i64) -> Option<&TimeType> {
        match self.last_transition(at) {
            None => self.types.first(),
            Some(i) => self.types.get(usize::from(*self.indexes.get(i)?)),
        }
    }

    /// The offset at `at`. Past the listed transitions the footer's rule applies: it is
    /// trusted only when it has no daylight saving time.
    fn offset_at(&self, at: i64) -> Option<i64> {
        let last = self.last_transition(at);
        if let Some(i) = last {
            if i + 1 == self.transitions.len() && self.has_footer {
                if let Some(text) = self.footer.as_deref().filter(|t| !t.is_empty()) {
                    return posix_fixed_offset(text);
                }
            }
        }
        self.type_at(at).map(|t| t.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
    fn posix_values_with_dst_name_both_times() {
        let p = parse_posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(p.std, ("CET".into(), 3600));
        assert_eq!(p.dst, Some(("CEST".into(), 7200)));
        let p = parse_posix("EST5EDT4,M3.2.0,M11.1.0").unwrap();
        assert_eq!(p.dst, Some(("EDT".into(), -4 * 3600)));
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

    #[test]
    fn aliases_are_names_abbreviations_and_offsets() {
        let utc = aliases("UTC", &[1_795_000_000]);
        for a in ["UTC", "GMT", "+00", "+0000", "+00:00"] {
            assert!(utc.contains(&a.to_string()), "{a}: {utc:?}");
        }
        let posix = aliases("<+0530>-5:30", &[]);
        assert!(posix.contains(&"+05:30".to_string()), "{posix:?}");
        assert!(!posix.contains(&"+05".to_string()), "{posix:?}");
        if Path::new(ZONEINFO).join("Pacific/Kiritimati").exists() {
            let k = aliases("Pacific/Kiritimati", &[1_795_000_000]);
            for a in ["Pacific/Kiritimati", "+14", "+1400", "+14:00"] {
                assert!(k.contains(&a.to_string()), "{a}: {k:?}");
            }
            assert!(!k.contains(&"-10".to_string()), "an old offset: {k:?}");
        }
        if Path::new(ZONEINFO).join("Europe/Berlin").exists() {
            let b = aliases("Europe/Berlin", &[1_795_000_000]);
            for a in ["CET", "CEST", "+01:00", "+0200"] {
                assert!(b.contains(&a.to_string()), "{a}: {b:?}");
            }
        }
        assert!(aliases("No/Such_Zone", &[0]).is_empty());
    }
}
