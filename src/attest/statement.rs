//! The in-toto Statement v1 that carries a `check` verdict: the subjects (output files by
//! name and sha256) and the predicate (see [`Predicate`]).
//!
//! The statement says "these output files (the subject) were judged so by reprobe (the
//! predicate)". Its predicate type [`PREDICATE_TYPE`] names reprobe's own schema.

use std::io;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use super::digest::Sha256Digest;
use super::predicate::{Predicate, PREDICATE_TYPE};
use super::AttestError;

/// The `_type` of every in-toto Statement v1; a verifier refuses any other.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

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

    /// The subject a local file stands for: the one whose name ends `path` at a component
    /// boundary, the longest such name when several do. `dist/out/app` and `out/app` both
    /// stand for the subject `out/app`, so a rebuilder can check files wherever it put them.
    pub fn subject_for(&self, path: &Path) -> Option<&Subject> {
        let given: Vec<&std::ffi::OsStr> = path
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .map(|c| c.as_os_str())
            .collect();
        self.subject
            .iter()
            .filter_map(|subject| {
                let name: Vec<&str> = subject
                    .name
                    .split('/')
                    .filter(|part| !part.is_empty() && *part != ".")
                    .collect();
                let ends = !name.is_empty()
                    && name.len() <= given.len()
                    && given[given.len() - name.len()..]
                        .iter()
                        .zip(&name)
                        .all(|(a, b)| *a == std::ffi::OsStr::new(b));
                ends.then_some((name.len(), subject))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, subject)| subject)
    }

    /// Compares the local file at `path` with the subject it stands for
    /// ([`Statement::subject_for`]): what `attestation verify --subject PATH` reports.
    pub fn check_file(&self, path: &Path) -> SubjectCheck {
        let Some(subject) = self.subject_for(path) else {
            return SubjectCheck {
                name: String::new(),
                status: SubjectStatus::NoSubject,
            };
        };
        SubjectCheck {
            name: subject.name.clone(),
            status: compare(path, &subject.digest.sha256),
        }
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
                    compare(&root.join(relative), &subject.digest.sha256)
                };
                SubjectCheck {
                    name: subject.name.clone(),
                    status,
                }
            })
            .collect()
    }
}

/// How the file at `path` compares with the signed digest `expected`.
fn compare(path: &Path, expected: &Sha256Digest) -> SubjectStatus {
    match Sha256Digest::of_file(path) {
        Ok(actual) if actual == *expected => SubjectStatus::Matches,
        Ok(actual) => SubjectStatus::Differs { actual },
        Err(err) if err.kind() == io::ErrorKind::NotFound => SubjectStatus::Missing,
        Err(err) => SubjectStatus::Unreadable {
            error: err.to_string(),
        },
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
    /// No subject is named like the file (see [`Statement::check_file`]).
    NoSubject,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::predicate::tests::step;
    use crate::attest::predicate::{StepVerdict, Tool};

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

    #[test]
    fn a_local_file_is_matched_by_the_end_of_its_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dist/out")).unwrap();
        std::fs::write(dir.path().join("dist/out/app"), b"one").unwrap();
        std::fs::write(dir.path().join("dist/app"), b"two").unwrap();
        let statement = Statement::new(
            vec![
                Subject::new("app", Sha256Digest::of_bytes(b"two")),
                Subject::new("out/app", Sha256Digest::of_bytes(b"one")),
            ],
            Predicate::new(vec![], vec![], vec![]),
        );
        let nested = statement.check_file(&dir.path().join("dist/out/app"));
        assert_eq!(nested.name, "out/app");
        assert_eq!(nested.status, SubjectStatus::Matches);
        let flat = statement.check_file(&dir.path().join("dist/app"));
        assert_eq!(flat.name, "app");
        assert_eq!(flat.status, SubjectStatus::Matches);
        let relative = statement.subject_for(Path::new("./out/app")).unwrap();
        assert_eq!(relative.name, "out/app");
        assert!(statement.subject_for(Path::new("dist/papp")).is_none());
        let unknown = statement.check_file(&dir.path().join("dist/other"));
        assert_eq!(unknown.status, SubjectStatus::NoSubject);
        std::fs::write(dir.path().join("dist/app"), b"changed").unwrap();
        let changed = statement.check_file(&dir.path().join("dist/app"));
        assert_eq!(
            changed.status,
            SubjectStatus::Differs {
                actual: Sha256Digest::of_bytes(b"changed")
            }
        );
    }
}
