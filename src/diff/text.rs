//! UTF-8 text: a unified diff as evidence, lines classified.

use similar::TextDiff;

use super::classify::Classifier;
use super::{Change, Cx, DiffItem, Format, ItemKind};

/// Text: valid UTF-8 without NUL bytes.
pub(crate) struct Text;

impl Format for Text {
    fn kind(&self) -> ItemKind {
        ItemKind::Text
    }

    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        is_text(data)
    }

    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        vec![compare_text(path, ItemKind::Text, a, b, cx)]
    }
}

/// Whether `data` is text: valid UTF-8 with no NUL byte.
pub(crate) fn is_text(data: &[u8]) -> bool {
    !data.contains(&0) && std::str::from_utf8(data).is_ok()
}

/// A text item of `kind`: classified lines and a unified diff.
pub(crate) fn compare_text(path: &str, kind: ItemKind, a: &[u8], b: &[u8], cx: &Cx) -> DiffItem {
    let mut item = DiffItem::new(path.to_string(), kind, Change::Modified);
    item.reasons = Classifier {
        path,
        known: &cx.opts.known,
        text: true,
        base_offset: 0,
        base_offset_b: 0,
        context: None,
        limit: cx.opts.max_findings_per_item,
    }
    .classify(a, b);
    let (ta, tb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let (diff, cut) = unified_diff(path, &ta, &tb, cx.opts.max_evidence_lines);
    item.evidence.unified_diff = Some(diff);
    if cut {
        item.evidence.notes.push(format!(
            "unified diff cut at {} lines",
            cx.opts.max_evidence_lines
        ));
    }
    item
}

/// A unified diff with 3 lines of context, cut at `max_lines`; true if it was cut.
pub(crate) fn unified_diff(path: &str, a: &str, b: &str, max_lines: usize) -> (String, bool) {
    let diff = TextDiff::configure()
        .timeout(std::time::Duration::from_secs(2))
        .diff_lines(a, b);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    let mut lines = text.split_inclusive('\n');
    let kept: String = lines.by_ref().take(max_lines).collect();
    let cut = lines.next().is_some();
    (kept, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_detection_rejects_nul_and_invalid_utf8() {
        assert!(is_text("héllo\n".as_bytes()));
        assert!(!is_text(b"a\0b"));
        assert!(!is_text(b"\xff\xfe"));
    }

    #[test]
    fn unified_diff_has_header_and_hunk() {
        let (d, cut) = unified_diff("f.txt", "a\nb\n", "a\nc\n", 100);
        assert!(
            d.contains("--- a/f.txt") && d.contains("-b") && d.contains("+c"),
            "{d}"
        );
        assert!(!cut);
    }
}
