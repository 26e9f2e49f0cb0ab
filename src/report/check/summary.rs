//! The one-line summary of a check and the short reason of each step: the words every
//! view of a check (terminal, Markdown, HTML, JUnit) shows for a step and for the run.

use crate::engine::check::{groups, CheckReport, StepFinding, Verdict};

/// Step names the summary line lists per verdict (the JSON report has them all).
const SUMMARY_NAMES: usize = 4;

/// What a step's row says of it: its reason kinds, what it inherits from, the variations
/// that did not reach it, or the first line of its error.
pub(crate) fn reason_summary(finding: &StepFinding) -> String {
    let mut kinds: Vec<String> = Vec::new();
    for reason in &finding.reasons {
        let word = reason.kind.as_str().to_string();
        if !kinds.contains(&word) {
            kinds.push(word);
        }
    }
    if finding.verdict == Verdict::Cascade {
        return format!("inherits from {}", finding.cascade_of.join(", "));
    }
    if finding.verdict == Verdict::Reproducible && !finding.not_applied.is_empty() {
        let names: Vec<&str> = finding
            .not_applied
            .iter()
            .map(|n| n.variation.as_str())
            .collect();
        return format!("not tested: {}", names.join(", "));
    }
    if let Some(error) = &finding.error {
        return error
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect();
    }
    kinds.join(", ")
}

/// One line saying what each step is, root causes first: "5 steps: 1 nondeterministic
/// (root cause: stamp), 3 cascades (only inherit its differences), 1 reproducible".
/// Each verdict says what it means: a failed step was never judged, an undeclared one
/// reads files it does not declare (its outputs may well be identical).
pub fn summary_line(report: &CheckReport) -> String {
    let steps = &report.steps;
    let total = steps.len();
    let noun = |n: usize| if n == 1 { "step" } else { "steps" };
    let names = |keep: &dyn Fn(&StepFinding) -> bool| -> Vec<&str> {
        steps
            .iter()
            .filter(|s| keep(s))
            .map(|s| s.name.as_str())
            .collect()
    };
    if steps.iter().all(StepFinding::is_clean) {
        return match total {
            1 => "the step is reproducible".to_string(),
            n => format!("all {n} steps are reproducible"),
        };
    }
    let mut parts = Vec::new();
    let roots = report.root_causes();
    if !roots.is_empty() {
        parts.push(format!(
            "{} nondeterministic (root {}: {})",
            roots.len(),
            if roots.len() == 1 { "cause" } else { "causes" },
            groups::name_list(&roots, SUMMARY_NAMES)
        ));
    }
    let cascades = names(&|s| s.verdict == Verdict::Cascade).len();
    if cascades > 0 {
        parts.push(format!(
            "{cascades} {} (only inherit differences from upstream)",
            if cascades == 1 { "cascade" } else { "cascades" }
        ));
    }
    // Steps that failed themselves; those that only did not run because a dep failed
    // name it in `cascade_of` and are counted, not listed.
    let own_failures = names(&|s| s.verdict == Verdict::Failed && s.cascade_of.is_empty());
    if !own_failures.is_empty() {
        parts.push(format!(
            "{} failed, so not judged: {}",
            own_failures.len(),
            groups::name_list(&own_failures, SUMMARY_NAMES)
        ));
    }
    let not_run = names(&|s| s.verdict == Verdict::Failed && !s.cascade_of.is_empty()).len();
    if not_run > 0 {
        parts.push(format!("{not_run} not run because a dep failed"));
    }
    let network = names(&|s| s.verdict == Verdict::Network);
    if !network.is_empty() {
        parts.push(format!(
            "{} tried to reach the network: {}",
            network.len(),
            groups::name_list(&network, SUMMARY_NAMES)
        ));
    }
    let undeclared = names(&|s| s.verdict == Verdict::Undeclared);
    if !undeclared.is_empty() {
        parts.push(format!(
            "{} read undeclared files: {}",
            undeclared.len(),
            groups::name_list(&undeclared, SUMMARY_NAMES)
        ));
    }
    let reproducible = names(&|s| s.verdict == Verdict::Reproducible).len();
    let untested = names(&|s| s.verdict == Verdict::Reproducible && !s.not_applied.is_empty());
    if reproducible > 0 {
        let mut part = format!("{reproducible} reproducible");
        if !untested.is_empty() {
            let mut missing: Vec<&str> = steps
                .iter()
                .flat_map(|s| s.not_applied.iter().map(|n| n.variation.as_str()))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            part.push_str(&format!(
                " ({} of them not tested against {}: {})",
                untested.len(),
                missing.join(", "),
                groups::name_list(&untested, SUMMARY_NAMES)
            ));
        }
        parts.push(part);
    }
    format!("{total} {}: {}", noun(total), parts.join("; "))
}
