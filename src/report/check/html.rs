//! The HTML page of a check: self-contained, with the step graph and every finding's
//! evidence.

use std::fmt::Write as _;

use super::finding::plain_finding;
use super::step_graph;
use super::summary::{reason_summary, summary_line};
use crate::engine::check::{groups, CheckReport, Verdict};
use crate::report::escape;

/// A self-contained HTML page (no external assets): the summary, the step graph coloured
/// by verdict, the table of steps, then every finding with its full evidence: all
/// reasons, and the diff report's own page (side-by-side text, byte ranges, metadata
/// fields) embedded for each step's outputs.
pub fn render(report: &CheckReport) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>reprobe check</title>\n<style>\
body{font-family:system-ui,sans-serif;margin:2em;max-width:110em}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
.reproducible{color:#070}.cascade{color:#a60}.nondeterministic,.failed,.network,.undeclared{color:#b00}\
pre{background:#f6f6f6;padding:.6em;overflow:auto}code{font-family:ui-monospace,monospace}\
svg .edge{fill:none;stroke:#888;stroke-width:1.2}svg text{font:12px ui-monospace,monospace}\
svg rect{stroke-width:1.5}svg .node rect{fill:#fde0e0;stroke:#b00}\
svg .v-reproducible rect{fill:#e3f5e3;stroke:#070}svg .v-cascade rect{fill:#fff0d0;stroke:#a60}\
iframe.evidence{width:100%;height:32em;border:1px solid #ccc;resize:vertical}\
</style></head><body>\n<h1>reprobe check</h1>\n",
    );
    let _ = writeln!(
        out,
        "<p><strong>{}</strong></p>",
        escape::html(&summary_line(report))
    );
    let _ = write!(
        out,
        "<p>Varied: {}.",
        escape::html(&report.variations.join(", "))
    );
    if !report.not_varied.is_empty() {
        let _ = write!(
            out,
            " Not varied: {}.",
            escape::html(&report.not_varied.join(", "))
        );
    }
    out.push_str("</p>\n");
    let causes = groups::group(report);
    if !causes.is_empty() {
        out.push_str("<h2>Causes</h2>\n<ul>\n");
        for group in &causes {
            let links: Vec<String> = group
                .steps
                .iter()
                .map(|f| format!("<a href=\"#step-{0}\">{0}</a>", escape::html(&f.name)))
                .collect();
            let cause = if group.cause.is_empty() {
                String::new()
            } else {
                format!(": {}", escape::html(&group.cause))
            };
            let _ = writeln!(
                out,
                "<li><span class=\"{0}\">{0}</span>{cause} ({1} {2}): {3}</li>",
                group.verdict.as_str(),
                group.steps.len(),
                if group.steps.len() == 1 {
                    "step"
                } else {
                    "steps"
                },
                links.join(", ")
            );
        }
        out.push_str("</ul>\n");
    }
    for note in &report.notes {
        let _ = writeln!(out, "<p>note: {}</p>", escape::html(note));
    }
    out.push_str("<h2>Step graph</h2>\n");
    out.push_str(&step_graph::render(report));
    out.push_str("<h2>Steps</h2>\n<table><tr><th>step</th><th>verdict</th><th>input hash</th><th>content hashes</th><th>reasons</th></tr>\n");
    for f in &report.steps {
        // Short hashes, the whole one on hover: 64 hex digits per column made the table
        // wider than a window.
        let short = |h: String| format!("<code title=\"{h}\">{}</code>", &h[..h.len().min(12)]);
        let hashes: Vec<String> = f
            .content_hashes
            .iter()
            .map(|h| short(h.to_string()))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#step-{0}\">{0}</a></td><td class=\"{1}\">{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
            escape::html(&f.name),
            f.verdict.as_str(),
            f.input_hash.map_or(String::new(), |h| short(h.to_string())),
            hashes.join("<br>"),
            escape::html(&reason_summary(f))
        );
    }
    out.push_str("</table>\n");
    for f in report
        .steps
        .iter()
        .filter(|s| s.verdict != Verdict::Reproducible)
    {
        let _ = writeln!(
            out,
            "<h2 id=\"step-{0}\">{0} <span class=\"{1}\">{1}</span></h2>",
            escape::html(&f.name),
            f.verdict.as_str()
        );
        let _ = writeln!(out, "<pre>{}</pre>", escape::html(&plain_finding(f)));
        if let Some(diff) = f.diff.as_ref().filter(|d| !d.is_identical()) {
            out.push_str(&embedded_diff(diff));
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// The diff report's own HTML page for one step's outputs (build 1 against the build
/// that differed), embedded whole with `srcdoc`, so its side-by-side rendering is reused
/// as it is and its styles and anchors stay its own. The frame grows to fit its page.
fn embedded_diff(diff: &crate::diff::DiffReport) -> String {
    let page = crate::report::diff::html::render(&crate::report::diff::Report::for_diff(
        "build 1", "build 2", diff,
    ));
    format!(
        "<iframe class=\"evidence\" title=\"evidence\" srcdoc=\"{}\" onload=\"try{{this.style.height=(this.contentDocument.documentElement.scrollHeight+20)+'px'}}catch(e){{}}\"></iframe>\n",
        escape::html(&page)
    )
}
