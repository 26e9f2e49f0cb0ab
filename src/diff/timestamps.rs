//! Finding dates and times in text: epoch seconds and milliseconds, ISO 8601, RFC 2822,
//! `date`'s default format, and C's `__DATE__`/`__TIME__`.

use std::ops::Range;
use std::sync::LazyLock;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use regex::bytes::Regex;

/// A date or time found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeMatch {
    /// Byte range of the match.
    pub range: Range<usize>,
    /// The time as unix seconds (read as UTC) if it names a day; `None` for a bare time
    /// of day such as `__TIME__`.
    pub unix: Option<i64>,
}

const MON: &str = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const DAY: &str = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";

/// Turns a matched text into unix seconds.
type Parser = fn(&str) -> Option<i64>;

/// The recognised shapes, each with the parser that turns a match into unix seconds.
static PATTERNS: LazyLock<Vec<(Regex, Parser)>> = LazyLock::new(|| {
    let iso =
        r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?";
    let rfc2822 = format!(
        r"(?:{DAY}, )?\d{{1,2}} {MON} \d{{4}} \d{{2}}:\d{{2}}(?::\d{{2}})? (?:[+-]\d{{4}}|UT|GMT|[A-Z]{{3}})"
    );
    let date1 = format!(
        r"{DAY} {MON} [ \d]\d \d{{2}}:\d{{2}}:\d{{2}}(?: [AP]M)? (?:[A-Z]{{2,5}}|[+-]\d{{2,4}}) \d{{4}}"
    );
    let cdate = format!(r"{MON} [ \d]\d \d{{4}}(?: \d{{2}}:\d{{2}}:\d{{2}})?");
    let ctime = r"\b\d{2}:\d{2}:\d{2}\b";
    let epoch = r"\b\d{10}(?:\d{3})?\b";
    // `date +%H:%M`: a valid hour and minute alone (not part of a longer time).
    let hhmm = r"\b(?:[01]\d|2[0-3]):[0-5]\d\b";
    let list: Vec<(String, Parser)> = vec![
        (iso.to_string(), parse_iso),
        (rfc2822, parse_rfc2822),
        (date1, parse_date1),
        (cdate, parse_cdate),
        (ctime.to_string(), |_| None),
        (epoch.to_string(), parse_epoch),
        (hhmm.to_string(), |_| None),
    ];
    list.into_iter()
        .filter_map(|(re, parse)| Regex::new(&re).ok().map(|re| (re, parse)))
        .collect()
});

/// Earliest and latest plausible epoch values (2000-01-01 to 2100-01-01).
const EPOCH_MIN: i64 = 946_684_800;
const EPOCH_MAX: i64 = 4_102_444_800;

/// All dates and times in `text`. Epoch numbers count only inside 2000–2100.
pub fn find_times(text: &[u8]) -> Vec<TimeMatch> {
    let mut out = Vec::new();
    for (re, parse) in PATTERNS.iter() {
        for m in re.find_iter(text) {
            let s = String::from_utf8_lossy(m.as_bytes());
            let unix = parse(&s);
            let is_epoch = s.bytes().all(|c| c.is_ascii_digit());
            if is_epoch && unix.is_none() {
                continue;
            }
            let colon = |i: Option<usize>| i.and_then(|i| text.get(i)) == Some(&b':');
            let part_of_longer =
                s.len() == 5 && (colon(m.start().checked_sub(1)) || colon(Some(m.end())));
            if part_of_longer {
                continue;
            }
            out.push(TimeMatch {
                range: m.range(),
                unix,
            });
        }
    }
    out
}

/// Whether a 32- or 64-bit integer is a plausible epoch time in seconds.
pub fn plausible_epoch(value: i64) -> bool {
    (EPOCH_MIN..=EPOCH_MAX).contains(&value)
}

fn parse_epoch(s: &str) -> Option<i64> {
    let n: i64 = s.parse().ok()?;
    let secs = if s.len() == 13 { n / 1000 } else { n };
    plausible_epoch(secs).then_some(secs)
}

fn parse_iso(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&s.replace(' ', "T")) {
        return Some(t.timestamp());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    let date = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    Some(date.and_time(NaiveTime::MIN).and_utc().timestamp())
}

fn parse_rfc2822(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc2822(s) {
        return Some(t.timestamp());
    }
    // A zone name chrono does not know: read the rest as UTC.
    let without_zone = s.rsplit_once(' ')?.0;
    let body = without_zone
        .split_once(", ")
        .map_or(without_zone, |(_, b)| b);
    NaiveDateTime::parse_from_str(body, "%d %b %Y %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(body, "%d %b %Y %H:%M"))
        .ok()
        .map(|t| t.and_utc().timestamp())
}

fn parse_date1(s: &str) -> Option<i64> {
    // "Wed Nov 25 00:36:12 UTC 2026": drop the weekday and the zone, read as UTC.
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (mon, day, time, year) = (parts.get(1)?, parts.get(2)?, parts.get(3)?, parts.last()?);
    let text = format!("{mon} {day} {year} {time}");
    NaiveDateTime::parse_from_str(&text, "%b %d %Y %H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

fn parse_cdate(s: &str) -> Option<i64> {
    let norm = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Ok(t) = NaiveDateTime::parse_from_str(&norm, "%b %d %Y %H:%M:%S") {
        return Some(t.and_utc().timestamp());
    }
    let date = NaiveDate::parse_from_str(&norm, "%b %d %Y").ok()?;
    Some(date.and_time(NaiveTime::MIN).and_utc().timestamp())
}

/// Formats unix seconds as an ISO 8601 UTC time, or the number if out of range.
pub fn format_unix(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_unix(s: &str) -> Option<i64> {
        let found = find_times(s.as_bytes());
        found
            .iter()
            .max_by_key(|m| m.range.len())
            .and_then(|m| m.unix)
    }

    #[test]
    fn finds_each_supported_shape() {
        let t = 1_795_000_000; // 2026-11-18T11:06:40Z
        let iso = format_unix(t);
        assert_eq!(first_unix(&format!("built {iso} ok")), Some(t));
        assert_eq!(first_unix("at 1795000000 s"), Some(t));
        assert_eq!(first_unix("at 1795000000123 ms"), Some(t));
        assert_eq!(first_unix("Date: Wed, 18 Nov 2026 11:06:40 +0000"), Some(t));
        assert_eq!(first_unix("Wed Nov 18 11:06:40 UTC 2026"), Some(t));
        assert!(first_unix("Nov 18 2026 11:06:40").is_some());
        assert!(first_unix("Nov  3 2026").is_some());
        assert_eq!(find_times(b"12:34:56").len(), 1);
    }

    #[test]
    fn implausible_numbers_are_not_epochs() {
        assert!(find_times(b"id 0000000042").is_empty());
        assert!(find_times(b"9999999999").is_empty());
    }
}
