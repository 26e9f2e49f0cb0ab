//! A single self-contained HTML page (no external assets): a summary table, then each
//! item with its reasons, metadata fields, byte ranges and a side-by-side diff.

use super::{reason_words, Report};
use crate::diff::DiffItem;
use crate::report::escape;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top;text-align:left}\
code,pre,.sbs td{font-family:ui-monospace,monospace;font-size:12px}pre{margin:0;white-space:pre-wrap}\
.sbs{width:100%;table-layout:fixed}.sbs td{white-space:pre-wrap;word-break:break-all;border:none;border-right:1px solid #ddd}\
.del{background:#fdd}.add{background:#dfd}.hunk{background:#eef;color:#555}.ln{color:#999;width:3.5em;text-align:right}\
.kind{font-weight:bold;color:#a60}h2{font-size:1.05em;border-top:1px solid #ccc;padding-top:.6em}.note{color:#666}";

/// The HTML page of a `diff` report.
pub fn render(report: &Report) -> String {
    let items = report.diff_items();
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>reprobe diff</title>");
    out.push_str(&format!(
        "<style>{STYLE}</style></head><body>\n<h1>reprobe diff</h1>\n"
    ));
    if let (Some(a), Some(b)) = (&report.a, &report.b) {
        out.push_str(&format!(
            "<p><code>{}</code> vs <code>{}</code>: ",
            escape::html(a),
            escape::html(b)
        ));
    }
    if items.is_empty() {
        out.push_str("<b>identical</b></p></body></html>\n");
        return out;
    }
    out.push_str(&format!("<b>{} differing item(s)</b></p>\n", items.len()));
    summary(items, &mut out);
    for (i, item) in items.iter().enumerate() {
        details(i, item, &mut out);
    }
    out.push_str("</body></html>\n");
    out
}

fn summary(items: &[DiffItem], out: &mut String) {
    out.push_str("<table><tr><th>path</th><th>kind</th><th>change</th><th>reasons</th></tr>\n");
    for (i, item) in items.iter().enumerate() {
        out.push_str(&format!(
            "<tr><td><a href=\"#i{i}\"><code>{}</code></a></td><td>{}</td><td>{}</td><td class=\"kind\">{}</td></tr>\n",
            escape::html(&item.path),
            item.kind.as_str(),
            item.change.as_str(),
            escape::html(&reason_words(item))
        ));
    }
    out.push_str("</table>\n");
}

fn details(i: usize, item: &DiffItem, out: &mut String) {
    out.push_str(&format!(
        "<h2 id=\"i{i}\"><code>{}</code> ({}, {})</h2>\n",
        escape::html(&item.path),
        item.kind.as_str(),
        item.change.as_str()
    ));
    if !item.reasons.is_empty() {
        out.push_str("<table><tr><th>reason</th><th>where</th><th>a</th><th>b</th><th>variation</th><th>remedy</th></tr>\n");
        for r in &item.reasons {
            let mut place = Vec::new();
            if let Some(c) = &r.context {
                place.push(c.clone());
            }
            if let Some(l) = r.line {
                place.push(format!("line {l}"));
            }
            if let Some(o) = r.offset {
                place.push(format!("offset 0x{o:x}"));
            }
            if let Some(note) = &r.note {
                place.push(note.clone());
            }
            out.push_str(&format!(
                "<tr><td class=\"kind\">{}</td><td>{}</td><td class=\"del\"><code>{}</code></td><td class=\"add\"><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                r.kind.as_str(),
                escape::html(&place.join(", ")),
                escape::html(&r.a),
                escape::html(&r.b),
                escape::html(r.variation.as_deref().unwrap_or("")),
                escape::html(r.remedy.as_deref().unwrap_or(""))
            ));
        }
        out.push_str("</table>\n");
    }
    let ev = &item.evidence;
    if !ev.metadata.is_empty() {
        out.push_str("<table><tr><th>member</th><th>field</th><th>a</th><th>b</th></tr>\n");
        for f in &ev.metadata {
            out.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"del\"><code>{}</code></td><td class=\"add\"><code>{}</code></td></tr>\n",
                escape::html(f.member.as_deref().unwrap_or("")),
                escape::html(&f.field),
                escape::html(&f.a),
                escape::html(&f.b)
            ));
        }
        out.push_str("</table>\n");
    }
    if let Some(diff) = &ev.unified_diff {
        side_by_side(diff, out);
    }
    for r in &ev.byte_ranges {
        out.push_str(&format!(
            "<table class=\"sbs\"><tr><th>a @0x{:x} (+{})</th><th>b @0x{:x} (+{})</th></tr><tr><td class=\"del\">{}</td><td class=\"add\">{}</td></tr></table>\n",
            r.offset_a, r.len_a, r.offset_b, r.len_b, escape::html(&r.hex_a), escape::html(&r.hex_b)
        ));
    }
    for note in &ev.notes {
        out.push_str(&format!(
            "<p class=\"note\">note: {}</p>\n",
            escape::html(note)
        ));
    }
}

/// One row of the side-by-side view: (line a, text a, line b, text b, class).
type Row = (Option<usize>, Option<String>, Option<usize>, Option<String>);

/// Turns a unified diff into a two-column table: deleted and added runs side by side.
fn side_by_side(diff: &str, out: &mut String) {
    out.push_str("<table class=\"sbs\"><tr><th class=\"ln\"></th><th>a</th><th class=\"ln\"></th><th>b</th></tr>\n");
    let (mut la, mut lb) = (0usize, 0usize);
    let (mut dels, mut adds): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for line in diff.lines() {
        if line.starts_with("---") || line.starts_with("+++") {
            continue;
        }
        match line.as_bytes().first() {
            Some(b'-') => dels.push(line[1..].to_string()),
            Some(b'+') => adds.push(line[1..].to_string()),
            Some(b'@') => {
                flush(&mut dels, &mut adds, &mut la, &mut lb, out);
                (la, lb) = hunk_starts(line);
                out.push_str(&format!(
                    "<tr class=\"hunk\"><td></td><td colspan=\"3\">{}</td></tr>\n",
                    escape::html(line)
                ));
            }
            _ => {
                flush(&mut dels, &mut adds, &mut la, &mut lb, out);
                let text = line.get(1..).unwrap_or("");
                row(
                    &(Some(la), Some(text.into()), Some(lb), Some(text.into())),
                    "",
                    "",
                    out,
                );
                la += 1;
                lb += 1;
            }
        }
    }
    flush(&mut dels, &mut adds, &mut la, &mut lb, out);
    out.push_str("</table>\n");
}

fn flush(
    dels: &mut Vec<String>,
    adds: &mut Vec<String>,
    la: &mut usize,
    lb: &mut usize,
    out: &mut String,
) {
    let n = dels.len().max(adds.len());
    for k in 0..n {
        let a = dels.get(k).cloned();
        let b = adds.get(k).cloned();
        let r: Row = (
            a.as_ref().map(|_| *la + k),
            a,
            b.as_ref().map(|_| *lb + k),
            b,
        );
        row(&r, "del", "add", out);
    }
    *la += dels.len();
    *lb += adds.len();
    dels.clear();
    adds.clear();
}

fn row(r: &Row, ca: &str, cb: &str, out: &mut String) {
    let num = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
    let cell = |t: &Option<String>, c: &str| match t {
        Some(t) => format!("<td class=\"{c}\">{}</td>", escape::html(t)),
        None => "<td></td>".into(),
    };
    out.push_str(&format!(
        "<tr><td class=\"ln\">{}</td>{}<td class=\"ln\">{}</td>{}</tr>\n",
        num(r.0),
        cell(&r.1, ca),
        num(r.2),
        cell(&r.3, cb)
    ));
}

/// The first line numbers of a `@@ -a,n +b,m @@` hunk header.
fn hunk_starts(line: &str) -> (usize, usize) {
    let mut parts = line.split_whitespace().skip(1);
    let mut start = |prefix: char| {
        parts
            .next()
            .and_then(|p| {
                p.trim_start_matches(prefix)
                    .split(',')
                    .next()
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(1)
    };
    (start('-'), start('+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_pairs_deleted_and_added_lines() {
        let mut out = String::new();
        side_by_side(
            "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n same\n-old <x>\n+new\n",
            &mut out,
        );
        assert!(out.contains("<td class=\"del\">old &lt;x&gt;</td><td class=\"ln\">2</td><td class=\"add\">new</td>"), "{out}");
        assert_eq!(hunk_starts("@@ -12,3 +14 @@"), (12, 14));
    }
}
