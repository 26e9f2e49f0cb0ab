//! The terminal view of a check: the table of steps, each cause once with its steps and
//! evidence, then the summary.

use std::fmt::Write as _;

use super::finding::{finding_body, render_finding};
use super::summary::{reason_summary, summary_line};
use crate::engine::check::{groups, CheckReport, Verdict};
use crate::report::table::{paint, Colour, Table};

/// Graphs with at most this many steps get the table of every step without `-v`.
pub(crate) const TABLE_MAX_STEPS: usize = 20;
/// Step names listed in a group without `-v`.
const GROUP_NAMES: usize = 6;

/// The terminal report: the table of steps (small graphs, or `-v`), then each cause once
/// with the steps it concerns and its evidence and fix, then the summary.
pub fn render(report: &CheckReport, colour: bool, verbose: bool) -> String {
    let mut out = String::new();
    if verbose || report.steps.len() <= TABLE_MAX_STEPS {
        out.push_str(&render_table(report, colour));
    }
    for group in groups::group(report) {
        out.push('\n');
        out.push_str(&render_group(&group, verbose, colour));
    }
    for (variation, why, steps) in groups::not_applied(report) {
        out.push('\n');
        let shown = if verbose { usize::MAX } else { GROUP_NAMES };
        let title = format!(
            "{} — reproducible, but {variation} did not reach {}",
            groups::name_list(&steps, shown),
            if steps.len() == 1 { "it" } else { "them" }
        );
        let _ = writeln!(out, "{}", paint(&title, Colour::Bold, colour));
        let _ = writeln!(out, "  not applied: {variation}: {why}");
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    out.push('\n');
    if !report.not_varied.is_empty() {
        let _ = writeln!(out, "not varied: {}", report.not_varied.join(", "));
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

fn render_table(report: &CheckReport, colour: bool) -> String {
    let mut table = Table::new(&["STEP", "VERDICT", "INPUT HASH", "CONTENT HASHES", "REASONS"]);
    for finding in &report.steps {
        let hashes: Vec<String> = finding.content_hashes.iter().map(|h| h.short()).collect();
        table.row(vec![
            finding.name.clone(),
            paint(
                finding.verdict.as_str(),
                verdict_colour(finding.verdict),
                colour,
            ),
            finding.input_hash.map_or("-".into(), |h| h.short()),
            if hashes.is_empty() {
                "-".into()
            } else {
                hashes.join(" ")
            },
            reason_summary(finding),
        ]);
    }
    table.render()
}

/// One cause: a single step as its own block; several as one block naming them, with
/// the first one's evidence (`-v`: every step's block).
fn render_group(group: &groups::Group<'_>, verbose: bool, colour: bool) -> String {
    if group.steps.len() == 1 || (verbose && group.verdict != Verdict::Cascade) {
        return group
            .steps
            .iter()
            .map(|f| render_finding(f, verbose, colour))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let names: Vec<&str> = group.steps.iter().map(|f| f.name.as_str()).collect();
    let shown = if verbose { usize::MAX } else { GROUP_NAMES };
    let mut out = String::new();
    if group.verdict == Verdict::Cascade {
        let upstream = group.upstream();
        let title = format!(
            "{} cascades — only inherit differences from {}",
            names.len(),
            groups::name_list(&upstream, shown)
        );
        let _ = writeln!(out, "{}", paint(&title, Colour::Bold, colour));
        let _ = writeln!(out, "  steps: {}", groups::name_list(&names, shown));
        return out;
    }
    let title = format!(
        "{} steps — {}: {}",
        names.len(),
        group.verdict.as_str(),
        group.cause
    );
    let _ = writeln!(out, "{}", paint(&title, Colour::Bold, colour));
    let _ = writeln!(out, "  steps: {}", groups::name_list(&names, shown));
    let first = group.first();
    let _ = writeln!(out, "  evidence of {} (-v shows every step's):", first.name);
    out.push_str(&finding_body(first, false, colour));
    out
}

fn verdict_colour(verdict: Verdict) -> Colour {
    match verdict {
        Verdict::Reproducible => Colour::Green,
        Verdict::Cascade => Colour::Yellow,
        _ => Colour::Red,
    }
}
