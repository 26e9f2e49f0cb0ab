//! The Markdown summary of a challenge, fit for a pull-request comment.

use crate::engine::challenge::ChallengeReport;
use crate::report::escape;

/// A Markdown summary, fit for a pull-request comment.
pub fn render(report: &ChallengeReport) -> String {
    let mut out = String::from("### reprobe challenge\n\n");
    for line in &report.summary {
        out.push_str(&format!("- {line}\n"));
    }
    if !report.disagree.is_empty() {
        out.push_str("\n| step | file | change | reasons |\n|---|---|---|---|\n");
        for d in &report.disagree {
            for c in &d.comparisons {
                for f in &c.files {
                    out.push_str(&format!(
                        "| `{}` | `{}` | {} | {} |\n",
                        d.step,
                        escape::markdown(&f.path),
                        f.change.as_str(),
                        f.reasons.join(", ")
                    ));
                }
            }
        }
    }
    out
}
