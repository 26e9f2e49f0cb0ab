//! `check`: build a graph twice (or N times) in varied sandboxes and judge every step.
//!
//! Equal input hash but different content hash means a step is nondeterministic. A step
//! whose inputs differ only because an upstream step was nondeterministic is re-run on the
//! first build's inputs, so every step gets its own verdict: root causes
//! (`nondeterministic`) are separated from what merely inherits a difference (`cascade`).
//! Every difference is explained by the diff engine, given the values each build had, and
//! what the values do not explain is bisected over the variations.
//!
//! `against_remote` compares one local build with a remote cache's entries instead
//! (`check --against-remote`, docs/remote.md).
//!
//! Files by concern: `context` (what check is given and tells), `rounds` (the builds and
//! single-step re-runs), `judge` (a step's verdict), `explanation` and `diff_outputs`
//! (why outputs differ), `bisect` (which variations cause it), `findings` (the report),
//! `coverage` (which variations reached a step), `remedy` and `tryfix` (fixes), `groups`
//! (findings by cause).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::engine::exec::{BuildError, SandboxProfile};
use crate::engine::variation;
use crate::engine::REPORT_SCHEMA;
use crate::model::vocabulary::Variation;
use crate::store::{Store, StoreError};

mod against_remote;
mod bisect;
mod context;
mod coverage;
mod diff_outputs;
mod explanation;
mod findings;
pub(crate) mod groups;
mod judge;
pub(crate) mod remedy;
mod rounds;
pub(crate) mod tryfix;

pub use against_remote::check_against_remote;
pub use context::{CheckContext, CheckEvent, CheckOptions, CheckProgress};
pub use findings::{BuildSummary, CheckReport, StepFinding, Verdict};

use diff_outputs::materialize;
use findings::overall_verdict;
use judge::judge_step;
use rounds::{run_rounds, Round};

/// Runs the check.
pub fn check(
    cx: &CheckContext,
    options: &CheckOptions,
    interrupted: &AtomicBool,
) -> Result<CheckReport, BuildError> {
    let base = SandboxProfile {
        limits: options.limits,
        clock_shim: options.variations.contains(&Variation::Clock),
        ..SandboxProfile::default()
    };
    let varied = variation::varied_profile(&base, &options.variations);
    let rounds = run_rounds(cx, options, &base, &varied, interrupted)?;
    let mut notes = Vec::new();
    notes.extend(rounds.iter().filter_map(|r| r.note.clone()));
    let first = &rounds[0];
    let machine = coverage::MachineGaps::detect(&options.variations);
    let mut findings: Vec<StepFinding> = Vec::new();
    for (index, step) in cx.graph.steps.iter().enumerate() {
        cx.tell(CheckEvent::Judging {
            step: &step.name,
            done: index,
            total: cx.graph.steps.len(),
        });
        let mut finding = judge_step(cx, options, &rounds, index, &findings, &varied);
        remedy::name_and_fix(&mut finding, &cx.graph.steps, step);
        let clock_gaps = clock_gaps(&rounds, index);
        (finding.variations, finding.not_applied) =
            coverage::step_coverage(step, &options.variations, &machine, clock_gaps);
        findings.push(finding);
    }
    if options.try_fixes {
        for (index, finding) in findings.iter_mut().enumerate() {
            if finding.verdict == Verdict::Nondeterministic {
                finding.fix_trials = tryfix::try_fixes(cx, &rounds, index, finding, &varied);
            }
        }
    }
    if let Some(dir) = &options.keep {
        keep_outputs(&cx.store, &rounds, dir).map_err(BuildError::Store)?;
    }
    let verdict = overall_verdict(&findings);
    let not_varied = Variation::ALL
        .into_iter()
        .filter(|v| !options.variations.contains(v))
        .map(|v| v.name().to_string())
        .collect();
    let first_build = first.manifest.clone();
    Ok(CheckReport {
        schema: REPORT_SCHEMA,
        command: "check",
        verdict,
        variations: options
            .variations
            .iter()
            .map(|v| v.name().to_string())
            .collect(),
        not_varied,
        notes,
        builds: rounds
            .iter()
            .enumerate()
            .map(|(i, r)| BuildSummary {
                round: i + 1,
                id: r.manifest.id.clone(),
                profile: r.manifest.variations.clone(),
                started: r.manifest.started.clone(),
                finished: r.manifest.finished.clone(),
            })
            .collect(),
        steps: findings,
        first_build,
    })
}

/// Why the pushed clock did not reach step `index` in some build: it failed with it
/// (and was judged on a re-run with the real clock), or it ran statically linked programs,
/// which do not load the clock shim.
fn clock_gaps(rounds: &[Round], index: usize) -> Vec<String> {
    let mut gaps = Vec::new();
    if rounds.iter().any(|r| r.unfaked.contains(&index)) {
        gaps.push(
            "the step failed with the clock years ahead and was judged on a re-run with the real clock"
                .to_string(),
        );
    }
    let programs: BTreeSet<&str> = rounds
        .iter()
        .skip(1)
        .flat_map(|r| r.manifest.steps[index].findings.static_programs.iter())
        .map(String::as_str)
        .collect();
    if !programs.is_empty() {
        let names: Vec<&str> = programs.into_iter().collect();
        gaps.push(format!(
            "it runs statically linked {} ({}), which the clock shim cannot reach; a static program that reads the clock would go unnoticed (run a dynamically linked build of it, or --no-vary clock to accept this)",
            if names.len() == 1 { "program" } else { "programs" },
            names.join(", ")
        ));
    }
    gaps
}

/// Copies every build's outputs into `dir/build-N/` for inspection (`--keep`).
fn keep_outputs(store: &Store, rounds: &[Round], dir: &Path) -> Result<(), StoreError> {
    for (i, round) in rounds.iter().enumerate() {
        let target = dir.join(format!("build-{}", i + 1));
        for step in &round.manifest.steps {
            materialize(store, &step.outputs, &target.join(&step.name))?;
        }
    }
    Ok(())
}
