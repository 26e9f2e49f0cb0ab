//! How a differing span is shown in a reason: widened to the token around it, trimmed
//! of separators, escaped and cut to a readable length.

use std::ops::Range;

use crate::diff::escape::escape_short;

/// Most characters of a value shown in a reason.
pub(super) const SHOW: usize = 120;

pub(super) fn is_boundary(c: u8) -> bool {
    c.is_ascii_whitespace()
        || c < 0x20
        || matches!(
            c,
            b'"' | b'\''
                | b'='
                | b','
                | b';'
                | b'('
                | b')'
                | b'<'
                | b'>'
                | b'['
                | b']'
                | b'{'
                | b'}'
        )
}

/// Widens a span to the token around it.
pub(super) fn widen(line: &[u8], r: &Range<usize>) -> Range<usize> {
    let mut start = r.start.min(line.len());
    while start > 0 && !is_boundary(line[start - 1]) {
        start -= 1;
    }
    let mut end = r.end.min(line.len());
    while end < line.len() && !is_boundary(line[end]) {
        end += 1;
    }
    if end - start > SHOW * 4 {
        return r.start.min(line.len())..r.end.min(line.len());
    }
    start..end
}

/// Whether bytes hold nothing but separators.
pub(super) fn blank(x: &[u8]) -> bool {
    x.iter().all(|&c| is_boundary(c) || c == b':')
}

pub(super) fn trim_ws(x: &[u8]) -> &[u8] {
    let start = x
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(x.len());
    let end = x
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &x[start..end.max(start)]
}

pub(super) fn trim_sep(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&c| c != b'\n' && c != 0)
        .map_or(0, |p| p + 1);
    &line[..end]
}

/// Splits a line into words: runs of bytes that are neither whitespace nor punctuation
/// that separates list items (`,;:|"'` and brackets).
pub(super) fn words(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&c| is_boundary(c) || matches!(c, b':' | b'|'))
        .filter(|w| !w.is_empty())
        .collect()
}

pub(super) fn looks_like_path(token: &[u8]) -> bool {
    token.len() > 2 && token.starts_with(b"/") && token[1..].contains(&b'/')
}

/// The value shown for one side of an unexplained span: the token around it, or the
/// span's own bytes when the token is blank; and where it starts.
pub(super) fn shown_value<'l>(
    line: &'l [u8],
    r: &Range<usize>,
    token: &'l [u8],
    token_start: usize,
) -> (&'l [u8], usize) {
    if token.is_empty() && !r.is_empty() {
        let end = r.end.min(line.len());
        let start = r.start.min(end);
        (&line[start..end], start)
    } else {
        (token, token_start)
    }
}

/// A value as shown in a reason: escaped and cut; a long run of raw bytes is cut
/// shorter, with its length.
pub(super) fn show_value(value: &[u8]) -> String {
    const RAW: usize = 24;
    let raw = value
        .iter()
        .any(|&c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r'));
    if raw && value.len() > RAW {
        format!("{} ({} bytes)", escape_short(value, RAW), value.len())
    } else {
        escape_short(value, SHOW)
    }
}

/// Newlines in `line` before `at`: the line of a value inside a multi-line blob.
pub(super) fn newlines(line: &[u8], at: usize) -> u64 {
    memchr::memchr_iter(b'\n', &line[..at.min(line.len())]).count() as u64
}
