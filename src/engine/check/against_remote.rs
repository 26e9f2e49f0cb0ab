//! `check --against-remote`: rebuild every step here and compare it with what another
//! machine published for the same inputs (the remote cache's entry for the same key).
//!
//! A step whose content differs from the server's is a root cause (`nondeterministic`):
//! the server's blobs are downloaded (verified) and both sides are diffed and classified
//! as `check` does for its two builds. A step that differs only because a dep did has
//! another key than the server's entry, so it cannot be looked up: it is a `cascade` of
//! that dep. A step the server has no entry for is not compared, and says so.

use std::sync::atomic::AtomicBool;

use super::context::{CheckContext, CheckEvent, CheckOptions};
use super::diff_outputs::diff_outputs;
use super::findings::{
    empty_finding, overall_verdict, BuildSummary, CheckReport, NotApplied, StepFinding, Verdict,
};
use super::remedy;
use super::rounds::run_round;
use crate::diff::KnownValues;
use crate::engine::exec::{BuildError, SandboxProfile};
use crate::engine::remote_cache::RemoteTier;
use crate::engine::REPORT_SCHEMA;
use crate::model::manifest::{StepRecord, StepStatus};
use crate::store::ActionEntry;

/// The name under which a step's comparison with the server shows in `not_applied`.
const REMOTE: &str = "remote";

/// Rebuilds the graph once, without the cache, and judges each step against the
/// server's entry for its key.
pub fn check_against_remote(
    cx: &CheckContext,
    options: &CheckOptions,
    remote: &RemoteTier,
    interrupted: &AtomicBool,
) -> Result<CheckReport, BuildError> {
    let profile = SandboxProfile {
        limits: options.limits,
        ..SandboxProfile::default()
    };
    let manifest = run_round(cx, 1, profile, options.jobs, interrupted)?.manifest;
    let mut findings: Vec<StepFinding> = Vec::new();
    for (index, step) in cx.graph.steps.iter().enumerate() {
        cx.tell(CheckEvent::Judging {
            step: &step.name,
            done: index,
            total: cx.graph.steps.len(),
        });
        let record = &manifest.steps[index];
        let mut finding = judge(cx, remote, record, &step.outputs, &step.deps, &findings);
        remedy::name_and_fix(&mut finding, &cx.graph.steps, step);
        findings.push(finding);
    }
    let verdict = overall_verdict(&findings);
    let count = |v: Verdict| findings.iter().filter(|f| f.verdict == v).count();
    let unmatched = findings
        .iter()
        .filter(|f| f.not_applied.iter().any(|n| n.variation == REMOTE))
        .count();
    let mut notes = vec![format!(
        "compared with the remote cache {}: {} step(s) agree, {} differ, {} inherit a \
         difference, {unmatched} not compared",
        remote.url(),
        count(Verdict::Reproducible) - unmatched,
        count(Verdict::Nondeterministic),
        count(Verdict::Cascade),
    )];
    notes.extend(remote.take_warnings());
    Ok(CheckReport {
        schema: REPORT_SCHEMA,
        command: "check",
        verdict,
        variations: Vec::new(),
        not_varied: Vec::new(),
        notes,
        builds: vec![BuildSummary {
            round: 1,
            id: manifest.id.clone(),
            profile: manifest.variations.clone(),
            started: manifest.started.clone(),
            finished: manifest.finished.clone(),
        }],
        steps: findings,
        first_build: manifest,
    })
}

/// The finding of one step rebuilt here (`record`) against the server's entry.
fn judge(
    cx: &CheckContext,
    remote: &RemoteTier,
    record: &StepRecord,
    declared: &[String],
    deps: &[String],
    earlier: &[StepFinding],
) -> StepFinding {
    let mut finding = empty_finding(record);
    finding.network = record.findings.network.clone();
    finding.network_omitted = record.findings.network_omitted;
    finding.undeclared = record.findings.undeclared.clone();
    let (Some(key), Some(local)) = (record.input_hash, record.content_hash) else {
        finding.verdict = Verdict::Failed;
        finding.error = Some(match record.status {
            StepStatus::Skipped => format!(
                "failed in every build: not run ({})",
                record.error.as_deref().unwrap_or("a dep failed")
            ),
            _ => format!(
                "failed in every build: {}",
                record.error.as_deref().unwrap_or("no outputs")
            ),
        });
        finding.stderr_tail = record.stderr_tail.clone();
        return finding;
    };
    let differing: Vec<String> = deps
        .iter()
        .filter(|d| {
            earlier.iter().any(|f| {
                &f.name == *d && matches!(f.verdict, Verdict::Nondeterministic | Verdict::Cascade)
            })
        })
        .cloned()
        .collect();
    let not_compared = |finding: &mut StepFinding, why: String| {
        finding.not_applied.push(NotApplied {
            variation: REMOTE.to_string(),
            why,
        });
    };
    let theirs: ActionEntry = match remote.fetch_entry(&cx.store, &key, declared) {
        Ok(Some(Ok(entry))) => entry,
        Ok(None) if !differing.is_empty() => {
            finding.verdict = Verdict::Cascade;
            finding.cascade_of = differing;
            return finding;
        }
        Ok(None) => {
            not_compared(
                &mut finding,
                format!(
                    "the remote cache {} has no entry for this step's inputs: build it with \
                     `reprobe build --remote` on another machine first",
                    remote.url()
                ),
            );
            return finding;
        }
        Ok(Some(Err(why))) => {
            not_compared(
                &mut finding,
                format!("the remote cache's entry was refused: {why}"),
            );
            return finding;
        }
        Err(err) => {
            not_compared(&mut finding, format!("not compared: {err}"));
            return finding;
        }
    };
    if theirs.content_hash == local {
        return finding;
    }
    finding.verdict = Verdict::Nondeterministic;
    finding.content_hashes = vec![local, theirs.content_hash];
    finding.notes.push(format!(
        "the remote cache {} holds other outputs for the same inputs (content {}, built by \
         another machine); this machine built {}",
        remote.url(),
        theirs.content_hash.short(),
        local.short()
    ));
    match diff_outputs(cx, &record.outputs, &theirs.outputs, KnownValues::default()) {
        Ok(report) => {
            finding.reasons = report
                .items
                .iter()
                .flat_map(|i| i.reasons.iter().cloned())
                .collect();
            finding.diff = Some(report);
        }
        Err(err) => finding
            .notes
            .push(format!("could not diff the outputs: {err}")),
    }
    finding
}
