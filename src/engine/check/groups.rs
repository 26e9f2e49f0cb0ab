//! Findings grouped by cause, so that a report says each cause once: "23 steps:
//! build_path in .debug_line_str; fix: ..." instead of 23 blocks with the same evidence
//! and the same fix. The terminal, Markdown and HTML reports all read these groups; the
//! JSON report keeps every step's own reasons.

use std::collections::BTreeMap;

use super::findings::{verdict_rank, CheckReport, StepFinding, Verdict};

/// Steps with one verdict and one cause.
#[derive(Debug)]
pub struct Group<'r> {
    /// Their verdict.
    pub verdict: Verdict,
    /// The cause in a few words (`build_path in .debug_line_str`), empty when the
    /// verdict says it all (a cascade).
    pub cause: String,
    /// The steps, in the report's (topological) order.
    pub steps: Vec<&'r StepFinding>,
}

impl Group<'_> {
    /// The step whose evidence stands for the group's.
    pub fn first(&self) -> &StepFinding {
        self.steps[0]
    }

    /// For cascades: the upstream steps they inherit from, sorted, each once.
    pub fn upstream(&self) -> Vec<&str> {
        let mut upstream: Vec<&str> = self
            .steps
            .iter()
            .flat_map(|f| f.cascade_of.iter().map(String::as_str))
            .collect();
        upstream.sort_unstable();
        upstream.dedup();
        upstream
    }
}

/// What makes two findings "the same cause": their verdict and, for a difference, the
/// first reason's kind, the variation it comes with and the section of the file it lies
/// in (not the file: 23 objects share a cause). Failures, network attempts and
/// undeclared reads are told apart by what they say.
fn cause_of(finding: &StepFinding) -> String {
    match finding.verdict {
        Verdict::Nondeterministic => {
            let Some(reason) = finding.reasons.first() else {
                return "differs (no reason found)".to_string();
            };
            let mut cause = reason.kind.as_str().to_string();
            if let Some(section) = reason
                .context
                .as_deref()
                .and_then(|c| c.strip_prefix("section "))
                .map(|s| s.split(':').next().unwrap_or(s))
            {
                cause.push_str(&format!(" in {section}"));
            }
            match finding.varies_with.as_deref() {
                Some([]) if finding.inherent => cause.push_str(" (with no variation at all)"),
                Some(with) if !with.is_empty() => {
                    cause.push_str(&format!(" (varies with {})", with.join(", ")))
                }
                _ => {
                    if let Some(variation) = &reason.variation {
                        cause.push_str(&format!(" (varies with {variation})"));
                    }
                }
            }
            cause
        }
        Verdict::Cascade | Verdict::Reproducible => String::new(),
        Verdict::Undeclared => format!("reads {}", finding.undeclared.join(", ")),
        Verdict::Network | Verdict::Failed => finding
            .error
            .as_deref()
            .map(|e| e.lines().next().unwrap_or(e).to_string())
            .unwrap_or_default(),
    }
}

/// Every finding that is not a clean pass, grouped by verdict and cause; groups ordered
/// by verdict (failures first, cascades last), then by size, largest first.
pub fn group(report: &CheckReport) -> Vec<Group<'_>> {
    let mut groups: BTreeMap<(u8, String), Vec<&StepFinding>> = BTreeMap::new();
    for finding in &report.steps {
        if finding.verdict == Verdict::Reproducible {
            continue;
        }
        let rank = verdict_rank(finding.verdict);
        groups
            .entry((rank, cause_of(finding)))
            .or_default()
            .push(finding);
    }
    let mut out: Vec<Group<'_>> = groups
        .into_iter()
        .map(|((_, cause), steps)| Group {
            verdict: steps[0].verdict,
            cause,
            steps,
        })
        .collect();
    out.sort_by_key(|g| (verdict_rank(g.verdict), std::cmp::Reverse(g.steps.len())));
    out
}

/// Steps that were reproducible but not tested against every variation, grouped by the
/// variation and why.
pub fn not_applied(report: &CheckReport) -> Vec<(String, String, Vec<&str>)> {
    let mut groups: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for finding in report
        .steps
        .iter()
        .filter(|f| f.verdict == Verdict::Reproducible)
    {
        for gap in &finding.not_applied {
            groups
                .entry((gap.variation.clone(), gap.why.clone()))
                .or_default()
                .push(&finding.name);
        }
    }
    groups
        .into_iter()
        .map(|((variation, why), steps)| (variation, why, steps))
        .collect()
}

/// Up to `shown` names, then "(+N more)".
pub fn name_list(names: &[&str], shown: usize) -> String {
    if names.len() <= shown {
        return names.join(", ");
    }
    format!(
        "{} (+{} more)",
        names[..shown].join(", "),
        names.len() - shown
    )
}
