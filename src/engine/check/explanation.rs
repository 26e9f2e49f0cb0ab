//! Why a nondeterministic step's outputs differ: the diff of its two runs, given the
//! values each build had, with what those values do not explain bisected over the
//! variations.

use super::bisect::bisect;
use super::context::{CheckContext, CheckOptions};
use super::diff_outputs::{attributed_by_evidence, diff_outputs, known_values};
use super::findings::StepFinding;
use super::rounds::Round;
use crate::diff::{self, Reason};
use crate::engine::exec::SandboxProfile;
use crate::model::manifest::StepRecord;

/// Gives `finding` the reasons why the first build's outputs of step `index` and those of
/// `other` (its run in `round`) differ, bisecting what the known values do not explain.
#[allow(clippy::too_many_arguments)]
pub(super) fn explain(
    cx: &CheckContext,
    options: &CheckOptions,
    rounds: &[Round],
    index: usize,
    first: &StepRecord,
    other: &StepRecord,
    round: &Round,
    finding: &mut StepFinding,
    varied: &SandboxProfile,
) {
    let mut first_window = rounds[0].window;
    if let Some(real) = round
        .unfaked_window
        .filter(|_| round.unfaked.contains(&index))
    {
        // Re-run with the real clock: its times are real ones, after the first build.
        first_window.end = first_window.end.max(real.end);
    }
    let known = known_values(
        &rounds[0].profile,
        first_window,
        &round.profile,
        round.window,
    );
    let report = match diff_outputs(cx, &first.outputs, &other.outputs, known) {
        Ok(report) => report,
        Err(err) => {
            finding
                .notes
                .push(format!("could not diff the outputs: {err}"));
            return;
        }
    };
    finding.reasons = report
        .items
        .iter()
        .flat_map(|i| i.reasons.iter().cloned())
        .collect();
    let unexplained = finding.reasons.iter().any(|r| !attributed_by_evidence(r));
    if unexplained && options.bisect {
        bisect(cx, options, rounds, index, finding, varied);
    }
    let mut report = report;
    sync_reasons(&mut report, &finding.reasons);
    finding.diff = Some(report);
}

/// Writes the finding's reasons (with bisection's attributions) back into the diff they
/// were taken from, item by item in the same order, so the full diff agrees with them.
fn sync_reasons(report: &mut diff::DiffReport, reasons: &[Reason]) {
    let mut rest = reasons;
    for item in &mut report.items {
        let (mine, others) = rest.split_at(item.reasons.len().min(rest.len()));
        item.reasons = mine.to_vec();
        rest = others;
    }
}
