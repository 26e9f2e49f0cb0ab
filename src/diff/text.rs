//! UTF-8 text: a unified diff as evidence, lines classified.

use std::time::Instant;

use similar::{DiffOp, TextDiff};

use super::align;
use super::classify::Classifier;
use super::context::{Cx, Format};
use super::items::{Change, DiffItem, ItemKind};

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
        budget: Some(cx.budget),
    }
    .classify_noting(a, b, &mut item.evidence.notes);
    let (ta, tb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let lines = line_count(&ta) + line_count(&tb);
    let Some(_held) = cx.budget.hold(lines.saturating_mul(LINE_COST)) else {
        let note = format!("{lines} lines are too many to show as a unified diff");
        item.evidence.notes.push(cx.budget.memory_note(&note));
        return item;
    };
    let deadline = cx.budget.step_deadline(5);
    let (diff, cut) = unified_diff(path, &ta, &tb, cx.opts.max_evidence_lines, deadline);
    item.evidence.unified_diff = Some(diff);
    if cut {
        item.evidence.notes.push(format!(
            "unified diff cut at {} lines",
            cx.opts.max_evidence_lines
        ));
    }
    item
}

/// Bytes of memory taken per line of a unified diff of large texts: the line, its hash,
/// the alignment's maps.
const LINE_COST: u64 = 64;

fn line_count(text: &str) -> u64 {
    memchr::memchr2_iter(b'\n', b'\r', text.as_bytes()).count() as u64 + 1
}

/// A unified diff with 3 lines of context, cut at `max_lines`; true if it was cut. The
/// alignment stops at `deadline` with a coarser answer.
pub(crate) fn unified_diff(
    path: &str,
    a: &str,
    b: &str,
    max_lines: usize,
    deadline: Instant,
) -> (String, bool) {
    let (la, lb) = (lines(a), lines(b));
    if la.len() + lb.len() <= align::MYERS_MAX {
        let diff = TextDiff::configure().deadline(deadline).diff_lines(a, b);
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{path}"), &format!("b/{path}"))
            .to_string();
        let mut lines = text.split_inclusive('\n');
        let kept: String = lines.by_ref().take(max_lines).collect();
        let cut = lines.next().is_some();
        return (kept, cut);
    }
    render(
        path,
        (&la, &lb),
        align::diff(&la, &lb, deadline).ops,
        max_lines,
    )
}

/// Writes the unified diff of lines `la` and `lb` aligned by `ops`, in the format of
/// `similar`'s, up to `max_lines` lines; true if it was cut.
fn render(
    path: &str,
    (la, lb): (&[&str], &[&str]),
    ops: Vec<DiffOp>,
    max_lines: usize,
) -> (String, bool) {
    let mut out = Render {
        text: format!("--- a/{path}\n+++ b/{path}\n"),
        lines: 2,
        max: max_lines,
    };
    for group in similar::group_diff_ops(ops, 3) {
        if !out.hunk(&group, la, lb) {
            return (out.text, true);
        }
    }
    if out.lines == 2 {
        out.text.clear();
    }
    (out.text, false)
}

/// Splits text into lines the way `similar` does for a unified diff: after `\n`, `\r\n`
/// or a lone `\r`, each line keeping its end.
fn lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let end = match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => i + 2,
            b'\r' | b'\n' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        out.push(&text[start..end]);
        start = end;
        i = end;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// A unified diff being written, in the format of `similar`'s, up to `max` lines.
struct Render {
    text: String,
    lines: usize,
    max: usize,
}

impl Render {
    /// Writes one hunk (a group of operations with their context); false once the
    /// diff reached its most lines.
    fn hunk(&mut self, ops: &[DiffOp], la: &[&str], lb: &[&str]) -> bool {
        let (Some(first), Some(last)) = (ops.first(), ops.last()) else {
            return true;
        };
        let range = |start: usize, end: usize| {
            let len = end - start;
            match len {
                1 => format!("{}", start + 1),
                0 => format!("{start},0"),
                _ => format!("{},{len}", start + 1),
            }
        };
        let header = format!(
            "@@ -{} +{} @@\n",
            range(first.old_range().start, last.old_range().end),
            range(first.new_range().start, last.new_range().end)
        );
        if !self.line(&header) {
            return false;
        }
        for op in ops {
            let (ra, rb) = (op.old_range(), op.new_range());
            let (old, new): (&[&str], &[&str]) = match op {
                DiffOp::Equal { .. } => (&la[ra], &[]),
                _ => (&la[ra], &lb[rb]),
            };
            let tag = if matches!(op, DiffOp::Equal { .. }) {
                ' '
            } else {
                '-'
            };
            for l in old {
                if !self.change(tag, l) {
                    return false;
                }
            }
            for l in new {
                if !self.change('+', l) {
                    return false;
                }
            }
        }
        true
    }

    fn change(&mut self, tag: char, line: &str) -> bool {
        let mut shown = format!("{tag}{line}");
        if !line.ends_with(['\n', '\r']) {
            shown.push_str("\n\\ No newline at end of file\n");
        }
        self.line(&shown)
    }

    fn line(&mut self, line: &str) -> bool {
        if self.lines >= self.max {
            return false;
        }
        self.text.push_str(line);
        self.lines += line.matches('\n').count();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn text_detection_rejects_nul_and_invalid_utf8() {
        assert!(is_text("héllo\n".as_bytes()));
        assert!(!is_text(b"a\0b"));
        assert!(!is_text(b"\xff\xfe"));
    }

    #[test]
    fn large_texts_are_shown_in_the_format_of_small_ones() {
        let a: String = (0..3000)
            .map(|i| match i % 7 {
                0 => format!("line {i}\r\n"),
                _ => format!("line {i}\n"),
            })
            .collect();
        let mut b = a
            .replace("line 10\n", "changed\n")
            .replace("line 2001\n", "");
        b.push_str("no newline at the end");
        let later = Instant::now() + Duration::from_secs(60);
        let (small, small_cut) = unified_diff("f.txt", &a, &b, 100, later);
        let (la, lb) = (lines(&a), lines(&b));
        let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &la, &lb);
        let (large, large_cut) = render("f.txt", (&la, &lb), ops, 100);
        assert_eq!(large, small);
        assert_eq!(large_cut, small_cut);
        assert!(small.contains("\\ No newline at end of file"), "{small}");
        let (cut, was_cut) = render("f.txt", (&la, &lb), align::diff(&la, &lb, later).ops, 5);
        assert!(was_cut);
        assert_eq!(cut.lines().count(), 5, "{cut}");
    }

    #[test]
    fn unified_diff_has_header_and_hunk() {
        let later = Instant::now() + Duration::from_secs(60);
        let (d, cut) = unified_diff("f.txt", "a\nb\n", "a\nc\n", 100, later);
        assert!(
            d.contains("--- a/f.txt") && d.contains("-b") && d.contains("+c"),
            "{d}"
        );
        assert!(!cut);
    }
}
