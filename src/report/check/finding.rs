//! The text of one step's finding: its title and its evidence (error, reasons, fixes,
//! network attempts, undeclared reads, notes). The terminal view prints it; the Markdown,
//! HTML and JUnit views quote it uncoloured.

use std::fmt::Write as _;

use crate::engine::check::StepFinding;
use crate::report::table::{paint, Colour};
use crate::report::text::{printable_argv, shorten};

/// A finding: its title (step and verdict), then its evidence.
pub(crate) fn render_finding(finding: &StepFinding, verbose: bool, colour: bool) -> String {
    let mut out = String::new();
    let title = format!("{} — {}", finding.name, finding.verdict.as_str());
    let _ = writeln!(out, "{}", paint(&title, Colour::Bold, colour));
    out.push_str(&finding_body(finding, verbose, colour));
    out
}

/// A finding uncoloured and whole, as the HTML and JUnit views quote it.
pub(crate) fn plain_finding(finding: &StepFinding) -> String {
    render_finding(finding, true, false)
}

/// A finding's evidence, without its title: the error, the reasons (the first three of
/// each file without `verbose`), the fixes, network attempts, undeclared reads, notes.
pub(crate) fn finding_body(finding: &StepFinding, verbose: bool, colour: bool) -> String {
    let mut out = String::new();
    if let Some(error) = &finding.error {
        let _ = writeln!(out, "  {error}");
    }
    if let Some(tail) = &finding.stderr_tail {
        for line in tail.lines() {
            let _ = writeln!(out, "  | {line}");
        }
    }
    if let Some(with) = &finding.varies_with {
        let text = if with.is_empty() {
            "nothing: it differs with no variation at all (random)".to_string()
        } else {
            with.join(", ")
        };
        let _ = writeln!(out, "  varies with: {text}");
    }
    let limit = if verbose { usize::MAX } else { 3 };
    let mut per_path: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut hidden = 0;
    let mut remedies: Vec<&str> = Vec::new();
    for reason in &finding.reasons {
        let shown = per_path.entry(reason.path.as_str()).or_default();
        *shown += 1;
        if *shown > limit {
            hidden += 1;
            continue;
        }
        let location = match (reason.offset, reason.line) {
            (_, Some(line)) => format!(" line {line}"),
            (Some(offset), None) => format!(" offset {offset}"),
            _ => String::new(),
        };
        let context = reason
            .context
            .as_deref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let variation = reason
            .variation
            .as_deref()
            .map(|v| format!(" (varies with {v})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {}{location}{context}: {:?} -> {:?}{variation}",
            paint(reason.kind.as_str(), Colour::Yellow, colour),
            reason.path,
            shorten(&reason.a),
            shorten(&reason.b)
        );
        if let Some(remedy) = reason.remedy.as_deref() {
            if !remedies.contains(&remedy) {
                remedies.push(remedy);
            }
        }
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "  ... {hidden} more (-v shows all; the HTML report has everything)"
        );
    }
    for remedy in remedies {
        let _ = writeln!(out, "  fix: {remedy}");
    }
    for trial in &finding.fix_trials {
        if trial.verified {
            let _ = writeln!(
                out,
                "  verified: with {} the step is reproducible",
                trial.remedy
            );
        } else {
            let _ = writeln!(
                out,
                "  not enough: with {} it still differs: {}",
                trial.remedy,
                trial.still.as_deref().unwrap_or_default()
            );
        }
    }
    for attempt in &finding.network {
        let name = attempt
            .dns_name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  network: pid {} `{}` -> {} {}:{}{name}",
            attempt.pid,
            printable_argv(&attempt.argv),
            attempt.family,
            attempt.address,
            attempt.port
        );
    }
    if finding.network_omitted > 0 {
        let _ = writeln!(
            out,
            "  network: {} more distinct attempts, counted but not listed",
            finding.network_omitted
        );
    }
    for path in &finding.undeclared {
        let _ = writeln!(out, "  undeclared read: {path}");
    }
    for note in &finding.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    out.push_str(&render_not_applied(finding));
    out
}

/// "  not applied: clock: ..." lines.
fn render_not_applied(finding: &StepFinding) -> String {
    let mut out = String::new();
    for gap in &finding.not_applied {
        let _ = writeln!(out, "  not applied: {}: {}", gap.variation, gap.why);
    }
    out
}
