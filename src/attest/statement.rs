//! The in-toto Statement v1 that carries a `check` verdict, and its typed predicate.
//!
//! The statement says "these output files (the subject) were judged so by reprobe (the
//! predicate)". The predicate type [`PREDICATE_TYPE`] names reprobe's own schema, whose
//! fields are documented on [`Predicate`]; field names are lowerCamelCase, as in-toto asks of
//! predicates.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Component, Path};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use super::AttestError;

/// The `_type` of every in-toto Statement v1; a verifier refuses any other.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// The `predicateType` of reprobe's verdicts: version 1 of the schema described on
/// [`Predicate`]. A change that old readers would misread gets a new URI (`.../v2`), so a
/// verifier never takes a newer verdict for one it understands.
pub const PREDICATE_TYPE: &str = "https://reprobe.dev/verdict/v1";

/// A sha256 digest, written as 64 lower-case hex digits.
///
/// It exists so that every digest in a statement is checked to be one when the statement is
/// parsed (a signed file with `"sha256": "oops"` is refused, not carried along), without the
/// attestation schema depending on the internal hash newtypes: a caller passes the raw 32
/// bytes of any of them (`Sha256Digest(hash.0 .0)`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// sha256 of a byte string.
    pub fn of_bytes(bytes: &[u8]) -> Sha256Digest {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// sha256 of a file's content, streamed.
    pub fn of_file(path: &Path) -> io::Result<Sha256Digest> {
        let mut hasher = Sha256::new();
        io::copy(&mut File::open(path)?, &mut hasher)?;
        Ok(Sha256Digest(hasher.finalize().into()))
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<[u8; 32]> for Sha256Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Sha256Digest(bytes)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Sha256Digest {
    type Err = String;

    /// Accepts exactly 64 lower-case hex digits: in-toto digests are lower-case, and
    /// accepting two spellings would let one verdict be signed in two ways.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        let lower = s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if s.len() != 64 || !lower || hex::decode_to_slice(s, &mut bytes).is_err() {
            return Err(format!(
                "`{s}` is not a sha256 digest (64 lower-case hex digits)"
            ));
        }
        Ok(Sha256Digest(bytes))
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An in-toto Statement v1 whose predicate is a reprobe verdict.
///
/// It exists because a bare report can be edited by anyone; the statement binds the verdict
/// to the exact bytes of the outputs it is about, and is what gets signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// The artifacts the verdict is about: the final outputs of the graph, sorted by name.
    /// in-toto's validators refuse an empty list, so when a failed check produced no
    /// output the caller names the graph file itself (its path and sha256) instead; reprobe
    /// reads an empty list all the same.
    pub subject: Vec<Subject>,
    /// Always [`PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The verdict.
    pub predicate: Predicate,
}

impl Statement {
    /// A statement of `predicate` about `subject`, with the two type URIs filled in. The
    /// subjects are sorted by name and exact duplicates dropped, so the same run always
    /// yields the same bytes.
    pub fn new(mut subject: Vec<Subject>, predicate: Predicate) -> Statement {
        subject.sort();
        subject.dedup();
        Statement {
            statement_type: STATEMENT_TYPE.to_string(),
            subject,
            predicate_type: PREDICATE_TYPE.to_string(),
            predicate,
        }
    }

    /// The serialized body that gets signed: compact JSON.
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a statement is plain data")
    }

    /// Compares each subject with the file of that name below `root`, so a verifier can
    /// tell that the files in hand are the ones the verdict is about.
    ///
    /// A subject whose name is absolute or climbs out of `root` (`..`) is reported as
    /// [`SubjectStatus::OutsideRoot`] and not read.
    pub fn check_subjects(&self, root: &Path) -> Vec<SubjectCheck> {
        self.subject
            .iter()
            .map(|subject| {
                let relative = Path::new(&subject.name);
                let inside = relative
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
                let status = if !inside || subject.name.is_empty() {
                    SubjectStatus::OutsideRoot
                } else {
                    match Sha256Digest::of_file(&root.join(relative)) {
                        Ok(actual) if actual == subject.digest.sha256 => SubjectStatus::Matches,
                        Ok(actual) => SubjectStatus::Differs { actual },
                        Err(err) if err.kind() == io::ErrorKind::NotFound => SubjectStatus::Missing,
                        Err(err) => SubjectStatus::Unreadable {
                            error: err.to_string(),
                        },
                    }
                };
                SubjectCheck {
                    name: subject.name.clone(),
                    status,
                }
            })
            .collect()
    }
}

/// One artifact a statement is about: an output file, by its path relative to the project.
///
/// in-toto calls this a ResourceDescriptor; reprobe writes only `name` and `digest`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subject {
    /// The file's path relative to the project, with `/` separators.
    pub name: String,
    /// Its digests.
    pub digest: DigestSet,
}

impl Subject {
    /// A subject from a name and the sha256 of its bytes.
    pub fn new(name: impl Into<String>, sha256: impl Into<Sha256Digest>) -> Subject {
        Subject {
            name: name.into(),
            digest: DigestSet {
                sha256: sha256.into(),
            },
        }
    }

    /// A subject named `name` whose digest is that of the file at `path` (read now).
    pub fn of_file(name: impl Into<String>, path: &Path) -> Result<Subject, AttestError> {
        let sha256 = Sha256Digest::of_file(path).map_err(|source| AttestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Subject::new(name, sha256))
    }
}

/// The digests of a subject. reprobe names blobs by sha256, so that is the one it writes
/// and the one it requires; in-toto allows others, which reprobe ignores when reading.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DigestSet {
    /// sha256 of the file's bytes.
    pub sha256: Sha256Digest,
}

/// How one subject compares with a file on disk (see [`Statement::check_subjects`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectCheck {
    /// The subject's name.
    pub name: String,
    /// What was found.
    pub status: SubjectStatus,
}

/// What [`Statement::check_subjects`] found for one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectStatus {
    /// The file's sha256 is the signed one.
    Matches,
    /// The file exists with other content.
    Differs {
        /// Its sha256.
        actual: Sha256Digest,
    },
    /// No such file.
    Missing,
    /// The file could not be read.
    Unreadable {
        /// Why.
        error: String,
    },
    /// The name is absolute or leaves the root; it was not read.
    OutsideRoot,
}

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
///   "variations": ["build_path", "clock", "timezone"],
///   "steps": [
///     {
///       "name": "compile",
///       "inputHash": "8c3e…64 hex…",
///       "contentHashes": ["5d41…", "7a9f…"],
///       "verdict": "nondeterministic",
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
    /// The variations applied to the varied builds of the run (names of docs/design.md
    /// section 5).
    pub variations: Vec<String>,
    /// One entry per step, in the order `check` reported them (topological).
    pub steps: Vec<StepAttestation>,
    /// The tools the steps ran, with the hashes that entered their input hashes; sorted,
    /// each listed once.
    pub tools: Vec<Tool>,
}

impl Predicate {
    /// The predicate of a run: the result is derived from `steps`, the version is this
    /// reprobe's, the tools are sorted and deduplicated.
    pub fn new(variations: Vec<String>, steps: Vec<StepAttestation>, mut tools: Vec<Tool>) -> Self {
        tools.sort();
        tools.dedup();
        Predicate {
            result: Outcome::of_steps(&steps),
            reprobe_version: env!("CARGO_PKG_VERSION").to_string(),
            variations,
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
mod tests {
    use super::*;

    fn step(name: &str, verdict: StepVerdict) -> StepAttestation {
        StepAttestation {
            name: name.to_string(),
            input_hash: Some(Sha256Digest::of_bytes(name.as_bytes())),
            content_hashes: vec![Sha256Digest::of_bytes(b"out")],
            verdict,
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
    fn json_shape_is_the_documented_one() {
        let tool = Tool {
            name: "cc".to_string(),
            path: "/usr/bin/cc".to_string(),
            sha256: Sha256Digest([1; 32]),
        };
        let predicate = Predicate::new(
            vec!["clock".to_string()],
            vec![step("a", StepVerdict::Reproducible)],
            vec![tool.clone(), tool],
        );
        let statement = Statement::new(
            vec![
                Subject::new("out/b", [2; 32]),
                Subject::new("out/a", [3; 32]),
            ],
            predicate,
        );
        let value: serde_json::Value = serde_json::from_slice(&statement.to_payload()).unwrap();
        assert_eq!(value["_type"], STATEMENT_TYPE);
        assert_eq!(value["predicateType"], PREDICATE_TYPE);
        assert_eq!(value["subject"][0]["name"], "out/a");
        assert_eq!(
            value["subject"][0]["digest"]["sha256"],
            hex::encode([3u8; 32])
        );
        let p = &value["predicate"];
        assert_eq!(p["result"], "pass");
        assert_eq!(p["reprobeVersion"], env!("CARGO_PKG_VERSION"));
        assert_eq!(p["variations"][0], "clock");
        assert_eq!(p["tools"].as_array().unwrap().len(), 1);
        assert_eq!(p["tools"][0]["sha256"], hex::encode([1u8; 32]));
        let s = &p["steps"][0];
        assert_eq!(s["verdict"], "reproducible");
        assert_eq!(s["inputHash"], Sha256Digest::of_bytes(b"a").to_hex());
        assert_eq!(
            s["contentHashes"][0],
            Sha256Digest::of_bytes(b"out").to_hex()
        );
        assert_eq!(s["variationsApplied"][0], "clock");
        assert!(s["variationsNotApplied"].as_array().unwrap().is_empty());
        let back: Statement = serde_json::from_value(value).unwrap();
        assert_eq!(back, statement);
    }

    #[test]
    fn digests_must_be_64_lower_case_hex() {
        let good = "ab".repeat(32);
        assert!(good.parse::<Sha256Digest>().is_ok());
        assert!(good.to_uppercase().parse::<Sha256Digest>().is_err());
        assert!("ab".repeat(31).parse::<Sha256Digest>().is_err());
        assert!(format!("{}zz", "ab".repeat(31))
            .parse::<Sha256Digest>()
            .is_err());
        let json = format!(r#"{{"sha256":"{}"}}"#, "AB".repeat(32));
        assert!(serde_json::from_str::<DigestSet>(&json).is_err());
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
    fn check_subjects_compares_files_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("same"), b"one").unwrap();
        std::fs::write(dir.path().join("other"), b"two").unwrap();
        let statement = Statement::new(
            vec![
                Subject::new("same", Sha256Digest::of_bytes(b"one")),
                Subject::new("other", Sha256Digest::of_bytes(b"one")),
                Subject::new("gone", Sha256Digest::of_bytes(b"one")),
                Subject::new("../etc/passwd", Sha256Digest::of_bytes(b"one")),
                Subject::new("/etc/passwd", Sha256Digest::of_bytes(b"one")),
            ],
            Predicate::new(vec![], vec![], vec![]),
        );
        let found: Vec<(String, SubjectStatus)> = statement
            .check_subjects(dir.path())
            .into_iter()
            .map(|c| (c.name, c.status))
            .collect();
        assert_eq!(
            found,
            vec![
                ("../etc/passwd".to_string(), SubjectStatus::OutsideRoot),
                ("/etc/passwd".to_string(), SubjectStatus::OutsideRoot),
                ("gone".to_string(), SubjectStatus::Missing),
                (
                    "other".to_string(),
                    SubjectStatus::Differs {
                        actual: Sha256Digest::of_bytes(b"two")
                    }
                ),
                ("same".to_string(), SubjectStatus::Matches),
            ]
        );
    }
}
