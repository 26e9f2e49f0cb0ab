//! What an unexplained span looks like: random (high entropy: hex, base64, a uuid, raw
//! bytes) or an ordinary low-entropy change (a word, a small number).
//!
//! docs/design.md section 6 has one word for what nothing explains, `random`; the issue
//! defines it as *unexplained high-entropy spans*. So a `random` reason says which of the
//! two it is (`Reason::high_entropy` and `Reason::note`), and a word that changed ("Dienstag"
//! against "Tuesday") is not passed off as randomness.

use super::items::Reason;

/// The shape of a value that looks random, or `None`.
pub(crate) fn random_shape(value: &[u8]) -> Option<&'static str> {
    let v = value;
    if v.len() < 6 {
        return None;
    }
    if is_uuid(v) {
        return Some("uuid");
    }
    let printable = v.iter().all(|c| c.is_ascii_graphic());
    if !printable {
        return raw_bytes_look_random(v).then_some("raw bytes");
    }
    let digits = v.iter().filter(|c| c.is_ascii_digit()).count();
    if v.iter().all(u8::is_ascii_hexdigit) {
        let letters = v.len() - digits;
        let mixed = digits > 0 && letters > 0;
        if (mixed && v.len() >= 6) || v.len() >= 16 {
            return Some(if letters == 0 { "digits" } else { "hex" });
        }
        return None;
    }
    let base64 = v
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_'));
    // Random text mixes cases and digits; words, paths and identifiers mostly do not.
    let upper = v.iter().any(u8::is_ascii_uppercase);
    let lower = v.iter().any(u8::is_ascii_lowercase);
    let cased = upper && lower && (digits > 0 || v.len() >= 20);
    if !cased || class_changes(v) < 0.45 {
        return None;
    }
    if base64 && v.len() >= 12 && bits_per_byte(v) >= 3.0 {
        return Some("base64");
    }
    (v.len() >= 20 && bits_per_byte(v) >= 4.2).then_some("mixed")
}

/// Marks a `random` reason with what its two values look like: `high_entropy` and a
/// note. Both depend only on the pair of values, not on which side is which.
pub(crate) fn annotate(reason: &mut Reason, a: &[u8], b: &[u8]) {
    let shapes: Vec<Option<&str>> = [a, b]
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| random_shape(v))
        .collect();
    let high = !shapes.is_empty() && shapes.iter().all(Option::is_some);
    reason.high_entropy = Some(high);
    reason.note = Some(if high {
        let mut names: Vec<&str> = shapes.into_iter().flatten().collect();
        names.sort_unstable();
        names.dedup();
        format!("high-entropy ({}): looks random", names.join(", "))
    } else {
        "unexplained by known values; not high-entropy".to_string()
    });
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Shannon entropy in bits per byte.
fn bits_per_byte(v: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for &c in v {
        counts[usize::from(c)] += 1;
    }
    let n = v.len() as f64;
    counts
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// How often the character class (upper, lower, digit, other) changes from one
/// character to the next: about 0.6 for random base64, under 0.3 for words and numbers.
fn class_changes(v: &[u8]) -> f64 {
    let class = |c: u8| match c {
        b'A'..=b'Z' => 0,
        b'a'..=b'z' => 1,
        b'0'..=b'9' => 2,
        _ => 3,
    };
    let changes = v.windows(2).filter(|w| class(w[0]) != class(w[1])).count();
    changes as f64 / (v.len() - 1).max(1) as f64
}

/// Raw bytes look random when nearly all are distinct and few are zero (integers and
/// padding repeat bytes, zeros most of all).
fn raw_bytes_look_random(v: &[u8]) -> bool {
    if v.len() < 8 {
        return false;
    }
    let zeros = v.iter().filter(|&&c| c == 0).count();
    // About 37% of random bytes are printable ASCII and half are above 0x7f; text with
    // a control byte or two is not random.
    let printable = v
        .iter()
        .filter(|c| c.is_ascii_graphic() || **c == b' ')
        .count();
    let high = v.iter().any(|&c| c >= 0x80);
    let expected = (v.len() as f64).log2().min(8.0);
    high && printable * 10 <= v.len() * 6
        && zeros * 4 <= v.len()
        && bits_per_byte(v) >= 0.8 * expected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_shapes() {
        assert_eq!(
            random_shape(b"3f2b8c1e-9d4a-4f6b-8e2c-1a7b9c0d5e3f"),
            Some("uuid")
        );
        assert_eq!(random_shape(b"8f3a9c"), Some("hex"));
        assert_eq!(
            random_shape(b"e3b0c44298fc1c149afbf4c8996fb924"),
            Some("hex")
        );
        assert_eq!(random_shape(b"q8Zk3LmP0aXv9RtY"), Some("base64"));
        assert_eq!(
            random_shape(b"\x9c\x17\xe4\x02\xbb\x71\x3f\xd0\x5a"),
            Some("raw bytes")
        );
    }

    #[test]
    fn words_and_small_numbers_are_not_random() {
        for v in [
            &b"Dienstag"[..],
            b"Tuesday",
            b"HelloWorld2024",
            b"cores",
            b"12345",
            b"deadline",
            b"\x00\x00\x00\x01\x00\x00\x00\x00",
            b"/usr/lib/x86_64-linux-gnu",
            b"GARBAGE\x00\x01trailing",
        ] {
            assert_eq!(random_shape(v), None, "{}", String::from_utf8_lossy(v));
        }
    }
}
