//! The terminal view of an explanation: the summary, root causes with their changes and
//! folded cascades, nondeterministic steps, the caching-model table, the `--step` tree.

use super::change::{change_lines, or_dash};
use crate::engine::explain::changes::InputChange;
use crate::engine::explain::content::plural;
use crate::engine::explain::step_tree::StepTree;
use crate::engine::explain::{Cascade, CascadeIndex, ExplainReport, RootCause};
use crate::report::table::{paint, Colour, Table};
use crate::report::text::seconds;

/// Most cascade names listed under a root cause without `-v`.
const FOLDED_NAMES: usize = 10;

/// The terminal view: summary, root causes with their changes and folded cascades,
/// nondeterministic steps, the caching-model table, and the `--step` tree.
pub fn render(report: &ExplainReport, colour: bool, verbose: bool) -> String {
    let mut out = String::new();
    out.push_str(&paint(
        &format!("OLD {} -> NEW {}", report.old.id, report.new.id),
        Colour::Dim,
        colour,
    ));
    out.push('\n');
    for (i, line) in report.summary.iter().enumerate() {
        let hue = if i == 0 { Colour::Bold } else { Colour::Yellow };
        out.push_str(&paint(line, hue, colour));
        out.push('\n');
    }
    let index = report.cascade_index();
    render_roots(report, &index, colour, verbose, &mut out);
    render_nondeterministic(report, &index, colour, &mut out);
    if verbose {
        render_cascades(report, &mut out);
    }
    if !report.is_empty() {
        render_models(report, &mut out);
    }
    if let Some(tree) = &report.step {
        render_tree(tree, colour, &mut out);
    }
    out
}

fn section(title: &str, colour: bool, out: &mut String) {
    out.push('\n');
    out.push_str(&paint(title, Colour::Bold, colour));
    out.push('\n');
}

fn render_roots(
    report: &ExplainReport,
    index: &CascadeIndex,
    colour: bool,
    verbose: bool,
    out: &mut String,
) {
    if report.root_causes.is_empty() {
        return;
    }
    section("root causes (the step's own inputs changed)", colour, out);
    for root in &report.root_causes {
        render_root(index, root, colour, verbose, out);
    }
}

fn render_root(
    index: &CascadeIndex,
    root: &RootCause,
    colour: bool,
    verbose: bool,
    out: &mut String,
) {
    out.push_str(&format!(
        "  {}  ({}, input {} -> {})\n",
        paint(&root.step, Colour::Bold, colour),
        status_word(root.status),
        or_dash(root.old_input_hash.map(|h| h.short())),
        or_dash(root.new_input_hash.map(|h| h.short())),
    ));
    for change in &root.changes {
        for line in change_lines(change, colour) {
            out.push_str(&format!("    {line}\n"));
        }
    }
    if root.output_unchanged {
        out.push_str(
            "    = same output as before: early cutoff, nothing below it rebuilt for this\n",
        );
    }
    out.push_str(&folded(index.of(&root.step), verbose));
}

fn folded(followers: &[&Cascade], verbose: bool) -> String {
    if followers.is_empty() {
        return String::new();
    }
    let shown = if verbose {
        followers.len()
    } else {
        FOLDED_NAMES
    };
    let mut names = followers
        .iter()
        .take(shown)
        .map(|c| c.step.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if followers.len() > shown {
        names.push_str(&format!(
            " and {} more (-v lists them)",
            followers.len() - shown
        ));
    }
    format!(
        "    followed by {}: {names}\n",
        plural(followers.len(), "cascade")
    )
}

fn status_word(status: crate::model::manifest::StepStatus) -> &'static str {
    use crate::model::manifest::StepStatus::*;
    match status {
        Ran => "rebuilt",
        Cached => "cache hit from an earlier build",
        Failed => "failed",
        Skipped => "skipped",
    }
}

fn render_nondeterministic(
    report: &ExplainReport,
    index: &CascadeIndex,
    colour: bool,
    out: &mut String,
) {
    if report.nondeterministic.is_empty() {
        return;
    }
    section(
        "nondeterministic (same input hash, different output)",
        colour,
        out,
    );
    for n in &report.nondeterministic {
        out.push_str(&format!(
            "  {}  output {} -> {}\n",
            paint(&n.step, Colour::Bold, colour),
            n.old_content_hash.short(),
            n.new_content_hash.short()
        ));
        out.push_str(&folded(index.of(&n.step), false));
    }
}

fn render_cascades(report: &ExplainReport, out: &mut String) {
    if report.cascades.is_empty() {
        return;
    }
    out.push_str("\ncascades (only a dep's output changed)\n");
    for c in &report.cascades {
        let deps: Vec<String> = c
            .deps_changed
            .iter()
            .filter_map(|d| match d {
                InputChange::DepContent { step, .. } => Some(step.clone()),
                _ => None,
            })
            .collect();
        let cutoff = if c.output_unchanged {
            ", same output: early cutoff"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {}  (deps changed: {}; from {}{cutoff})\n",
            c.step,
            deps.join(", "),
            c.caused_by.join(", ")
        ));
    }
}

fn render_models(report: &ExplainReport, out: &mut String) {
    out.push_str("\ncaching models: what this change rebuilds under each\n");
    let mut table = Table::new(&["MODEL", "USED BY", "REBUILDS", "TIME"]);
    for row in &report.models {
        let star = if row.reprobe { " *" } else { "" };
        table.row(vec![
            format!("{}{star}", row.title),
            row.used_by.to_string(),
            format!("{}/{}", row.steps, row.total_steps),
            seconds(row.time_ms),
        ]);
    }
    out.push_str(&table.render());
    out.push_str(&format!("* {}\n", report.reprobe_model));
    out.push_str(&format!(
        "this build ran {} ({}); recorded durations are those of each step's last run\n",
        plural(report.ran.steps, "step"),
        seconds(report.ran.time_ms)
    ));
}

fn render_tree(tree: &StepTree, colour: bool, out: &mut String) {
    section(
        &format!("input tree of {} (what its key covers)", tree.step),
        colour,
        out,
    );
    out.push_str(&format!(
        "  input hash: {} -> {}\n",
        or_dash(tree.old_input_hash.map(|h| h.to_string())),
        or_dash(tree.new_input_hash.map(|h| h.to_string()))
    ));
    for line in &tree.lines {
        let name = format!("{:?}", line.section).to_lowercase();
        let label = if line.key.is_empty() {
            name
        } else {
            format!("{name} {}", line.key)
        };
        let text = match (&line.old, &line.new) {
            _ if line.same => format!("  = {label}: {}", line.new.as_deref().unwrap_or("")),
            (Some(a), Some(b)) => {
                paint(&format!("  ~ {label}: {a} -> {b}"), Colour::Yellow, colour)
            }
            (None, Some(b)) => paint(&format!("  + {label}: {b}"), Colour::Green, colour),
            (Some(a), None) => paint(&format!("  - {label}: {a}"), Colour::Red, colour),
            (None, None) => continue,
        };
        out.push_str(&text);
        out.push('\n');
    }
    out.push_str("  not covered by the key:\n");
    for item in &tree.not_covered {
        out.push_str(&format!("    - {item}\n"));
    }
    for finding in &tree.findings {
        out.push_str(&format!("  sandbox finding: {finding}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::explain::tests::{graph, run_with, simulate};
    use crate::engine::explain::ExplainOptions;

    /// b's command changes a word and gains an env var; its tree is asked for.
    fn report() -> ExplainReport {
        let mut g = graph();
        g[1].command = "make -O2 b".into();
        let old = simulate(&g, "1");
        g[1].command = "make -O1 b".into();
        g[1].env.insert("DEBUG".into(), "1".into());
        let options = ExplainOptions {
            step: Some("b".into()),
            ..ExplainOptions::default()
        };
        run_with(&old, &simulate(&g, "2"), &options)
    }

    fn without_ansi(text: &str) -> String {
        regex::Regex::new("\x1b\\[[0-9;]*m")
            .expect("regex")
            .replace_all(text, "")
            .into_owned()
    }

    #[test]
    fn colour_on_paints_the_changes_and_colour_off_prints_the_same_text_plain() {
        let report = report();
        let on = render(&report, true, false);
        let off = render(&report, false, false);
        // The replaced word: old in red, new in green; the tree's added env var in green.
        assert!(
            on.contains("[\x1b[31m-O2\x1b[0m -> \x1b[32m-O1\x1b[0m]"),
            "{on}"
        );
        assert!(on.contains("\x1b[32m  + env DEBUG: 1\x1b[0m"), "{on}");
        assert!(!off.contains('\x1b'), "{off}");
        assert!(off.contains("[-O2 -> -O1]") && off.contains("  + env DEBUG: 1"));
        assert_eq!(without_ansi(&on), off);
    }
}
