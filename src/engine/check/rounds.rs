//! The builds of a check (its rounds), run two at a time, with the steps that failed only
//! with the pushed clock retried on the real one; and the single-step re-runs on one
//! build's inputs that judging, bisection and fix trials make.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::context::{CheckContext, CheckEvent, CheckOptions};
use crate::diff::TimeWindow;
use crate::engine::exec::{self, BuildError, BuildOptions, SandboxProfile};
use crate::model::manifest::{Manifest, StepRecord, StepStatus};

/// One completed build with the values it ran with.
pub(super) struct Round {
    pub(super) manifest: Manifest,
    pub(super) profile: SandboxProfile,
    pub(super) window: TimeWindow,
    /// Why some steps of this build were redone, for the report.
    pub(super) note: Option<String>,
    /// Steps re-run with the real clock after failing with the pushed one.
    pub(super) unfaked: BTreeSet<usize>,
    /// When those re-runs ran (real time: their clock was not pushed).
    pub(super) unfaked_window: Option<TimeWindow>,
}

/// Runs all rounds, two at a time when cores allow (each build gets half of the jobs).
pub(super) fn run_rounds(
    cx: &CheckContext,
    options: &CheckOptions,
    base: &SandboxProfile,
    varied: &SandboxProfile,
    interrupted: &AtomicBool,
) -> Result<Vec<Round>, BuildError> {
    let rounds = options.rounds.max(2);
    let concurrent = if options.jobs >= 2 { 2 } else { 1 };
    let jobs_each = (options.jobs / concurrent).max(1);
    let mut done: Vec<Round> = Vec::with_capacity(rounds);
    let mut next = 0;
    while next < rounds {
        let batch: Vec<usize> = (next..rounds.min(next + concurrent)).collect();
        next += batch.len();
        let results: Vec<Result<Round, BuildError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&round| {
                    let profile = if round == 0 {
                        base.clone()
                    } else {
                        varied.clone()
                    };
                    scope.spawn(move || run_round(cx, round + 1, profile, jobs_each, interrupted))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(BuildError::Interrupted)))
                .collect()
        });
        for result in results {
            done.push(result?);
        }
    }
    for i in 1..done.len() {
        if done[i].profile.pushed_clock().is_some() {
            let (first, rest) = done.split_at_mut(i);
            retry_with_real_clock(cx, &first[0], &mut rest[0], i + 1, interrupted)?;
        }
    }
    Ok(done)
}

/// Re-runs, one by one, the steps of a build with the pushed clock that failed there but
/// succeeded in the first build, now with the real clock, and then the steps skipped
/// behind them (with the pushed clock again). Only a step that then succeeds is said to
/// fail with a clock years ahead (the clock variation then did not reach it, which its
/// verdict says); one that fails again keeps its first failure (another variation broke
/// it: a finding), and every other step keeps its pushed clock.
fn retry_with_real_clock(
    cx: &CheckContext,
    first: &Round,
    round: &mut Round,
    number: usize,
    interrupted: &AtomicBool,
) -> Result<(), BuildError> {
    let started = chrono::Utc::now().timestamp();
    let mut unfaked = Vec::new();
    for index in 0..cx.graph.steps.len() {
        if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(BuildError::Interrupted);
        }
        let first_ok = first.manifest.steps[index].content_hash.is_some();
        let mut retry = match round.manifest.steps[index].status {
            StepStatus::Failed => None,
            StepStatus::Skipped if deps_succeeded(cx, &round.manifest, index) => {
                Some(run_in_round(cx, &round.manifest, index, &round.profile))
            }
            _ => continue,
        };
        let failed = retry.as_ref().is_none_or(|r| r.content_hash.is_none());
        if failed && first_ok {
            let mut profile = round.profile.clone();
            profile.push_clock = false;
            let without = run_in_round(cx, &round.manifest, index, &profile);
            if without.content_hash.is_some() {
                unfaked.push(index);
                retry = Some(without);
            }
        }
        if let Some(record) = retry {
            round.manifest.steps[index] = record;
        }
    }
    if unfaked.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = unfaked
        .iter()
        .map(|&i| cx.graph.steps[i].name.as_str())
        .collect();
    round.note = Some(format!(
        "clock: step(s) {} failed in build {number} with the clock years ahead and succeeded with the real clock; only they were re-run so (their clock variation then only shifts input mtimes), every other step kept the pushed clock",
        names.join(", ")
    ));
    round.unfaked = unfaked.into_iter().collect();
    round.unfaked_window = Some(TimeWindow {
        start: started,
        end: chrono::Utc::now().timestamp() + 1,
    });
    Ok(())
}

/// Whether every dep of a step has outputs in `manifest`.
fn deps_succeeded(cx: &CheckContext, manifest: &Manifest, index: usize) -> bool {
    cx.graph.steps[index].deps.iter().all(|dep| {
        manifest
            .step(dep)
            .is_some_and(|record| record.content_hash.is_some())
    })
}

/// Runs one step of a build again, on that build's dep outputs, observed like the build.
fn run_in_round(
    cx: &CheckContext,
    manifest: &Manifest,
    index: usize,
    profile: &SandboxProfile,
) -> StepRecord {
    let deps: Vec<&StepRecord> = cx.graph.steps[index]
        .deps
        .iter()
        .filter_map(|d| manifest.step(d))
        .collect();
    let mut options = rerun_options(profile);
    options.observe_work_names = true;
    exec::run_one(
        Arc::clone(&cx.graph),
        Arc::clone(&cx.store),
        Arc::clone(&cx.sandbox),
        &options,
        index,
        &deps,
    )
}

/// Builds the graph once with `profile`, without the cache: one round of `check`.
pub(super) fn run_round(
    cx: &CheckContext,
    number: usize,
    profile: SandboxProfile,
    jobs: usize,
    interrupted: &AtomicBool,
) -> Result<Round, BuildError> {
    let options = BuildOptions {
        jobs,
        use_cache: false,
        profile: profile.clone(),
        keep_failed: false,
        record_cache: false,
        record_manifest: false,
        work_root: crate::store::tmpfs_work_root(),
        observe_work_names: true,
        ..BuildOptions::default()
    };
    let manifest = exec::build(
        Arc::clone(&cx.graph),
        Arc::clone(&cx.store),
        Arc::clone(&cx.sandbox),
        &options,
        interrupted,
        &mut |event| {
            cx.tell(CheckEvent::Build {
                round: number,
                event: &event,
            })
        },
    )?;
    let window = window_of(&manifest, profile.clock_offset_secs);
    Ok(Round {
        manifest,
        profile,
        window,
        note: None,
        unfaked: BTreeSet::new(),
        unfaked_window: None,
    })
}

fn window_of(manifest: &Manifest, offset: i64) -> TimeWindow {
    let parse = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp())
            .unwrap_or(0)
    };
    TimeWindow {
        start: parse(&manifest.started) + offset,
        end: parse(&manifest.finished) + offset + 1,
    }
}

/// How a single step is re-run: alone, without the cache, recording nothing, in the
/// scratch directory.
pub(super) fn rerun_options(profile: &SandboxProfile) -> BuildOptions {
    BuildOptions {
        jobs: 1,
        use_cache: false,
        profile: profile.clone(),
        keep_failed: false,
        record_cache: false,
        record_manifest: false,
        work_root: crate::store::tmpfs_work_root(),
        observe_work_names: false,
        ..BuildOptions::default()
    }
}

/// Re-runs a step with `profile` on the first build's dep outputs.
pub(super) fn rerun_on_first_inputs(
    cx: &CheckContext,
    rounds: &[Round],
    index: usize,
    profile: &SandboxProfile,
) -> StepRecord {
    let deps: Vec<&StepRecord> = cx.graph.steps[index]
        .deps
        .iter()
        .filter_map(|d| rounds[0].manifest.step(d))
        .collect();
    exec::run_one(
        Arc::clone(&cx.graph),
        Arc::clone(&cx.store),
        Arc::clone(&cx.sandbox),
        &rerun_options(profile),
        index,
        &deps,
    )
}
