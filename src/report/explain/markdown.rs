//! The Markdown summary of an explanation, fit for a pull-request comment.

use super::change::change_lines;
use crate::engine::explain::changes::InputChange;
use crate::engine::explain::content::{plural, ContentDiff};
use crate::engine::explain::ExplainReport;
use crate::report::escape;
use crate::report::text::seconds;

/// A Markdown summary, fit for a pull-request comment.
pub fn render(report: &ExplainReport) -> String {
    let mut out = format!(
        "### reprobe explain\n\n`{}` → `{}`\n\n",
        escape::markdown(&report.old.id),
        escape::markdown(&report.new.id)
    );
    for line in &report.summary {
        out.push_str(&format!("- {}\n", escape::markdown(line)));
    }
    for root in &report.root_causes {
        out.push_str(&format!("\n#### `{}`\n\n", escape::markdown(&root.step)));
        for change in &root.changes {
            md_change(change, &mut out);
        }
        if root.cascade_count > 0 {
            out.push_str(&format!(
                "\nfollowed by {}\n",
                plural(root.cascade_count, "cascade")
            ));
        }
    }
    if !report.is_empty() {
        md_models(report, &mut out);
    }
    out
}

fn md_change(change: &InputChange, out: &mut String) {
    let lines = change_lines(change, false);
    out.push_str(&format!(
        "- `{}`\n",
        escape::markdown(lines.first().map_or("", String::as_str))
    ));
    if let InputChange::FileModified {
        content: ContentDiff::Text { unified, .. },
        ..
    } = change
    {
        out.push_str(&format!(
            "\n```diff\n{}```\n\n",
            unified.replace("```", "'''")
        ));
    }
}

fn md_models(report: &ExplainReport, out: &mut String) {
    out.push_str("\n| caching model | used by | rebuilds | time |\n|---|---|---|---|\n");
    for row in &report.models {
        let title = if row.reprobe {
            format!("**{}** (reprobe)", row.title)
        } else {
            row.title.to_string()
        };
        out.push_str(&format!(
            "| {title} | {} | {}/{} | {} |\n",
            row.used_by,
            row.steps,
            row.total_steps,
            seconds(row.time_ms)
        ));
    }
}
