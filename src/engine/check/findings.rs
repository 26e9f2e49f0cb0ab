//! What `check` reports (`reprobe/report/1`, command `check`): a verdict per step with
//! its reasons, evidence and notes, the builds it compared, and the overall verdict.

use std::collections::BTreeMap;

use serde::Serialize;

#[cfg(test)]
use crate::diff::ReasonKind;
use crate::diff::{self, Reason};
use crate::model::findings::NetworkAttempt;
use crate::model::hash::{ContentHash, InputHash};
use crate::model::manifest::{Manifest, StepRecord};

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
    pub fix_trials: Vec<FixTrial>,
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
    /// Always [`crate::engine::REPORT_SCHEMA`].
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
    /// The first build's manifest as judged (steps re-run with the real clock included):
    /// the output trees and tools a signed verdict names (docs/attest.md). Not part of the
    /// JSON report, which lists builds by id.
    #[serde(skip)]
    pub first_build: Manifest,
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
}

/// The verdict of a whole check: the most serious of its steps' (reproducible when every
/// step is).
pub(super) fn overall_verdict(findings: &[StepFinding]) -> Verdict {
    findings
        .iter()
        .map(|f| f.verdict)
        .filter(|v| *v != Verdict::Reproducible)
        .min_by_key(|v| verdict_rank(*v))
        .unwrap_or(Verdict::Reproducible)
}

/// The overall verdict is the most serious one found.
pub(super) fn verdict_rank(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Failed => 0,
        Verdict::Network => 1,
        Verdict::Undeclared => 2,
        Verdict::Nondeterministic => 3,
        Verdict::Cascade => 4,
        Verdict::Reproducible => 5,
    }
}

/// The result of trying one remedy on one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixTrial {
    /// What was applied (`SOURCE_DATE_EPOCH=1700000000`).
    pub remedy: String,
    /// Whether the step was then reproducible.
    pub verified: bool,
    /// What still differed (reason kinds), or why it could not be tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still: Option<String>,
}

/// A reason of `kind` about the file `out`, with nothing else known (for unit tests of
/// check's modules).
#[cfg(test)]
pub(super) fn reason_for_tests(kind: ReasonKind) -> Reason {
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

/// A reproducible finding with nothing in it (for unit tests of check's modules).
#[cfg(test)]
pub(super) fn empty_finding_for_tests() -> StepFinding {
    blank_finding("s".into(), None, Vec::new())
}

/// A reproducible finding of the step of `record` (its hashes), with nothing found yet.
pub(super) fn empty_finding(record: &StepRecord) -> StepFinding {
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

/// For `skip_serializing_if`: a count of nothing.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

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
