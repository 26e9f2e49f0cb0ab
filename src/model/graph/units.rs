//! Durations and sizes as a graph file (or the command line) writes them: "90s", "1.5h",
//! "512M", read exactly with integer arithmetic, and why a value is refused.

use std::time::Duration;

/// Parses "90", "90s", "10m", "1h" or "1.5h": more than zero and at most `u64::MAX`
/// seconds. `None` for anything else, never a panic.
pub fn parse_duration(text: &str) -> Option<Duration> {
    read_duration(text).ok()
}

/// Why a number in a graph file (or on the command line) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadNumber {
    /// Not a number with a known unit.
    Malformed,
    /// Zero (or a fraction that rounds down to zero): no limit a step could live with.
    Zero,
    /// More than the largest value reprobe holds (`u64::MAX` seconds or bytes).
    TooLarge,
}

/// [`parse_duration`], saying why a text is refused. Exact: no floating point (a
/// fraction finer than a nanosecond is dropped).
pub fn read_duration(text: &str) -> Result<Duration, BadNumber> {
    const NANOS: u128 = 1_000_000_000;
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit.trim() {
        "s" => NANOS,
        "m" => 60 * NANOS,
        "h" => 3600 * NANOS,
        _ => return Err(BadNumber::Malformed),
    };
    let nanos = scale_decimal(number.trim(), scale)?;
    let secs = u64::try_from(nanos / NANOS).map_err(|_| BadNumber::TooLarge)?;
    // The remainder is below 10^9: it always fits.
    let duration = Duration::new(secs, (nanos % NANOS) as u32);
    if duration.is_zero() {
        return Err(BadNumber::Zero);
    }
    Ok(duration)
}

/// A size: bytes ("1048576"), or a number with a unit: `k`, `M`, `G`, `T` (powers of
/// 1024; `KiB`, `MB`, `GiB`… are read the same), e.g. "512M", "1.5G"; at least one byte
/// and at most `u64::MAX`. Exact: no floating point (a fraction of a byte is dropped).
pub fn read_size(text: &str) -> Result<u64, BadNumber> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let scale: u128 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(BadNumber::Malformed),
    };
    let bytes = scale_decimal(number.trim(), scale)?;
    match u64::try_from(bytes) {
        Ok(0) => Err(BadNumber::Zero),
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(BadNumber::TooLarge),
    }
}

/// Fraction digits [`scale_decimal`] reads: each later one is worth less than one unit
/// for any scale below 10^20, so they are ignored (they are still checked to be digits).
const FRACTION_DIGITS: usize = 20;

/// `number * scale` rounded down, for a plain decimal `number` (`12`, `1.5`, `.5`, `2.`:
/// digits and at most one dot, at least one digit), with checked integer arithmetic:
/// [`BadNumber::Malformed`] when it is no such number, [`BadNumber::TooLarge`] when the
/// product does not fit in a `u128`.
pub fn scale_decimal(number: &str, scale: u128) -> Result<u128, BadNumber> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(BadNumber::Malformed);
    }
    let value = |s: &str| {
        s.bytes()
            .try_fold(0u128, |acc, b| {
                acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
            })
            .ok_or(BadNumber::TooLarge)
    };
    let kept = &fraction[..fraction.len().min(FRACTION_DIGITS)];
    let denominator = 10u128.pow(kept.len() as u32);
    let part = value(kept)?.checked_mul(scale).ok_or(BadNumber::TooLarge)? / denominator;
    value(whole)?
        .checked_mul(scale)
        .and_then(|w| w.checked_add(part))
        .ok_or(BadNumber::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1 fortnight"), None);
        assert_eq!(parse_duration(".5m"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_duration("0.000000001s"),
            Some(Duration::from_nanos(1))
        );
        let most = Duration::new(u64::MAX, 999_999_999);
        assert_eq!(
            parse_duration("18446744073709551615.9999999999s"),
            Some(most)
        );
        assert_eq!(
            read_duration("18446744073709551616s"),
            Err(BadNumber::TooLarge)
        );
        assert_eq!(
            read_duration("18446744073709551615h"),
            Err(BadNumber::TooLarge)
        );
        assert_eq!(read_duration(&"9".repeat(100)), Err(BadNumber::TooLarge));
        assert_eq!(read_duration("0.0000000001s"), Err(BadNumber::Zero));
        for bad in ["", ".", "1.2.3s", "inf", "NaN", "1e3", "+1", "1_000", "--1"] {
            assert_eq!(read_duration(bad), Err(BadNumber::Malformed), "{bad}");
        }
    }

    #[test]
    fn sizes_are_exact_and_bounded() {
        assert_eq!(read_size("1.5G"), Ok(3 << 29));
        assert_eq!(
            read_size("16777215.999999T"),
            Ok((16777215 << 40) + 1099510528264)
        );
        assert_eq!(read_size("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(read_size("18446744073709551616"), Err(BadNumber::TooLarge));
        assert_eq!(read_size("16777216T"), Err(BadNumber::TooLarge));
        assert_eq!(read_size("0.5"), Err(BadNumber::Zero));
        assert_eq!(read_size("4X"), Err(BadNumber::Malformed));
        assert_eq!(scale_decimal(&"1".repeat(50), 1), Err(BadNumber::TooLarge));
        assert_eq!(
            scale_decimal(&format!("1.{}", "9".repeat(1000)), 10),
            Ok(19)
        );
    }
}
