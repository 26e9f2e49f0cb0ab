//! The HTML page of an explanation: self-contained, it shows what the report holds and
//! computes nothing.

use super::change::change_lines;
use crate::engine::explain::changes::InputChange;
use crate::engine::explain::content::{plural, ContentDiff};
use crate::engine::explain::ExplainReport;
use crate::report::escape;
use crate::report::text::seconds;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}\
code,pre{font-family:ui-monospace,monospace;font-size:12px}pre{margin:.2em 0 .6em 1.5em;white-space:pre-wrap}\
.del{background:#fdd}.add{background:#dfd}.hunk{color:#777}.summary li:first-child{font-weight:bold}\
h2{font-size:1.1em;border-top:1px solid #ccc;padding-top:.6em}.dim{color:#777}";

/// A self-contained HTML page (no external assets).
pub fn render(report: &ExplainReport) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>reprobe explain</title><style>{STYLE}</style></head><body>\n<h1>reprobe explain</h1>\n<p class=\"dim\">OLD <code>{}</code> &rarr; NEW <code>{}</code></p>\n<ul class=\"summary\">\n",
        escape::html(&report.old.id),
        escape::html(&report.new.id)
    );
    for line in &report.summary {
        out.push_str(&format!("<li>{}</li>\n", escape::html(line)));
    }
    out.push_str("</ul>\n");
    html_roots(report, &mut out);
    html_nondeterministic(report, &mut out);
    if !report.is_empty() {
        html_models(report, &mut out);
    }
    if let Some(tree) = &report.step {
        html_tree(tree, &mut out);
    }
    out.push_str("</body></html>\n");
    out
}

fn html_roots(report: &ExplainReport, out: &mut String) {
    let index = report.cascade_index();
    for root in &report.root_causes {
        out.push_str(&format!(
            "<h2>{} <span class=\"dim\">(root cause)</span></h2>\n<ul>\n",
            escape::html(&root.step)
        ));
        for change in &root.changes {
            html_change(change, out);
        }
        out.push_str("</ul>\n");
        let followers: Vec<&str> = index
            .of(&root.step)
            .iter()
            .map(|c| c.step.as_str())
            .collect();
        if !followers.is_empty() {
            out.push_str(&format!(
                "<details><summary>followed by {}</summary><p>{}</p></details>\n",
                plural(followers.len(), "cascade"),
                escape::html(&followers.join(", "))
            ));
        }
    }
}

fn html_change(change: &InputChange, out: &mut String) {
    let lines = change_lines(change, false);
    out.push_str(&format!(
        "<li><code>{}</code>",
        escape::html(lines.first().map_or("", String::as_str))
    ));
    if let InputChange::FileModified {
        content: ContentDiff::Text { unified, .. },
        ..
    } = change
    {
        out.push_str("<pre>");
        for line in unified.lines() {
            let class = match line.as_bytes().first() {
                Some(b'+') if !line.starts_with("+++") => "add",
                Some(b'-') if !line.starts_with("---") => "del",
                Some(b'@') => "hunk",
                _ => "",
            };
            out.push_str(&format!(
                "<span class=\"{class}\">{}</span>\n",
                escape::html(line)
            ));
        }
        out.push_str("</pre>");
    }
    out.push_str("</li>\n");
}

fn html_nondeterministic(report: &ExplainReport, out: &mut String) {
    for n in &report.nondeterministic {
        out.push_str(&format!(
            "<h2>{} <span class=\"dim\">(nondeterministic)</span></h2>\n<p>same input hash, output <code>{}</code> &rarr; <code>{}</code>; followed by {}</p>\n",
            escape::html(&n.step),
            n.old_content_hash.short(),
            n.new_content_hash.short(),
            plural(n.cascade_count, "cascade")
        ));
    }
}

fn html_models(report: &ExplainReport, out: &mut String) {
    out.push_str("<h2>Caching models</h2>\n<table><tr><th>model</th><th>used by</th><th>rebuilds</th><th>time</th></tr>\n");
    for row in &report.models {
        let title = if row.reprobe {
            format!("<b>{}</b> (reprobe)", row.title)
        } else {
            row.title.to_string()
        };
        out.push_str(&format!(
            "<tr><td>{title}</td><td>{}</td><td>{}/{}</td><td>{}</td></tr>\n",
            escape::html(row.used_by),
            row.steps,
            row.total_steps,
            seconds(row.time_ms)
        ));
    }
    out.push_str(&format!(
        "</table>\n<p class=\"dim\">{}</p>\n",
        escape::html(&report.reprobe_model)
    ));
}

fn html_tree(tree: &crate::engine::explain::step_tree::StepTree, out: &mut String) {
    out.push_str(&format!(
        "<h2>Input tree of {}</h2>\n<table><tr><th></th><th>section</th><th>name</th><th>OLD</th><th>NEW</th></tr>\n",
        escape::html(&tree.step)
    ));
    for line in &tree.lines {
        let mark = if line.same { "=" } else { "~" };
        out.push_str(&format!(
            "<tr><td>{mark}</td><td>{:?}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>\n",
            line.section,
            escape::html(&line.key),
            escape::html(line.old.as_deref().unwrap_or("-")),
            escape::html(line.new.as_deref().unwrap_or("-"))
        ));
    }
    out.push_str("</table>\n<p>Not covered by the key:</p><ul>\n");
    for item in &tree.not_covered {
        out.push_str(&format!("<li>{}</li>\n", escape::html(item)));
    }
    out.push_str("</ul>\n");
}
