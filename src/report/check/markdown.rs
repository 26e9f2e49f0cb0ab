//! The Markdown summary of a check, fit for a pull-request comment.

use std::fmt::Write as _;

use super::finding::finding_body;
use super::summary::{reason_summary, summary_line};
use super::terminal::TABLE_MAX_STEPS;
use crate::engine::check::{groups, CheckReport, Verdict};
use crate::report::escape;

/// A short Markdown summary fit for a pull-request comment: the summary, the table of
/// steps for small graphs, then each cause once (folded), with the steps it concerns.
pub fn render(report: &CheckReport) -> String {
    let mut out = String::from("## reprobe check\n\n");
    let _ = writeln!(out, "**{}**\n", summary_line(report));
    if report.steps.len() <= TABLE_MAX_STEPS {
        out.push_str("| step | verdict | reasons |\n| --- | --- | --- |\n");
        for finding in &report.steps {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                finding.name,
                finding.verdict.as_str(),
                escape::markdown(&reason_summary(finding))
            );
        }
    }
    for group in groups::group(report) {
        let names: Vec<&str> = group.steps.iter().map(|f| f.name.as_str()).collect();
        let title = match (group.steps.len(), group.verdict) {
            (1, verdict) => format!("<code>{}</code>: {}", names[0], verdict.as_str()),
            (n, Verdict::Cascade) => format!("{n} cascades"),
            (n, verdict) => format!("{n} steps — {}: {}", verdict.as_str(), group.cause),
        };
        let _ = writeln!(out, "\n<details><summary>{title}</summary>\n");
        if group.steps.len() > 1 {
            let _ = writeln!(out, "Steps: {}\n", names.join(", "));
        }
        out.push_str("```\n");
        if group.verdict == Verdict::Cascade && group.steps.len() > 1 {
            let upstream = group.upstream();
            let _ = writeln!(out, "only inherit differences from {}", upstream.join(", "));
        } else {
            out.push_str(&finding_body(group.first(), false, false));
        }
        out.push_str("```\n</details>\n");
    }
    for (variation, why, steps) in groups::not_applied(report) {
        let _ = writeln!(
            out,
            "\nNot tested against {variation} ({}): {why}",
            steps.join(", ")
        );
    }
    if !report.not_varied.is_empty() {
        let _ = writeln!(out, "\nNot varied: {}", report.not_varied.join(", "));
    }
    out
}
