//! The verdict of one step: failed, not run, reproducible, or, when a later build's
//! outputs differ, nondeterministic or a cascade (re-run on the first build's inputs, a
//! step that then matches only inherits an upstream difference), then network or
//! undeclared from what the sandbox saw.

use std::collections::BTreeSet;

use super::context::{CheckContext, CheckEvent, CheckOptions};
use super::explanation::explain;
use super::findings::{empty_finding, StepFinding, Verdict};
use super::rounds::{rerun_on_first_inputs, Round};
use crate::engine::exec::SandboxProfile;
use crate::model::manifest::{StepRecord, StepStatus};

/// The finding of step `index`, judged on every round (`earlier`: the findings of the
/// steps before it, in topological order).
pub(super) fn judge_step(
    cx: &CheckContext,
    options: &CheckOptions,
    rounds: &[Round],
    index: usize,
    earlier: &[StepFinding],
    varied: &SandboxProfile,
) -> StepFinding {
    let records: Vec<&StepRecord> = rounds.iter().map(|r| &r.manifest.steps[index]).collect();
    let first = records[0];
    let mut finding = empty_finding(first);
    for record in &records {
        finding.network_omitted = finding.network_omitted.max(record.findings.network_omitted);
        for attempt in &record.findings.network {
            if !finding.network.contains(attempt) {
                finding.network.push(attempt.clone());
            }
        }
        for path in &record.findings.undeclared {
            if !finding.undeclared.contains(path) {
                finding.undeclared.push(path.clone());
            }
        }
    }
    if let Some(failure) = judge_failures(&records, &mut finding) {
        finding.verdict = failure;
        return finding;
    }
    if let Some(verdict) = judge_not_run(cx, index, earlier, &records, &mut finding) {
        finding.verdict = verdict;
        return finding;
    }
    // Judge every later round against the first; the first difference found decides. A
    // step that did not run in a round (a dep failed there) is run on the first build's
    // inputs with that round's variations, as a step whose inputs differ is.
    for (number, (round, record)) in rounds.iter().zip(&records).enumerate().skip(1) {
        let skipped = record.status == StepStatus::Skipped;
        if !skipped && record.content_hash == first.content_hash {
            continue;
        }
        let (other, cascade_of) = if !skipped && record.input_hash == first.input_hash {
            ((*record).clone(), Vec::new())
        } else {
            let upstream = differing_upstream(cx, index, earlier);
            cx.tell(CheckEvent::Rerun {
                step: &cx.graph.steps[index].name,
                why: "re-run on the first build's inputs",
            });
            let rerun = rerun_on_first_inputs(cx, rounds, index, &step_profile(round, index));
            if rerun.content_hash.is_none() {
                finding.verdict = Verdict::Failed;
                finding.error = Some(format!(
                    "failed only in build {} (re-run on the first build's inputs): {}",
                    number + 1,
                    rerun.error.as_deref().unwrap_or("no outputs")
                ));
                finding.stderr_tail = rerun.stderr_tail;
                break;
            }
            if rerun.content_hash == first.content_hash {
                finding.verdict = Verdict::Cascade;
                finding.cascade_of = upstream;
                if skipped {
                    finding.notes.push(format!(
                        "not run in build {}: {}; re-run on the first build's inputs with that build's variations, its output is identical: it only inherits the failure",
                        number + 1,
                        skip_reason(record)
                    ));
                } else {
                    finding.content_hashes.extend(record.content_hash);
                    finding
                        .notes
                        .push("re-run on the first build's inputs, its output is identical: it only inherits a difference".into());
                }
                continue;
            }
            (rerun, upstream)
        };
        finding.verdict = Verdict::Nondeterministic;
        finding.content_hashes = vec![first.content_hash, other.content_hash]
            .into_iter()
            .flatten()
            .collect();
        if !cascade_of.is_empty() {
            finding
                .notes
                .push("judged on the first build's inputs (its deps also differed): it is nondeterministic itself".into());
        }
        explain(
            cx,
            options,
            rounds,
            index,
            first,
            &other,
            round,
            &mut finding,
            varied,
        );
        break;
    }
    if finding.verdict == Verdict::Reproducible || finding.verdict == Verdict::Cascade {
        if !finding.network.is_empty() {
            finding.verdict = Verdict::Network;
        } else if !finding.undeclared.is_empty() {
            finding.verdict = Verdict::Undeclared;
        }
    } else if !finding.network.is_empty() {
        finding
            .notes
            .push("the step also tried to reach the network".into());
    }
    finding
}

/// A step that failed in some build is judged `failed` (with the builds it was skipped
/// in counted as failures too).
fn judge_failures(records: &[&StepRecord], finding: &mut StepFinding) -> Option<Verdict> {
    if !records.iter().any(|r| r.status == StepStatus::Failed) {
        return None;
    }
    let failed: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.status, StepStatus::Failed | StepStatus::Skipped))
        .map(|(i, _)| i)
        .collect();
    if failed.is_empty() {
        return None;
    }
    let worst = records[failed[0]];
    let builds: Vec<String> = failed.iter().map(|i| (i + 1).to_string()).collect();
    let why = worst.error.clone().unwrap_or_default();
    finding.error = Some(if failed.len() == records.len() {
        format!("failed in every build: {why}")
    } else {
        format!(
            "failed only in build {} of {}: {why}",
            builds.join(", "),
            records.len()
        )
    });
    finding.stderr_tail = worst.stderr_tail.clone();
    finding.content_hashes = records.iter().filter_map(|r| r.content_hash).collect();
    Some(Verdict::Failed)
}

/// A step that never failed itself but was not run in some builds because a dep failed
/// there. Not run in any build: `failed`, naming the failed deps. Not run in the first
/// build only: a `cascade` of the failure that cannot be judged (no first-build inputs to
/// re-run it on). Not run only in later builds: `None`, and [`judge_step`] runs it on
/// the first build's inputs.
fn judge_not_run(
    cx: &CheckContext,
    index: usize,
    earlier: &[StepFinding],
    records: &[&StepRecord],
    finding: &mut StepFinding,
) -> Option<Verdict> {
    let first = records[0];
    if first.status != StepStatus::Skipped {
        return None;
    }
    finding.cascade_of = differing_upstream(cx, index, earlier);
    let why = skip_reason(first);
    finding.content_hashes = records.iter().filter_map(|r| r.content_hash).collect();
    if records.iter().all(|r| r.status == StepStatus::Skipped) {
        finding.error = Some(format!("not run in any build: {why}"));
        return Some(Verdict::Failed);
    }
    finding.notes.push(format!(
        "not run in build 1: {why}; it ran in the other builds but cannot be judged without the first build's inputs"
    ));
    Some(Verdict::Cascade)
}

/// Why a step was not run ("dep `x` did not succeed").
fn skip_reason(record: &StepRecord) -> &str {
    let why = record.error.as_deref().unwrap_or("a dep failed");
    why.strip_prefix("not run: ").unwrap_or(why)
}

/// The profile a step ran with in `round` (with the real clock if it had to be re-run
/// so there).
fn step_profile(round: &Round, index: usize) -> SandboxProfile {
    let mut profile = round.profile.clone();
    if round.unfaked.contains(&index) {
        profile.push_clock = false;
    }
    profile
}

/// The steps upstream of `index` whose differences or failures it inherits, reduced to
/// root causes: nondeterministic steps and steps that failed themselves.
fn differing_upstream(cx: &CheckContext, index: usize, earlier: &[StepFinding]) -> Vec<String> {
    let mut roots = BTreeSet::new();
    let mut stack: Vec<&str> = cx.graph.steps[index]
        .deps
        .iter()
        .map(String::as_str)
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = stack.pop() {
        if !seen.insert(name) {
            continue;
        }
        let Some(position) = cx.graph.position(name) else {
            continue;
        };
        let Some(found) = earlier.get(position) else {
            continue;
        };
        match found.verdict {
            Verdict::Nondeterministic => {
                roots.insert(name.to_string());
            }
            Verdict::Failed if found.cascade_of.is_empty() => {
                roots.insert(name.to_string());
            }
            Verdict::Failed => roots.extend(found.cascade_of.iter().cloned()),
            Verdict::Cascade => {
                stack.extend(cx.graph.steps[position].deps.iter().map(String::as_str))
            }
            _ => {}
        }
    }
    roots.into_iter().collect()
}
