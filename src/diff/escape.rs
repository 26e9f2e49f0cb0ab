//! Bytes shown as text: how member names, link targets and differing values are
//! printed in items, reasons and evidence, unambiguous whatever bytes they hold.

/// Shows bytes as text: valid UTF-8 stays, control characters and invalid bytes are
/// escaped (`\n`, `\x1b`, `\xff`), and a backslash is doubled, so the result is
/// unambiguous and printable.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Like [`escape_bytes`] but cut to about `max` characters, with `…` when cut.
pub(crate) fn escape_short(bytes: &[u8], max: usize) -> String {
    let cut = bytes.len() > max;
    let mut s = escape_bytes(&bytes[..bytes.len().min(max)]);
    if cut {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_keeps_utf8_and_escapes_invalid_bytes() {
        assert_eq!(escape_bytes("héllo".as_bytes()), "héllo");
        assert_eq!(escape_bytes(b"a\xffb"), "a\\xffb");
        assert_eq!(escape_bytes(b"a\\b\n"), "a\\\\b\\n");
    }
}
