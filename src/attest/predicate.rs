//! The predicate of reprobe's verdict statements ([`PREDICATE_TYPE`]): the overall result,
//! one entry per step with its hashes, verdict and reasons, the variations and the tools.
//! Field names are lowerCamelCase, as in-toto asks of predicates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::digest::Sha256Digest;

/// The `predicateType` of reprobe's verdicts: version 1 of the schema described on
/// [`Predicate`]. A change that old readers would misread gets a new URI (`.../v2`), so a
/// verifier never takes a newer verdict for one it understands.
pub const PREDICATE_TYPE: &str = "https://reprobe.dev/verdict/v1";

/// The overall result of a check: the one thing most readers of a verdict want.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every step was reproducible and every variation asked for reached it (the run's
    /// exit code was 0).
    Pass,
    /// Anything else: a step nondeterministic, failed, reaching the network, reading
    /// undeclared files, or not tested against a variation asked for.
    Fail,
}

impl Outcome {
    /// The result `steps` imply: pass exactly when every step is reproducible and lacks no
    /// variation, as `check`'s exit code 0 (docs/design.md section 1).
    pub fn of_steps(steps: &[StepAttestation]) -> Outcome {
        if steps.iter().all(StepAttestation::is_clean) {
            Outcome::Pass
        } else {
            Outcome::Fail
        }
    }

    /// `pass` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict of one step, with the words of docs/design.md section 6.
///
/// The attestation has its own copy of the enum so that the signed schema changes only when
/// [`PREDICATE_TYPE`] does, whatever happens to the report's types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepVerdict {
    /// Same inputs, same outputs, in every build.
    Reproducible,
    /// Same inputs, different outputs.
    Nondeterministic,
    /// Differs only because an upstream step did.
    Cascade,
    /// Failed in at least one build.
    Failed,
    /// Tried to reach the network.
    Network,
    /// Read files it did not declare.
    Undeclared,
}

impl StepVerdict {
    /// The word of docs/design.md section 6.
    pub fn as_str(self) -> &'static str {
        match self {
            StepVerdict::Reproducible => "reproducible",
            StepVerdict::Nondeterministic => "nondeterministic",
            StepVerdict::Cascade => "cascade",
            StepVerdict::Failed => "failed",
            StepVerdict::Network => "network",
            StepVerdict::Undeclared => "undeclared",
        }
    }
}

impl FromStr for StepVerdict {
    type Err = String;

    /// Parses the word of docs/design.md section 6, so a caller holding the report's verdict
    /// can convert with `report_verdict.as_str().parse()`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            StepVerdict::Reproducible,
            StepVerdict::Nondeterministic,
            StepVerdict::Cascade,
            StepVerdict::Failed,
            StepVerdict::Network,
            StepVerdict::Undeclared,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown verdict `{s}`"))
    }
}

impl fmt::Display for StepVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// reprobe's verdict on a run of `check`: the predicate of [`PREDICATE_TYPE`].
///
/// Written for a passing run and for a failing one alike, so that "this build is not
/// reproducible" can be proven as well as its opposite. Example:
///
/// ```json
/// {
///   "result": "fail",
///   "reprobeVersion": "0.1.0",
///   "graphId": "0f3a…64 hex…",
///   "variations": ["build_path", "clock", "timezone"],
///   "notVaried": ["cpus"],
///   "steps": [
///     {
///       "name": "compile",
///       "inputHash": "8c3e…64 hex…",
///       "contentHashes": ["5d41…", "7a9f…"],
///       "verdict": "nondeterministic",
///       "reasons": [{ "kind": "timestamp", "path": "app.o", "variation": "clock" }],
///       "variationsApplied": ["build_path", "clock", "timezone"],
///       "variationsNotApplied": []
///     }
///   ],
///   "tools": [{ "name": "cc", "path": "/usr/bin/cc", "sha256": "e3b0…" }]
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Predicate {
    /// `pass` or `fail`; always what [`Outcome::of_steps`] says of `steps` (a verifier
    /// refuses a statement where it is not).
    pub result: Outcome,
    /// The reprobe version that judged.
    pub reprobe_version: String,
    /// Which graph file was checked: its graph id (sha256 over the graph file's directory
    /// and name, as in the build manifests of docs/design.md section 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_id: Option<Sha256Digest>,
    /// The variations applied to the varied builds of the run (names of docs/design.md
    /// section 5).
    pub variations: Vec<String>,
    /// The variations turned off for the run (`--vary`, `--no-vary`): its verdict says
    /// nothing about them.
    #[serde(default)]
    pub not_varied: Vec<String>,
    /// One entry per step, in the order `check` reported them (topological).
    pub steps: Vec<StepAttestation>,
    /// The tools the steps ran, with the hashes that entered their input hashes; sorted,
    /// each listed once.
    pub tools: Vec<Tool>,
}

impl Predicate {
    /// The predicate of a run: the result is derived from `steps`, the version is this
    /// reprobe's, the tools are sorted and deduplicated; no graph id and no variation
    /// turned off until the caller sets them.
    pub fn new(variations: Vec<String>, steps: Vec<StepAttestation>, mut tools: Vec<Tool>) -> Self {
        tools.sort();
        tools.dedup();
        Predicate {
            result: Outcome::of_steps(&steps),
            reprobe_version: env!("CARGO_PKG_VERSION").to_string(),
            graph_id: None,
            variations,
            not_varied: Vec::new(),
            steps,
            tools,
        }
    }
}

/// What reprobe found about one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepAttestation {
    /// The step's name in the graph.
    pub name: String,
    /// Its input hash (cache key) in the first build; absent when its inputs could not be
    /// gathered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_hash: Option<Sha256Digest>,
    /// Its content hash in each build it was judged on: one when all agree, else the first
    /// build's and the differing one's; empty when it never produced outputs.
    pub content_hashes: Vec<Sha256Digest>,
    /// Its verdict.
    pub verdict: StepVerdict,
    /// Why its outputs differ, one entry per difference the diff engine explained; empty
    /// for a reproducible step.
    #[serde(default)]
    pub reasons: Vec<StepReason>,
    /// For a cascade: the upstream steps it inherits its difference from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cascade_of: Vec<String>,
    /// The variations that really reached it in the varied builds.
    pub variations_applied: Vec<String>,
    /// The variations asked for that did not reach it, with why: its verdict was not tested
    /// against them, so the step cannot pass.
    pub variations_not_applied: Vec<NotApplied>,
}

impl StepAttestation {
    /// Reproducible, and tested against every variation asked for.
    pub fn is_clean(&self) -> bool {
        self.verdict == StepVerdict::Reproducible && self.variations_not_applied.is_empty()
    }
}

/// One reason a step's outputs differ between the builds, in the words of docs/design.md
/// section 6: what a reader needs to act on a failing verdict without the full report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReason {
    /// The reason's word (`timestamp`, `build_path`, `random`, ...).
    pub kind: String,
    /// The output file (or the member inside an archive) that differs.
    pub path: String,
    /// The variation that explains it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variation: Option<String>,
    /// Where inside the file: an ELF section, a header field, a JSON key path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A variation asked for that did not reach a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotApplied {
    /// The variation's name.
    pub variation: String,
    /// Why it did not apply.
    pub why: String,
}

/// A program a step ran, as it entered the step's input hash: a verifier can see which
/// compiler produced the verdict's outputs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tool {
    /// The name as declared in the graph.
    pub name: String,
    /// Where it resolved.
    pub path: String,
    /// sha256 of the executable.
    pub sha256: Sha256Digest,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A step attestation for tests: one content hash, the clock varied.
    pub(crate) fn step(name: &str, verdict: StepVerdict) -> StepAttestation {
        StepAttestation {
            name: name.to_string(),
            input_hash: Some(Sha256Digest::of_bytes(name.as_bytes())),
            content_hashes: vec![Sha256Digest::of_bytes(b"out")],
            verdict,
            reasons: Vec::new(),
            cascade_of: Vec::new(),
            variations_applied: vec!["clock".to_string()],
            variations_not_applied: Vec::new(),
        }
    }

    #[test]
    fn result_is_derived_from_the_steps() {
        let pass = Predicate::new(vec![], vec![step("a", StepVerdict::Reproducible)], vec![]);
        assert_eq!(pass.result, Outcome::Pass);
        let fail = Predicate::new(
            vec![],
            vec![
                step("a", StepVerdict::Reproducible),
                step("b", StepVerdict::Cascade),
            ],
            vec![],
        );
        assert_eq!(fail.result, Outcome::Fail);
        let mut untested = step("a", StepVerdict::Reproducible);
        untested.variations_not_applied.push(NotApplied {
            variation: "cpus".to_string(),
            why: "one core".to_string(),
        });
        assert_eq!(Outcome::of_steps(&[untested]), Outcome::Fail);
    }

    #[test]
    fn verdict_words_round_trip() {
        for word in [
            "reproducible",
            "nondeterministic",
            "cascade",
            "failed",
            "network",
            "undeclared",
        ] {
            let verdict: StepVerdict = word.parse().unwrap();
            assert_eq!(verdict.as_str(), word);
            assert_eq!(serde_json::to_value(verdict).unwrap(), word);
        }
        assert!("flaky".parse::<StepVerdict>().is_err());
    }

    #[test]
    fn reasons_graph_id_and_variations_off_are_written_and_read_back() {
        let mut failing = step("a", StepVerdict::Nondeterministic);
        failing.reasons.push(StepReason {
            kind: "timestamp".to_string(),
            path: "a.o".to_string(),
            variation: Some("clock".to_string()),
            context: None,
        });
        let mut cascade = step("b", StepVerdict::Cascade);
        cascade.cascade_of.push("a".to_string());
        let mut predicate =
            Predicate::new(vec!["clock".to_string()], vec![failing, cascade], vec![]);
        predicate.graph_id = Some(Sha256Digest([7; 32]));
        predicate.not_varied = vec!["cpus".to_string()];
        let value = serde_json::to_value(&predicate).unwrap();
        assert_eq!(value["graphId"], hex::encode([7u8; 32]));
        assert_eq!(value["notVaried"][0], "cpus");
        assert_eq!(value["steps"][0]["reasons"][0]["kind"], "timestamp");
        assert_eq!(value["steps"][0]["reasons"][0]["variation"], "clock");
        assert!(value["steps"][0]["reasons"][0].get("context").is_none());
        assert!(value["steps"][0].get("cascadeOf").is_none());
        assert_eq!(value["steps"][1]["cascadeOf"][0], "a");
        let back: Predicate = serde_json::from_value(value).unwrap();
        assert_eq!(back, predicate);
    }
}
