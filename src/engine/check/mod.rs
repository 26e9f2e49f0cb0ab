//! `check`: build a graph twice (or N times) in varied sandboxes and judge every step.
//!
//! Equal input hash but different content hash means a step is nondeterministic. A step
//! whose inputs differ only because an upstream step was nondeterministic is re-run on the
//! first build's inputs, so every step gets its own verdict: root causes
//! (`nondeterministic`) are separated from what merely inherits a difference (`cascade`).
//! Every difference is explained by the diff engine, given the values each build had, and
//! what the values do not explain is bisected over the variations.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Serialize;

use crate::diff::{self, DiffOptions, KnownValues, Reason, ReasonKind, TimeWindow};
use crate::engine::exec::{self, BuildError, BuildOptions, SandboxProfile};
use crate::engine::variation::{self, Variation};
use crate::model::findings::NetworkAttempt;
use crate::model::graph::Graph;
use crate::model::hash::{ContentHash, InputHash};
use crate::model::manifest::{Manifest, StepRecord, StepStatus};
use crate::model::tree::TreeEntry;
use crate::sandbox::Sandbox;
use crate::store::{remove_tree, Store, StoreError};

mod coverage;
pub mod groups;
pub mod remedy;
pub mod tryfix;

/// The schema of every report (docs/design.md section 7a).
pub const REPORT_SCHEMA: &str = "reprobe/report/1";

/// The verdict of one step (docs/design.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Same inputs, same outputs, in every build.
    Reproducible,
    /// Same inputs, different outputs: a root cause.
    Nondeterministic,
    /// Differs only because an upstream step did.
    Cascade,
    /// Failed in at least one build.
    Failed,
    /// Tried to reach the network.
    Network,
    /// Read project files it did not declare.
    Undeclared,
}

impl Verdict {
    /// The word of docs/design.md section 6.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Reproducible => "reproducible",
            Verdict::Nondeterministic => "nondeterministic",
            Verdict::Cascade => "cascade",
            Verdict::Failed => "failed",
            Verdict::Network => "network",
            Verdict::Undeclared => "undeclared",
        }
    }
}

/// How `check` runs.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Builds in all (at least 2): the first with the base profile, the rest varied.
    pub rounds: usize,
    /// The variations applied to every build after the first.
    pub variations: BTreeSet<Variation>,
    /// Steps run at once, shared by the concurrent builds.
    pub jobs: usize,
    /// Bisect differences the known values do not explain.
    pub bisect: bool,
    /// Keep each build's outputs under this directory (`build-1/STEP/...`).
    pub keep: Option<PathBuf>,
    /// Limits of steps that do not set their own.
    pub limits: exec::LimitDefaults,
    /// Try the remedies reprobe can apply itself on each nondeterministic step
    /// (`--try-fixes`, module `tryfix`).
    pub try_fixes: bool,
}

/// One build of a check.
#[derive(Debug, Clone, Serialize)]
pub struct BuildSummary {
    /// Build number, from 1.
    pub round: usize,
    /// The build's id.
    pub id: String,
    /// The sandbox values it ran with.
    pub profile: BTreeMap<String, String>,
    /// Start and end, RFC 3339.
    pub started: String,
    /// End, RFC 3339.
    pub finished: String,
}

/// The judgement of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepFinding {
    /// The step.
    pub name: String,
    /// The steps it depends on (the edges of the step graph).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<String>,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its input hash in the first build.
    pub input_hash: Option<InputHash>,
    /// Its content hash in each build it was judged on (first, then the differing one).
    pub content_hashes: Vec<ContentHash>,
    /// Why the outputs differ, with evidence and remedies.
    pub reasons: Vec<Reason>,
    /// The smallest set of variations that reproduces the unexplained differences
    /// (from bisection); empty with `inherent` when no variation is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub varies_with: Option<Vec<String>>,
    /// The difference appears with no variation at all (inherent nondeterminism).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inherent: bool,
    /// For a cascade: the upstream steps it inherits from (nondeterministic ones, or ones
    /// that failed in some build). For a `failed` step that never ran: the failed deps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cascade_of: Vec<String>,
    /// Network attempts seen in any build.
    pub network: Vec<NetworkAttempt>,
    /// Distinct attempts beyond those a build records one by one (the most any build
    /// counted).
    #[serde(skip_serializing_if = "is_zero")]
    pub network_omitted: u64,
    /// Undeclared reads seen in any build.
    pub undeclared: Vec<String>,
    /// For a failure: which build and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a failure: the end of its stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
    /// Other remarks (differing items, bisection notes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The variations this step really got in the varied builds (those asked for, less
    /// the ones its graph pins, such as `TZ`, and those that did not reach it).
    pub variations: Vec<String>,
    /// Variations asked for that did not reach this step, with why: its verdict was not
    /// tested against them, so it is never a clean `reproducible` (exit code 1).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_applied: Vec<NotApplied>,
    /// With `--try-fixes`: each remedy applied and whether the step was then reproducible.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fix_trials: Vec<tryfix::FixTrial>,
    /// The full diff of the outputs (for HTML reports and `-v`).
    #[serde(skip)]
    pub diff: Option<diff::DiffReport>,
}

/// A variation that was asked for but did not reach a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotApplied {
    /// The variation's name.
    pub variation: String,
    /// Why, and what to do.
    pub why: String,
}

impl StepFinding {
    /// Reproducible in every build, and every variation asked for reached it.
    pub fn is_clean(&self) -> bool {
        self.verdict == Verdict::Reproducible && self.not_applied.is_empty()
    }
}

/// The result of `check` (`reprobe/report/1`, command `check`).
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Always [`REPORT_SCHEMA`].
    pub schema: &'static str,
    /// Always `check`.
    pub command: &'static str,
    /// `reproducible` when every step is; else the worst verdict found.
    pub verdict: Verdict,
    /// The variations applied to the builds after the first.
    pub variations: Vec<String>,
    /// The variations turned off (so the report says what was not tested).
    pub not_varied: Vec<String>,
    /// Remarks about the run as a whole (for example, steps re-run with the real clock).
    pub notes: Vec<String>,
    /// The builds.
    pub builds: Vec<BuildSummary>,
    /// One finding per step, in topological order.
    pub steps: Vec<StepFinding>,
}

impl CheckReport {
    /// The exit code of docs/design.md section 1: 0 reproducible, 1 findings, 3 a step failed
    /// in every build (nothing could be judged for it).
    pub fn exit(&self) -> crate::model::error::Exit {
        use crate::model::error::Exit;
        let failed_everywhere = self.steps.iter().any(|s| {
            s.verdict == Verdict::Failed
                && s.error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("failed in every build"))
        });
        if failed_everywhere {
            Exit::StepFailed
        } else if self.steps.iter().all(StepFinding::is_clean) {
            Exit::Ok
        } else {
            Exit::Findings
        }
    }

    /// Root causes first: the names of the nondeterministic steps.
    pub fn root_causes(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| s.verdict == Verdict::Nondeterministic)
            .map(|s| s.name.as_str())
            .collect()
    }

    /// Renders with keys sorted.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).expect("a report is plain data");
        serde_json::to_string_pretty(&value).expect("a JSON value always prints")
    }
}

/// Something `check` is doing, for a progress line on a terminal.
#[derive(Debug, Clone, Copy)]
pub enum CheckEvent<'a> {
    /// A step of build `round` (from 1) started or finished.
    Build {
        /// The build's number.
        round: usize,
        /// What happened.
        event: &'a exec::BuildEvent,
    },
    /// The outputs of a step are being judged.
    Judging {
        /// The step.
        step: &'a str,
        /// Steps judged before it.
        done: usize,
        /// Steps in the graph.
        total: usize,
    },
    /// A step is run again (bisection, a cascade's re-run, a fix trial).
    Rerun {
        /// The step.
        step: &'a str,
        /// Why, in a few words.
        why: &'a str,
    },
}

/// Receives [`CheckEvent`]s, from several threads.
pub type CheckProgress = dyn Fn(CheckEvent<'_>) + Send + Sync;

/// What `check` needs from its caller.
pub struct CheckContext {
    /// The graph.
    pub graph: Arc<Graph>,
    /// The store (blobs only: `check` writes neither cache entries nor build history).
    pub store: Arc<Store>,
    /// The sandbox.
    pub sandbox: Arc<Sandbox>,
    /// Told what happens, for progress output (`None`: nobody listens).
    pub progress: Option<Box<CheckProgress>>,
}

impl CheckContext {
    fn tell(&self, event: CheckEvent<'_>) {
        if let Some(progress) = &self.progress {
            progress(event);
        }
    }
}

/// One completed build with the values it ran with.
struct Round {
    manifest: Manifest,
    profile: SandboxProfile,
    window: TimeWindow,
    /// Why some steps of this build were redone, for the report.
    note: Option<String>,
    /// Steps re-run with the real clock after failing with the pushed one.
    unfaked: BTreeSet<usize>,
    /// When those re-runs ran (real time: their clock was not pushed).
    unfaked_window: Option<TimeWindow>,
}

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
        finding.name = step.name.clone();
        finding.deps = step.deps.clone();
        let tool = remedy::tool_of(&cx.graph.steps, step);
        for reason in &mut finding.reasons {
            if let Some(fix) = remedy::fix_for(tool, step, reason) {
                reason.remedy = Some(fix);
            }
        }
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
    let verdict = findings
        .iter()
        .map(|f| f.verdict)
        .filter(|v| *v != Verdict::Reproducible)
        .min_by_key(|v| verdict_rank(*v))
        .unwrap_or(Verdict::Reproducible);
    let not_varied = Variation::ALL
        .into_iter()
        .filter(|v| !options.variations.contains(v))
        .map(|v| v.name().to_string())
        .collect();
    let _ = first;
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

/// The overall verdict is the most serious one found.
fn verdict_rank(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Failed => 0,
        Verdict::Network => 1,
        Verdict::Undeclared => 2,
        Verdict::Nondeterministic => 3,
        Verdict::Cascade => 4,
        Verdict::Reproducible => 5,
    }
}

/// Runs all rounds, two at a time when cores allow (each build gets half of the jobs).
fn run_rounds(
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

fn run_round(
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

/// A reason of `kind` about the file `out`, with nothing else known (for unit tests of
/// the modules below).
#[cfg(test)]
fn reason_for_tests(kind: ReasonKind) -> Reason {
    Reason {
        kind,
        path: "out".into(),
        offset: None,
        offset_b: None,
        line: None,
        line_b: None,
        a: String::new(),
        b: String::new(),
        variation: None,
        remedy: None,
        context: None,
        high_entropy: None,
        note: None,
    }
}

/// A reproducible finding with nothing in it (for unit tests of the modules below).
#[cfg(test)]
fn empty_finding_for_tests() -> StepFinding {
    blank_finding("s".into(), None, Vec::new())
}

fn empty_finding(record: &StepRecord) -> StepFinding {
    blank_finding(
        record.name.clone(),
        record.input_hash,
        record.content_hash.into_iter().collect(),
    )
}

/// A reproducible finding of step `name` with nothing found yet.
fn blank_finding(
    name: String,
    input_hash: Option<InputHash>,
    content_hashes: Vec<ContentHash>,
) -> StepFinding {
    StepFinding {
        name,
        deps: Vec::new(),
        verdict: Verdict::Reproducible,
        input_hash,
        content_hashes,
        reasons: Vec::new(),
        varies_with: None,
        inherent: false,
        cascade_of: Vec::new(),
        network: Vec::new(),
        network_omitted: 0,
        undeclared: Vec::new(),
        variations: Vec::new(),
        not_applied: Vec::new(),
        fix_trials: Vec::new(),
        error: None,
        stderr_tail: None,
        notes: Vec::new(),
        diff: None,
    }
}

fn judge_step(
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

fn rerun_options(profile: &SandboxProfile) -> BuildOptions {
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
fn rerun_on_first_inputs(
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

/// The values known to differ between the first build and `other`, for the classifier.
fn known_values(
    a: &SandboxProfile,
    first_window: TimeWindow,
    other: &SandboxProfile,
    other_window: TimeWindow,
) -> KnownValues {
    let pair = |x: String, y: String| (x != y).then_some((x, y));
    KnownValues {
        build_path: pair(
            a.workdir().to_string_lossy().into_owned(),
            other.workdir().to_string_lossy().into_owned(),
        ),
        hostname: pair(a.hostname.clone(), other.hostname.clone()),
        user: pair(a.user.name.clone(), other.user.name.clone()),
        clock: Some((first_window, other_window)),
        timezone: pair(a.timezone.clone(), other.timezone.clone()),
        locale: pair(a.locale.clone(), other.locale.clone()),
    }
}

/// Materializes one build's outputs of a step into `dir` (from the store's blobs). Only
/// the executable bit is part of a content hash; other mode bits would show up as
/// differences the verdict does not depend on, so files get canonical modes.
fn materialize(store: &Store, outputs: &[TreeEntry], dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(crate::store::at(dir))?;
    for entry in outputs {
        let mode = if entry.executable() { 0o755 } else { 0o644 };
        store.materialize_entry(dir, entry, mode)?;
    }
    Ok(())
}

/// Diffs the outputs of two runs of one step.
fn diff_outputs(
    cx: &CheckContext,
    a: &[TreeEntry],
    b: &[TreeEntry],
    known: KnownValues,
) -> Result<diff::DiffReport, String> {
    let temp = cx.store.temp_dir("diff").map_err(|e| e.to_string())?;
    let result = (|| {
        materialize(&cx.store, a, &temp.join("a")).map_err(|e| e.to_string())?;
        materialize(&cx.store, b, &temp.join("b")).map_err(|e| e.to_string())?;
        let options = DiffOptions {
            known,
            ..DiffOptions::default()
        };
        diff::diff_paths(&temp.join("a"), &temp.join("b"), &options).map_err(|e| e.to_string())
    })();
    remove_tree(&temp);
    result
}

/// Whether a reason is attributed from evidence (a known value matched exactly, or a
/// time inside a build's window) rather than guessed from its kind.
fn attributed_by_evidence(reason: &Reason) -> bool {
    matches!(
        reason.kind,
        ReasonKind::BuildPath
            | ReasonKind::Hostname
            | ReasonKind::User
            | ReasonKind::Timezone
            | ReasonKind::Locale
    ) || reason.variation.as_deref() == Some("clock")
}

#[allow(clippy::too_many_arguments)]
fn explain(
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

/// Identifies one unexplained difference across runs: its item, kind and context.
type ReasonKey = (String, ReasonKind, Option<String>);

fn key_of(reason: &Reason) -> ReasonKey {
    (reason.path.clone(), reason.kind, reason.context.clone())
}

/// Re-runs of one step under subsets of the variations, remembered by subset.
struct Bisector<'a> {
    cx: &'a CheckContext,
    rounds: &'a [Round],
    index: usize,
    runs: usize,
    seen: BTreeMap<BTreeSet<Variation>, BTreeSet<ReasonKey>>,
}

impl Bisector<'_> {
    /// The unexplained differences between the first build and a re-run under `set`.
    fn unexplained(&mut self, set: &BTreeSet<Variation>) -> BTreeSet<ReasonKey> {
        if let Some(found) = self.seen.get(set) {
            return found.clone();
        }
        self.runs += 1;
        let why = format!("bisecting the variations, re-run {}", self.runs);
        self.cx.tell(CheckEvent::Rerun {
            step: &self.cx.graph.steps[self.index].name,
            why: &why,
        });
        let first = &self.rounds[0];
        let record = &first.manifest.steps[self.index];
        let mut profile = variation::varied_profile(&first.profile, set);
        // A step that failed with the pushed clock is bisected with the real one.
        profile.push_clock = self.rounds.iter().all(|r| !r.unfaked.contains(&self.index));
        let started = chrono::Utc::now().timestamp();
        let rerun = rerun_on_first_inputs(self.cx, self.rounds, self.index, &profile);
        let window = TimeWindow {
            start: started + profile.clock_offset_secs,
            end: chrono::Utc::now().timestamp() + 1 + profile.clock_offset_secs,
        };
        let found = if rerun.content_hash.is_none() || rerun.content_hash == record.content_hash {
            BTreeSet::new()
        } else {
            let known = known_values(&first.profile, first.window, &profile, window);
            diff_outputs(self.cx, &record.outputs, &rerun.outputs, known)
                .map(|report| {
                    report
                        .items
                        .iter()
                        .flat_map(|i| &i.reasons)
                        .filter(|r| !attributed_by_evidence(r))
                        .map(key_of)
                        .collect()
                })
                .unwrap_or_default()
        };
        self.seen.insert(set.clone(), found.clone());
        found
    }

    fn reproduces(&mut self, set: &BTreeSet<Variation>, targets: &BTreeSet<ReasonKey>) -> bool {
        !self.unexplained(set).is_disjoint(targets)
    }
}

/// Finds, for the differences the known values do not explain, the smallest sets of
/// variations that reproduce them, by re-running only this step (its inputs come from
/// the store) with subsets of the variations. Independent causes are found one after
/// the other; what differs with no variation at all is inherent (`random`).
fn bisect(
    cx: &CheckContext,
    options: &CheckOptions,
    rounds: &[Round],
    index: usize,
    finding: &mut StepFinding,
    _varied: &SandboxProfile,
) {
    let mut bisector = Bisector {
        cx,
        rounds,
        index,
        runs: 0,
        seen: BTreeMap::new(),
    };
    let mut remaining: BTreeSet<ReasonKey> = finding
        .reasons
        .iter()
        .filter(|r| !attributed_by_evidence(r))
        .map(key_of)
        .collect();
    let mut attribution: BTreeMap<ReasonKey, Vec<Variation>> = BTreeMap::new();
    let inherent: BTreeSet<ReasonKey> = bisector
        .unexplained(&BTreeSet::new())
        .intersection(&remaining)
        .cloned()
        .collect();
    remaining.retain(|k| !inherent.contains(k));
    let all: BTreeSet<Variation> = options.variations.clone();
    while !remaining.is_empty() && !all.is_empty() && bisector.reproduces(&all, &remaining) {
        let targets = remaining.clone();
        let minimal = minimize(all.clone(), &mut |set| bisector.reproduces(set, &targets));
        let explained: Vec<ReasonKey> = bisector
            .unexplained(&minimal)
            .intersection(&remaining)
            .cloned()
            .collect();
        if explained.is_empty() {
            break;
        }
        for key in explained {
            remaining.remove(&key);
            attribution.insert(key, minimal.iter().copied().collect());
        }
    }
    apply_attribution(finding, &inherent, &attribution);
    let mut note = format!("bisection: {} re-runs of this step", bisector.runs);
    if let Some(with) = &finding.varies_with {
        if !with.is_empty() {
            note.push_str(&format!("; varies with: {}", with.join(", ")));
        }
    }
    if !remaining.is_empty() {
        note.push_str(&format!(
            "; {} difference(s) did not reproduce (rare or racy: try --rounds)",
            remaining.len()
        ));
    }
    finding.notes.push(note);
}

/// Writes bisection results into the reasons and the finding's summary.
fn apply_attribution(
    finding: &mut StepFinding,
    inherent: &BTreeSet<ReasonKey>,
    attribution: &BTreeMap<ReasonKey, Vec<Variation>>,
) {
    let mut varies_with: BTreeSet<Variation> = BTreeSet::new();
    for reason in finding
        .reasons
        .iter_mut()
        .filter(|r| !attributed_by_evidence(r))
    {
        let key = key_of(reason);
        if inherent.contains(&key) {
            reason.variation = None;
            continue;
        }
        let Some(set) = attribution.get(&key) else {
            continue;
        };
        varies_with.extend(set.iter().copied());
        if let [only] = set[..] {
            if reason.kind == ReasonKind::Random {
                reason.kind = kind_of(only);
                reason.remedy = diff::classify::remedy(reason.kind).map(str::to_string);
                // Explained now: the entropy guess was about an unexplained span.
                reason.high_entropy = None;
                reason.note = None;
            }
        }
        let names: Vec<&str> = set.iter().map(|v| v.name()).collect();
        reason.variation = Some(names.join("+"));
    }
    if !inherent.is_empty() {
        finding.inherent = true;
        finding.notes.push(
            "some differences appear with no variation at all: inherent nondeterminism (random)"
                .into(),
        );
    }
    if !varies_with.is_empty() || finding.inherent {
        finding.varies_with = Some(varies_with.iter().map(|v| v.name().to_string()).collect());
    }
}

/// Delta debugging over a set that is known to reproduce: halves first, then one by one.
fn minimize(
    mut set: BTreeSet<Variation>,
    reproduces: &mut dyn FnMut(&BTreeSet<Variation>) -> bool,
) -> BTreeSet<Variation> {
    loop {
        if set.len() <= 1 {
            return set;
        }
        let items: Vec<Variation> = set.iter().copied().collect();
        let (left, right) = items.split_at(items.len() / 2);
        let left: BTreeSet<Variation> = left.iter().copied().collect();
        let right: BTreeSet<Variation> = right.iter().copied().collect();
        if reproduces(&left) {
            set = left;
            continue;
        }
        if reproduces(&right) {
            set = right;
            continue;
        }
        for variation in items {
            let mut smaller = set.clone();
            smaller.remove(&variation);
            if !smaller.is_empty() && reproduces(&smaller) {
                set = smaller;
            }
        }
        return set;
    }
}

/// The reason kind a variation produces.
fn kind_of(variation: Variation) -> ReasonKind {
    match variation {
        Variation::BuildPath => ReasonKind::BuildPath,
        Variation::Clock => ReasonKind::Timestamp,
        Variation::Hostname => ReasonKind::Hostname,
        Variation::User => ReasonKind::User,
        Variation::Umask => ReasonKind::Umask,
        Variation::Locale => ReasonKind::Locale,
        Variation::Timezone => ReasonKind::Timezone,
        Variation::FileOrder => ReasonKind::Ordering,
        Variation::Cpus => ReasonKind::Cpus,
        Variation::Env => ReasonKind::Env,
    }
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

/// For `skip_serializing_if`: a count of nothing.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimize_finds_a_single_culprit() {
        let all: BTreeSet<Variation> = Variation::ALL.into_iter().collect();
        let mut calls = 0;
        let found = minimize(all, &mut |s| {
            calls += 1;
            s.contains(&Variation::Umask)
        });
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            vec![Variation::Umask]
        );
        assert!(calls <= 8, "{calls} runs");
    }

    #[test]
    fn minimize_finds_a_pair_needed_together() {
        let all: BTreeSet<Variation> = Variation::ALL.into_iter().collect();
        let found = minimize(all, &mut |s| {
            s.contains(&Variation::Hostname) && s.contains(&Variation::Cpus)
        });
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            vec![Variation::Hostname, Variation::Cpus]
        );
    }

    #[test]
    fn verdict_words_are_design_words() {
        let words: Vec<&str> = [
            Verdict::Reproducible,
            Verdict::Nondeterministic,
            Verdict::Cascade,
            Verdict::Failed,
            Verdict::Network,
            Verdict::Undeclared,
        ]
        .iter()
        .map(|v| v.as_str())
        .collect();
        assert_eq!(
            words,
            [
                "reproducible",
                "nondeterministic",
                "cascade",
                "failed",
                "network",
                "undeclared"
            ]
        );
        assert_eq!(
            serde_json::to_string(&Verdict::Cascade).unwrap(),
            "\"cascade\""
        );
    }
}
