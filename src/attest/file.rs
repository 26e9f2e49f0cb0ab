//! Attestation files: signing a statement, writing the envelope atomically, reading it back
//! and verifying it.

use std::fs::{File, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Deserialize;

use super::dsse::{Envelope, PAYLOAD_TYPE};
use super::keys::{keyid, parent_dir};
use super::predicate::{Outcome, PREDICATE_TYPE};
use super::statement::{Statement, STATEMENT_TYPE};
use super::AttestError;

/// An envelope file larger than this is refused before it is parsed. A verdict holds a few
/// hundred bytes per step, so this leaves room for graphs of several hundred thousand steps.
pub const MAX_ENVELOPE_FILE: u64 = 512 * 1024 * 1024;

/// A statement whose signature was checked against a trusted key.
///
/// It exists so that code holding one knows the check happened: the only way to get one is
/// [`verify`] or [`verify_envelope`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedStatement {
    /// The statement, parsed and checked (types, digests, a result that agrees with its
    /// steps).
    pub statement: Statement,
    /// The [`keyid`] of the key whose signature verified.
    pub keyid: String,
}

impl VerifiedStatement {
    /// Whether the signed verdict is `pass`.
    pub fn passed(&self) -> bool {
        self.statement.predicate.result == Outcome::Pass
    }
}

/// Signs `statement` with `key` into a DSSE envelope of type [`PAYLOAD_TYPE`].
pub fn sign(statement: &Statement, key: &SigningKey) -> Envelope {
    Envelope::sign_payload(PAYLOAD_TYPE, &statement.to_payload(), key)
}

/// Writes `envelope` to `path` atomically: to a temporary file beside it, flushed to disk,
/// then renamed over `path`. A reader sees the old file or the new one, never a part, and
/// an interrupted write leaves no attestation rather than a truncated one. The file gets
/// mode 0644 less the umask (an attestation is public; only the key is secret).
pub fn write_envelope(envelope: &Envelope, path: &Path) -> Result<(), AttestError> {
    let write_error = |source: io::Error| AttestError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = parent_dir(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".reprobe-attestation-")
        .suffix(".tmp")
        .permissions(Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(write_error)?;
    temp.write_all(envelope.to_json().as_bytes())
        .map_err(write_error)?;
    temp.as_file().sync_all().map_err(write_error)?;
    temp.persist(path).map_err(|err| write_error(err.error))?;
    // The rename is durable once the directory is; failing to sync it loses nothing that a
    // crash would not, so it is not an error.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Signs `statement` with `key` and writes the envelope to `path` (see [`sign`] and
/// [`write_envelope`]): all `check --attest` needs once it has the statement.
pub fn sign_to_file(
    statement: &Statement,
    key: &SigningKey,
    path: &Path,
) -> Result<Envelope, AttestError> {
    let envelope = sign(statement, key);
    write_envelope(&envelope, path)?;
    Ok(envelope)
}

/// Reads and parses an envelope file, without checking any signature.
pub fn read_envelope(path: &Path) -> Result<Envelope, AttestError> {
    let read_error = |source: io::Error| AttestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    if file.metadata().map_err(read_error)?.is_dir() {
        return Err(read_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory",
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_ENVELOPE_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_ENVELOPE_FILE {
        return Err(AttestError::Malformed {
            path: path.to_path_buf(),
            detail: format!("larger than {MAX_ENVELOPE_FILE} bytes"),
        });
    }
    serde_json::from_slice(&bytes).map_err(|err| AttestError::Malformed {
        path: path.to_path_buf(),
        detail: format!("{err}; expected JSON with payloadType, payload and signatures"),
    })
}

/// Verifies the attestation at `path` against the trusted public `key`: what
/// `reprobe attestation verify FILE --key PUB` does.
///
/// In this order, as DSSE prescribes: the envelope decodes; a signature made with `key`
/// covers PAE(payloadType, payload); the payloadType is [`PAYLOAD_TYPE`]; the payload is an
/// in-toto Statement v1 ([`STATEMENT_TYPE`]) with reprobe's [`PREDICATE_TYPE`], every digest
/// well-formed and the `result` the one its steps imply. Any failure is an error naming
/// `path`; see [`AttestError`] for which means what.
pub fn verify(path: &Path, key: &VerifyingKey) -> Result<VerifiedStatement, AttestError> {
    verify_envelope(&read_envelope(path)?, key, path)
}

/// [`verify`] for an envelope already in memory; `path` only names it in errors.
pub fn verify_envelope(
    envelope: &Envelope,
    key: &VerifyingKey,
    path: &Path,
) -> Result<VerifiedStatement, AttestError> {
    let body = envelope.verified_payload(key, path)?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(AttestError::WrongPayloadType {
            path: path.to_path_buf(),
            found: envelope.payload_type.clone(),
            expected: PAYLOAD_TYPE,
        });
    }
    let statement = parse_statement(&body, path)?;
    let derived = Outcome::of_steps(&statement.predicate.steps);
    if statement.predicate.result != derived {
        return Err(AttestError::Inconsistent {
            path: path.to_path_buf(),
            claimed: statement.predicate.result.to_string(),
            derived: derived.to_string(),
        });
    }
    Ok(VerifiedStatement {
        statement,
        keyid: keyid(key),
    })
}

/// Parses a signed payload as reprobe's statement, checking the type URIs first so that a
/// statement of another kind is named as such rather than as a schema mismatch.
fn parse_statement(body: &[u8], path: &Path) -> Result<Statement, AttestError> {
    #[derive(Deserialize)]
    struct Types {
        #[serde(rename = "_type")]
        statement_type: Option<String>,
        #[serde(rename = "predicateType")]
        predicate_type: Option<String>,
    }
    let not_a_verdict = |detail: String| AttestError::NotAVerdict {
        path: path.to_path_buf(),
        detail,
    };
    let types: Types = serde_json::from_slice(body)
        .map_err(|err| not_a_verdict(format!("not a JSON object: {err}")))?;
    match types.statement_type.as_deref() {
        Some(STATEMENT_TYPE) => {}
        Some(other) => {
            return Err(not_a_verdict(format!(
                "_type is `{other}`, not `{STATEMENT_TYPE}`"
            )))
        }
        None => return Err(not_a_verdict("no `_type`".to_string())),
    }
    match types.predicate_type.as_deref() {
        Some(PREDICATE_TYPE) => {}
        Some(other) => {
            return Err(not_a_verdict(format!(
                "predicateType is `{other}`, not `{PREDICATE_TYPE}`"
            )))
        }
        None => return Err(not_a_verdict("no `predicateType`".to_string())),
    }
    serde_json::from_slice(body).map_err(|err| not_a_verdict(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::digest::Sha256Digest;
    use crate::attest::dsse::decode_base64;
    use crate::attest::predicate::{NotApplied, Predicate, StepAttestation, StepVerdict, Tool};
    use crate::attest::statement::Subject;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use proptest::prelude::*;
    use std::fs;

    /// The envelope file as a JSON value, to alter one field.
    fn envelope_value(path: &Path) -> serde_json::Value {
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn statement(verdict: StepVerdict) -> Statement {
        Statement::new(
            vec![Subject::new("out/app", Sha256Digest::of_bytes(b"app"))],
            Predicate::new(
                vec!["clock".to_string(), "timezone".to_string()],
                vec![StepAttestation {
                    name: "link".to_string(),
                    input_hash: Some(Sha256Digest::of_bytes(b"in")),
                    content_hashes: vec![Sha256Digest::of_bytes(b"c1")],
                    verdict,
                    reasons: Vec::new(),
                    cascade_of: Vec::new(),
                    variations_applied: vec!["clock".to_string(), "timezone".to_string()],
                    variations_not_applied: Vec::new(),
                }],
                vec![Tool {
                    name: "cc".to_string(),
                    path: "/usr/bin/cc".to_string(),
                    sha256: Sha256Digest::of_bytes(b"cc"),
                }],
            ),
        )
    }

    /// Writes a signed statement into a fresh directory.
    fn signed(statement: &Statement) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verdict.intoto.json");
        sign_to_file(statement, &key(1), &path).unwrap();
        (dir, path)
    }

    /// Decodes the payload of the envelope at `path`, lets `edit` change it as JSON, and
    /// writes it back re-encoded, keeping the old signature: what a forger would do.
    fn edit_payload(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut envelope = envelope_value(path);
        let body = decode_base64(envelope["payload"].as_str().unwrap()).unwrap();
        let mut payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
        edit(&mut payload);
        envelope["payload"] = STANDARD
            .encode(serde_json::to_vec(&payload).unwrap())
            .into();
        fs::write(path, serde_json::to_vec(&envelope).unwrap()).unwrap();
    }

    fn assert_tampered(path: &Path) {
        let err = verify(path, &key(1).verifying_key()).unwrap_err();
        assert!(matches!(err, AttestError::Tampered { .. }), "{err}");
        let text = err.to_string();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        assert!(text.contains(&keyid(&key(1).verifying_key())), "{text}");
    }

    #[test]
    fn round_trip_for_pass_and_fail() {
        for verdict in [StepVerdict::Reproducible, StepVerdict::Nondeterministic] {
            let statement = statement(verdict);
            let (_dir, path) = signed(&statement);
            let verified = verify(&path, &key(1).verifying_key()).unwrap();
            assert_eq!(verified.statement, statement);
            assert_eq!(verified.keyid, keyid(&key(1).verifying_key()));
            assert_eq!(verified.passed(), verdict == StepVerdict::Reproducible);
        }
    }

    #[test]
    fn envelope_file_has_the_dsse_shape() {
        let (_dir, path) = signed(&statement(StepVerdict::Reproducible));
        let value = envelope_value(&path);
        assert_eq!(value["payloadType"], "application/vnd.in-toto+json");
        let payload = STANDARD.decode(value["payload"].as_str().unwrap()).unwrap();
        let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(statement["predicateType"], "https://reprobe.dev/verdict/v1");
        let signature = &value["signatures"][0];
        assert_eq!(signature["keyid"], keyid(&key(1).verifying_key()));
        assert_eq!(
            STANDARD
                .decode(signature["sig"].as_str().unwrap())
                .unwrap()
                .len(),
            64
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o600, 0o600);
        assert_eq!(mode & 0o022, 0, "never group or world writable");
    }

    #[test]
    fn a_changed_subject_digest_is_caught() {
        let (_dir, path) = signed(&statement(StepVerdict::Reproducible));
        edit_payload(&path, |p| {
            p["subject"][0]["digest"]["sha256"] = Sha256Digest::of_bytes(b"evil").to_hex().into();
        });
        assert_tampered(&path);
    }

    #[test]
    fn a_changed_verdict_is_caught() {
        let (_dir, path) = signed(&statement(StepVerdict::Nondeterministic));
        edit_payload(&path, |p| {
            p["predicate"]["steps"][0]["verdict"] = "reproducible".into();
            p["predicate"]["result"] = "pass".into();
        });
        assert_tampered(&path);
    }

    #[test]
    fn a_changed_payload_type_is_caught() {
        let (_dir, path) = signed(&statement(StepVerdict::Reproducible));
        let mut envelope = envelope_value(&path);
        envelope["payloadType"] = "application/json".into();
        fs::write(&path, serde_json::to_vec(&envelope).unwrap()).unwrap();
        assert_tampered(&path);
    }

    #[test]
    fn a_changed_signature_is_caught() {
        let (_dir, path) = signed(&statement(StepVerdict::Reproducible));
        let mut envelope = envelope_value(&path);
        let mut sig = STANDARD
            .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
            .unwrap();
        sig[10] ^= 0x01;
        envelope["signatures"][0]["sig"] = STANDARD.encode(sig).into();
        fs::write(&path, serde_json::to_vec(&envelope).unwrap()).unwrap();
        assert_tampered(&path);
    }

    #[test]
    fn a_wrong_key_is_named() {
        let (_dir, path) = signed(&statement(StepVerdict::Reproducible));
        let other = key(2).verifying_key();
        let err = verify(&path, &other).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, AttestError::WrongKey { .. }), "{text}");
        assert!(text.contains(&keyid(&other)), "{text}");
        assert!(text.contains(&keyid(&key(1).verifying_key())), "{text}");
    }

    #[test]
    fn malformed_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        for content in [
            &b"{\"payloadType\": \"application/vnd.in-toto+json\", \"payl"[..],
            b"[]",
            b"{\"payloadType\": 1, \"payload\": \"\", \"signatures\": []}",
            b"\xff\xfe",
            b"",
        ] {
            fs::write(&path, content).unwrap();
            let err = verify(&path, &key(1).verifying_key()).unwrap_err();
            assert!(matches!(err, AttestError::Malformed { .. }), "{err}");
            assert!(
                err.to_string().starts_with(&path.display().to_string()),
                "{err}"
            );
        }
        let mut envelope = sign(&statement(StepVerdict::Reproducible), &key(1));
        envelope.payload = "%%%".to_string();
        write_envelope(&envelope, &path).unwrap();
        let err = verify(&path, &key(1).verifying_key()).unwrap_err();
        assert!(err.to_string().contains("payload is not base64"), "{err}");

        let missing = dir.path().join("missing.json");
        let err = verify(&missing, &key(1).verifying_key()).unwrap_err();
        assert!(matches!(err, AttestError::Read { .. }), "{err}");
        let err = verify(dir.path(), &key(1).verifying_key()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    #[test]
    fn validly_signed_payloads_of_other_kinds_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.json");
        let check = |envelope: Envelope| {
            write_envelope(&envelope, &path).unwrap();
            verify(&path, &key(1).verifying_key()).unwrap_err()
        };
        let body = statement(StepVerdict::Reproducible).to_payload();

        let err = check(Envelope::sign_payload("application/json", &body, &key(1)));
        assert!(matches!(err, AttestError::WrongPayloadType { .. }), "{err}");

        let err = check(Envelope::sign_payload(PAYLOAD_TYPE, b"not json", &key(1)));
        assert!(matches!(err, AttestError::NotAVerdict { .. }), "{err}");

        let mut other = statement(StepVerdict::Reproducible);
        other.predicate_type = "https://slsa.dev/provenance/v1".to_string();
        let err = check(Envelope::sign_payload(
            PAYLOAD_TYPE,
            &other.to_payload(),
            &key(1),
        ));
        assert!(
            err.to_string().contains("https://slsa.dev/provenance/v1"),
            "{err}"
        );

        let mut old = statement(StepVerdict::Reproducible);
        old.statement_type = "https://in-toto.io/Statement/v0.1".to_string();
        let err = check(Envelope::sign_payload(
            PAYLOAD_TYPE,
            &old.to_payload(),
            &key(1),
        ));
        assert!(err.to_string().contains("Statement/v0.1"), "{err}");

        let mut value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        value["subject"][0]["digest"]["sha256"] = "abc".into();
        let bad_digest = serde_json::to_vec(&value).unwrap();
        let err = check(Envelope::sign_payload(PAYLOAD_TYPE, &bad_digest, &key(1)));
        assert!(err.to_string().contains("not a sha256 digest"), "{err}");

        let mut liar = statement(StepVerdict::Failed);
        liar.predicate.result = Outcome::Pass;
        let err = check(Envelope::sign_payload(
            PAYLOAD_TYPE,
            &liar.to_payload(),
            &key(1),
        ));
        assert!(matches!(err, AttestError::Inconsistent { .. }), "{err}");
    }

    #[test]
    fn writing_replaces_atomically_and_leaves_no_temporary_file() {
        let (dir, path) = signed(&statement(StepVerdict::Reproducible));
        sign_to_file(&statement(StepVerdict::Failed), &key(1), &path).unwrap();
        let verified = verify(&path, &key(1).verifying_key()).unwrap();
        assert!(!verified.passed());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("verdict.intoto.json")]);

        let err = write_envelope(
            &sign(&statement(StepVerdict::Failed), &key(1)),
            &dir.path().join("no/such/dir.json"),
        )
        .unwrap_err();
        assert!(matches!(err, AttestError::Write { .. }), "{err}");
        assert!(err.to_string().contains("no/such/dir.json"), "{err}");
    }

    fn any_digest() -> impl Strategy<Value = Sha256Digest> {
        any::<[u8; 32]>().prop_map(Sha256Digest)
    }

    fn any_verdict() -> impl Strategy<Value = StepVerdict> {
        prop_oneof![
            Just(StepVerdict::Reproducible),
            Just(StepVerdict::Nondeterministic),
            Just(StepVerdict::Cascade),
            Just(StepVerdict::Failed),
            Just(StepVerdict::Network),
            Just(StepVerdict::Undeclared),
        ]
    }

    fn any_step() -> impl Strategy<Value = StepAttestation> {
        (
            "\\PC{0,12}",
            proptest::option::of(any_digest()),
            proptest::collection::vec(any_digest(), 0..3),
            any_verdict(),
            proptest::collection::vec("[a-z_]{1,10}", 0..4),
            proptest::collection::vec(("[a-z_]{1,10}", "\\PC{0,20}"), 0..2),
        )
            .prop_map(
                |(name, input_hash, content_hashes, verdict, applied, not)| StepAttestation {
                    name,
                    input_hash,
                    content_hashes,
                    verdict,
                    reasons: Vec::new(),
                    cascade_of: Vec::new(),
                    variations_applied: applied,
                    variations_not_applied: not
                        .into_iter()
                        .map(|(variation, why)| NotApplied { variation, why })
                        .collect(),
                },
            )
    }

    fn any_statement() -> impl Strategy<Value = Statement> {
        (
            proptest::collection::vec(("\\PC{0,16}", any_digest()), 0..4),
            proptest::collection::vec("[a-z_]{1,10}", 0..4),
            proptest::collection::vec(any_step(), 0..4),
            proptest::collection::vec(("\\PC{0,8}", "\\PC{0,16}", any_digest()), 0..3),
        )
            .prop_map(|(subjects, variations, steps, tools)| {
                Statement::new(
                    subjects
                        .into_iter()
                        .map(|(n, d)| Subject::new(n, d))
                        .collect(),
                    Predicate::new(
                        variations,
                        steps,
                        tools
                            .into_iter()
                            .map(|(name, path, sha256)| Tool { name, path, sha256 })
                            .collect(),
                    ),
                )
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_statement_round_trips(statement in any_statement(), seed in any::<[u8; 32]>()) {
            let key = SigningKey::from_bytes(&seed);
            let envelope = sign(&statement, &key);
            let back: Envelope = serde_json::from_str(&envelope.to_json()).unwrap();
            let verified = verify_envelope(&back, &key.verifying_key(), Path::new("p")).unwrap();
            prop_assert_eq!(verified.statement, statement);
        }

        #[test]
        fn any_changed_payload_byte_is_caught(
            statement in any_statement(),
            index in any::<proptest::sample::Index>(),
            delta in 1u8..=255,
        ) {
            let key = key(3);
            let mut envelope = sign(&statement, &key);
            let mut body = statement.to_payload();
            let at = index.index(body.len());
            body[at] = body[at].wrapping_add(delta);
            envelope.payload = STANDARD.encode(&body);
            let err = verify_envelope(&envelope, &key.verifying_key(), Path::new("p")).unwrap_err();
            prop_assert!(matches!(err, AttestError::Tampered { .. }), "{}", err);
        }
    }
}
