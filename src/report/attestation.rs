//! What `reprobe attestation` and `check --attest` print: the verified statement for people
//! and as JSON (`reprobe/attestation-verify/1`), the keys `keygen` wrote, and the line that
//! says an attestation was written (docs/attest.md).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::attest::{
    KeyPairFiles, Statement, StepAttestation, SubjectCheck, SubjectStatus, VerifiedStatement,
};
use crate::report::json;

/// The schema of `attestation verify --json`.
pub const VERIFY_SCHEMA: &str = "reprobe/attestation-verify/1";
/// The schema of `attestation keygen --json`.
pub const KEYGEN_SCHEMA: &str = "reprobe/attestation-keygen/1";

/// A local file given with `--subject` and how it compares with the signed subjects.
#[derive(Debug, Clone)]
pub struct LocalFile {
    /// The file as given on the command line.
    pub path: PathBuf,
    /// What was found.
    pub check: SubjectCheck,
}

impl LocalFile {
    /// The status's word, as in the JSON document.
    pub fn status_word(&self) -> &'static str {
        match self.check.status {
            SubjectStatus::Matches => "matches",
            SubjectStatus::Differs { .. } => "differs",
            SubjectStatus::Missing => "missing",
            SubjectStatus::Unreadable { .. } => "unreadable",
            SubjectStatus::OutsideRoot => "outside_root",
            SubjectStatus::NoSubject => "no_subject",
        }
    }

    /// One line for people.
    fn describe(&self) -> String {
        let path = self.path.display();
        let subject = &self.check.name;
        match &self.check.status {
            SubjectStatus::Matches => format!("{path}: matches the subject {subject}"),
            SubjectStatus::Differs { actual } => format!(
                "{path}: DIFFERS from the subject {subject} (its sha256 is {actual}); it is not the file the verdict is about"
            ),
            SubjectStatus::Missing => format!("{path}: no such file"),
            SubjectStatus::Unreadable { error } => format!("{path}: cannot read: {error}"),
            SubjectStatus::OutsideRoot => format!("{path}: outside the project"),
            SubjectStatus::NoSubject => {
                format!("{path}: no subject of the attestation is named like this file")
            }
        }
    }
}

#[derive(Serialize)]
struct LocalFileJson {
    path: String,
    subject: Option<String>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

#[derive(Serialize)]
struct VerifyJson<'a> {
    schema: &'static str,
    file: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    statement: Option<&'a Statement>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    local_files: Vec<LocalFileJson>,
}

/// The JSON document of a verification that succeeded: the whole signed statement, the
/// key that verified it and the local files compared.
pub fn verified_json(file: &Path, verified: &VerifiedStatement, local: &[LocalFile]) -> String {
    json::in_field_order(&VerifyJson {
        schema: VERIFY_SCHEMA,
        file: file.display().to_string(),
        valid: true,
        keyid: Some(&verified.keyid),
        error: None,
        statement: Some(&verified.statement),
        local_files: local
            .iter()
            .map(|l| LocalFileJson {
                path: l.path.display().to_string(),
                subject: (!l.check.name.is_empty()).then(|| l.check.name.clone()),
                status: l.status_word(),
                sha256: match &l.check.status {
                    SubjectStatus::Differs { actual } => Some(actual.to_hex()),
                    _ => None,
                },
            })
            .collect(),
    })
}

/// The JSON document of a verification that failed: `valid` false and why.
pub fn invalid_json(file: &Path, error: &str) -> String {
    json::in_field_order(&VerifyJson {
        schema: VERIFY_SCHEMA,
        file: file.display().to_string(),
        valid: false,
        keyid: None,
        error: Some(error.to_string()),
        statement: None,
        local_files: Vec::new(),
    })
}

/// The verified statement for people: who signed, the result, the subjects, the steps that
/// are not reproducible (every step with `verbose`) and the local files compared.
pub fn verified_text(
    file: &Path,
    verified: &VerifiedStatement,
    local: &[LocalFile],
    verbose: bool,
) -> String {
    let statement = &verified.statement;
    let p = &statement.predicate;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: valid signature by key {}",
        file.display(),
        verified.keyid
    );
    let clean = p.steps.iter().filter(|s| s.is_clean()).count();
    let _ = writeln!(
        out,
        "verdict: {} ({clean} of {} steps reproducible; judged by reprobe {})",
        p.result,
        p.steps.len(),
        p.reprobe_version
    );
    let _ = writeln!(out, "varied: {}", list_or_none(&p.variations));
    if !p.not_varied.is_empty() {
        let _ = writeln!(out, "not varied: {}", p.not_varied.join(", "));
    }
    let _ = writeln!(out, "subjects:");
    let width = statement.subject.iter().map(|s| s.name.len()).max();
    for subject in &statement.subject {
        let _ = writeln!(
            out,
            "  {:<width$}  sha256:{}",
            subject.name,
            subject.digest.sha256,
            width = width.unwrap_or(0)
        );
    }
    let shown: Vec<&StepAttestation> = p
        .steps
        .iter()
        .filter(|s| verbose || !s.is_clean())
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(out, "steps:");
        let width = shown.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for step in shown {
            let _ = writeln!(
                out,
                "  {:<width$}  {}{}",
                step.name,
                step.verdict,
                step_detail(step)
            );
        }
    }
    for file in local {
        let _ = writeln!(out, "{}", file.describe());
    }
    out
}

/// What follows a step's verdict: its first reason, what it inherits, what it lacks.
fn step_detail(step: &StepAttestation) -> String {
    let mut parts = Vec::new();
    if let Some(reason) = step.reasons.first() {
        let mut text = format!("{} in {}", reason.kind, reason.path);
        if let Some(variation) = &reason.variation {
            let _ = write!(text, " (varies with {variation})");
        }
        if step.reasons.len() > 1 {
            let _ = write!(text, " and {} more", step.reasons.len() - 1);
        }
        parts.push(text);
    }
    if !step.cascade_of.is_empty() {
        parts.push(format!("inherits from {}", step.cascade_of.join(", ")));
    }
    if !step.variations_not_applied.is_empty() {
        let names: Vec<&str> = step
            .variations_not_applied
            .iter()
            .map(|n| n.variation.as_str())
            .collect();
        parts.push(format!("not tested against {}", names.join(", ")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join("; "))
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[derive(Serialize)]
struct KeygenJson<'a> {
    schema: &'static str,
    private_key: String,
    public_key: String,
    keyid: &'a str,
}

/// The JSON document of `keygen`: both files and the keyid.
pub fn keygen_json(files: &KeyPairFiles) -> String {
    json::in_field_order(&KeygenJson {
        schema: KEYGEN_SCHEMA,
        private_key: files.private.display().to_string(),
        public_key: files.public.display().to_string(),
        keyid: &files.keyid,
    })
}

/// What `keygen` tells people: where each key went and which to hand out.
pub fn keygen_text(files: &KeyPairFiles) -> String {
    format!(
        "private key: {} (mode 0600: keep it secret; sign with `reprobe check --attest FILE --key {}`)\n\
         public key:  {} (give it to whoever verifies: `reprobe attestation verify FILE --key {}`)\n\
         keyid: {}\n",
        files.private.display(),
        files.private.display(),
        files.public.display(),
        files.public.display(),
        files.keyid
    )
}

/// The line `check --attest` prints on stderr once the attestation is written.
pub fn written_line(file: &Path, statement: &Statement, keyid: &str) -> String {
    format!(
        "reprobe: signed verdict `{}` about {} {} written to {} (key {})",
        statement.predicate.result,
        statement.subject.len(),
        if statement.subject.len() == 1 {
            "subject"
        } else {
            "subjects"
        },
        file.display(),
        keyid
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::{
        sign, verify_envelope, Predicate, Sha256Digest, SigningKey, StepReason, StepVerdict,
        Subject,
    };

    fn verified() -> VerifiedStatement {
        let step = |name: &str, verdict| StepAttestation {
            name: name.to_string(),
            input_hash: None,
            content_hashes: Vec::new(),
            verdict,
            reasons: Vec::new(),
            cascade_of: Vec::new(),
            variations_applied: vec!["clock".to_string()],
            variations_not_applied: Vec::new(),
        };
        let mut stamped = step("stamped", StepVerdict::Nondeterministic);
        stamped.reasons.push(StepReason {
            kind: "timestamp".to_string(),
            path: "stamp.o".to_string(),
            variation: Some("clock".to_string()),
            context: None,
        });
        let statement = Statement::new(
            vec![Subject::new("stamp.o", Sha256Digest::of_bytes(b"o"))],
            Predicate::new(
                vec!["clock".to_string()],
                vec![step("fixed", StepVerdict::Reproducible), stamped],
                Vec::new(),
            ),
        );
        let key = SigningKey::from_bytes(&[5; 32]);
        verify_envelope(
            &sign(&statement, &key),
            &key.verifying_key(),
            Path::new("v.json"),
        )
        .unwrap()
    }

    #[test]
    fn text_names_the_key_the_result_and_the_failing_steps_only() {
        let verified = verified();
        let text = verified_text(Path::new("v.json"), &verified, &[], false);
        assert!(text.starts_with(&format!(
            "v.json: valid signature by key {}\n",
            verified.keyid
        )));
        assert!(
            text.contains("verdict: fail (1 of 2 steps reproducible"),
            "{text}"
        );
        assert!(text.contains(&format!(
            "  stamp.o  sha256:{}",
            Sha256Digest::of_bytes(b"o")
        )));
        assert!(
            text.contains("  stamped  nondeterministic: timestamp in stamp.o (varies with clock)"),
            "{text}"
        );
        assert!(!text.contains("fixed"), "{text}");
        let all = verified_text(Path::new("v.json"), &verified, &[], true);
        assert!(all.contains("  fixed    reproducible\n"), "{all}");
    }

    #[test]
    fn json_carries_the_statement_and_the_local_files() {
        let verified = verified();
        let local = [LocalFile {
            path: PathBuf::from("dist/stamp.o"),
            check: SubjectCheck {
                name: "stamp.o".to_string(),
                status: SubjectStatus::Differs {
                    actual: Sha256Digest::of_bytes(b"x"),
                },
            },
        }];
        let value: serde_json::Value =
            serde_json::from_str(&verified_json(Path::new("v.json"), &verified, &local)).unwrap();
        assert_eq!(value["schema"], VERIFY_SCHEMA);
        assert_eq!(value["valid"], true);
        assert_eq!(value["keyid"], verified.keyid.as_str());
        assert_eq!(value["statement"]["predicate"]["result"], "fail");
        assert_eq!(value["statement"]["subject"][0]["name"], "stamp.o");
        assert_eq!(value["local_files"][0]["status"], "differs");
        assert_eq!(
            value["local_files"][0]["sha256"],
            Sha256Digest::of_bytes(b"x").to_hex()
        );
        let invalid: serde_json::Value =
            serde_json::from_str(&invalid_json(Path::new("v.json"), "altered")).unwrap();
        assert_eq!(invalid["valid"], false);
        assert_eq!(invalid["error"], "altered");
        assert!(invalid.get("statement").is_none());
    }
}
