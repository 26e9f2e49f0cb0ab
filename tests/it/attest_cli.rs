//! Signed verdicts from the command line (docs/attest.md): `check --attest FILE --key KEY`
//! on real corpus projects, then `reprobe attestation verify` on what it wrote, untouched
//! and altered in each way a forger could try.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use crate::common::*;

/// `keygen --out DIR/NAME`: the private and the public key file.
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    let out = run_in(dir, &["attestation", "keygen", "--out", path(&prefix)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.pub.pem")),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// A copy of corpus example `name` checked with `--attest`; returns the project, the
/// attestation, the public key and check's exit code.
struct Attested {
    project: tempfile::TempDir,
    file: PathBuf,
    public: PathBuf,
    code: i32,
}

fn check_attested(name: &str, extra: &[&str]) -> Attested {
    let project = copy_corpus(name);
    let (private, public) = keygen(project.path(), "signer");
    let file = project.path().join("verdict.intoto.json");
    let mut args = vec![
        "check",
        "-q",
        "--attest",
        path(&file),
        "--key",
        path(&private),
    ];
    args.extend_from_slice(extra);
    let out = run_in(project.path(), &args);
    let code = code(&out);
    assert!(code == 0 || code == 1, "exit {code}: {}", stderr(&out));
    Attested {
        project,
        file,
        public,
        code,
    }
}

/// `attestation verify FILE --key PUB [extra] --json`: exit code and the document.
fn verify_json(file: &Path, public: &Path, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "attestation",
        "verify",
        path(file),
        "--key",
        path(public),
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = run_in(file.parent().expect("parent"), &args);
    (code(&out), json(&out), stderr(&out))
}

fn step<'a>(predicate: &'a Value, name: &str) -> &'a Value {
    predicate["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {predicate:#}"))
}

/// Re-encodes the payload of the envelope at `from` after `edit`, keeping the signature,
/// and writes the result to `to`: what a forger would do.
fn forge(from: &Path, to: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut envelope: Value = serde_json::from_slice(&fs::read(from).unwrap()).unwrap();
    let mut payload = STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    edit(&mut payload);
    envelope["payload"] = STANDARD.encode(&payload).into();
    fs::write(to, serde_json::to_vec_pretty(&envelope).unwrap()).unwrap();
}

/// Edits the payload as JSON (see [`forge`]).
fn forge_json(from: &Path, to: &Path, edit: impl FnOnce(&mut Value)) {
    forge(from, to, |payload| {
        let mut value: Value = serde_json::from_slice(payload).unwrap();
        edit(&mut value);
        *payload = serde_json::to_vec(&value).unwrap();
    });
}

#[test]
fn a_passing_check_attests_its_outputs_and_verifies() {
    let keep = tempfile::tempdir().unwrap();
    let run = check_attested("hello-c", &["--keep", path(keep.path())]);
    assert_eq!(run.code, 0);
    let mode = fs::metadata(&run.file).unwrap().permissions().mode();
    assert_eq!(mode & 0o022, 0, "never group or world writable");

    let (code, doc, err) = verify_json(&run.file, &run.public, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["valid"], true);
    let statement = &doc["statement"];
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://reprobe.dev/verdict/v1");
    // Only `link` is final: `hello.o` is an intermediate output, not a subject.
    let built = keep.path().join("build-1/link/hello");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        fs::read(&built).unwrap(),
    ));
    assert_eq!(
        statement["subject"],
        serde_json::json!([{"name": "hello", "digest": {"sha256": sha}}])
    );
    let predicate = &statement["predicate"];
    assert_eq!(predicate["result"], "pass");
    assert_eq!(predicate["reprobeVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(predicate["graphId"].as_str().map(str::len), Some(64));
    for name in ["compile", "link"] {
        let s = step(predicate, name);
        assert_eq!(s["verdict"], "reproducible");
        assert_eq!(s["inputHash"].as_str().map(str::len), Some(64));
        assert_eq!(s["contentHashes"].as_array().map(Vec::len), Some(1));
        assert!(s["variationsApplied"].as_array().unwrap().len() > 1, "{s}");
    }
    let tools = predicate["tools"].as_array().unwrap();
    assert!(
        tools
            .iter()
            .any(|t| t["name"] == "gcc" && t["sha256"].is_string()),
        "{tools:?}"
    );

    // A rebuilder's own copy of the output matches; another file does not.
    let (code, doc, _) = verify_json(&run.file, &run.public, &["--subject", path(&built)]);
    assert_eq!(code, 0);
    assert_eq!(doc["local_files"][0]["status"], "matches");
    assert_eq!(doc["local_files"][0]["subject"], "hello");
    let other = keep.path().join("build-2/link/hello");
    fs::write(&other, b"not the attested program").unwrap();
    let (code, doc, _) = verify_json(&run.file, &run.public, &["--subject", path(&other)]);
    assert_eq!(code, 1);
    assert_eq!(doc["local_files"][0]["status"], "differs");

    let text = run_in(
        run.project.path(),
        &[
            "attestation",
            "verify",
            path(&run.file),
            "--key",
            path(&run.public),
        ],
    );
    assert_eq!(crate::common::code(&text), 0);
    let text = stdout(&text);
    assert!(text.contains(": valid signature by key "), "{text}");
    assert!(
        text.contains("verdict: pass (2 of 2 steps reproducible"),
        "{text}"
    );
    assert!(text.contains(&format!("  hello  sha256:{sha}")), "{text}");
}

#[test]
fn a_failing_check_still_writes_a_verifiable_attestation() {
    let run = check_attested("c-timestamps", &[]);
    assert_eq!(run.code, 1, "check's exit code is unchanged by --attest");
    let (code, doc, err) = verify_json(&run.file, &run.public, &[]);
    assert_eq!(code, 0, "a valid attestation of a failure verifies: {err}");
    let predicate = &doc["statement"]["predicate"];
    assert_eq!(predicate["result"], "fail");
    let stamped = step(predicate, "stamped");
    assert_eq!(stamped["verdict"], "nondeterministic");
    assert_eq!(stamped["contentHashes"].as_array().map(Vec::len), Some(2));
    assert!(
        stamped["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "timestamp" && r["path"] == "stamp.o"),
        "{stamped:#}"
    );
    assert_eq!(step(predicate, "fixed")["verdict"], "reproducible");
    let names: Vec<&str> = doc["statement"]["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fixed/stamp.o", "stamp.o"]);

    let (code, _, _) = verify_json(&run.file, &run.public, &["--require-pass"]);
    assert_eq!(code, 1, "--require-pass refuses a valid `fail`");
    let text = run_in(
        run.project.path(),
        &[
            "attestation",
            "verify",
            path(&run.file),
            "--key",
            path(&run.public),
        ],
    );
    assert!(
        stdout(&text).contains("stamped  nondeterministic: timestamp in stamp.o"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn every_alteration_and_a_wrong_key_fail_verification_with_exit_1() {
    let run = check_attested("c-timestamps", &[]);
    let dir = run.project.path();
    let forged = dir.join("forged.json");
    let expect_untrusted = |public: &Path, what: &str, says: &str| {
        let (code, doc, err) = verify_json(&forged, public, &[]);
        assert_eq!(code, 1, "{what}: {err}");
        assert_eq!(doc["valid"], false, "{what}");
        assert!(err.contains(says), "{what}: {err}");
        assert!(err.contains("forged.json"), "{what}: {err}");
    };
    let altered = "was altered after signing";

    forge_json(&run.file, &forged, |s| {
        s["subject"][0]["digest"]["sha256"] = "ab".repeat(32).into();
    });
    expect_untrusted(&run.public, "a changed subject digest", altered);

    forge_json(&run.file, &forged, |s| {
        let steps = s["predicate"]["steps"].as_array_mut().unwrap();
        for step in steps {
            step["verdict"] = "reproducible".into();
            step["reasons"] = serde_json::json!([]);
        }
        s["predicate"]["result"] = "pass".into();
    });
    expect_untrusted(&run.public, "a changed verdict", altered);

    forge(&run.file, &forged, |payload| {
        let at = payload.len() / 2;
        payload[at] = payload[at].wrapping_add(1);
    });
    expect_untrusted(&run.public, "a changed payload byte", altered);

    fs::copy(&run.file, &forged).unwrap();
    let (_, stranger) = keygen(dir, "stranger");
    expect_untrusted(&stranger, "another signer's key", "not signed by the key");

    // The original still verifies: each failure above is the alteration's doing.
    let (code, _, err) = verify_json(&run.file, &run.public, &[]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn key_problems_are_reported_before_any_build() {
    let project = copy_corpus("hello-c");
    let dir = project.path();
    let (_, public) = keygen(dir, "signer");
    fs::write(dir.join("garbage.pem"), "not a key\n").unwrap();
    let cases = [
        ("missing.pem", "cannot read the key file"),
        ("signer.pub.pem", "it holds a public key"),
        ("garbage.pem", "not an Ed25519 private key"),
        (".", "cannot read the key file"),
    ];
    for (key, says) in cases {
        let out = run_in(dir, &["check", "--attest", "v.json", "--key", key]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{key}: {err}");
        assert!(err.contains(key) && err.contains(says), "{key}: {err}");
    }
    let out = run_in(dir, &["check", "--attest", "v.json"]);
    assert_eq!(code(&out), 2, "--attest without --key");
    assert!(!dir.join(".reprobe").exists(), "nothing was built");
    assert!(!dir.join("v.json").exists());

    // verify: unreadable inputs are exit 2, not a verdict on the attestation.
    let verify = |file: &str, key: &Path| {
        let out = run_in(dir, &["attestation", "verify", file, "--key", path(key)]);
        (code(&out), stderr(&out))
    };
    let (code_missing, err) = verify("missing.json", &public);
    assert_eq!(code_missing, 2, "{err}");
    assert!(err.contains("missing.json"), "{err}");
    fs::write(dir.join("notjson.json"), "{").unwrap();
    assert_eq!(verify("notjson.json", &public).0, 2);
    let (code_json, doc, _) = verify_json(&dir.join("notjson.json"), &public, &[]);
    assert_eq!(code_json, 2);
    assert_eq!(doc["valid"], false, "machines learn it did not verify");
    let (code_key, err) = verify("notjson.json", &dir.join("signer.pem"));
    assert_eq!(code_key, 2, "a private key given to verify: {err}");
    assert!(err.contains("verify with its public half"), "{err}");
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keygen(dir.path(), "release");
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let pem = fs::read_to_string(&public).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let before = fs::read(&private).unwrap();
    let out = run_in(
        dir.path(),
        &["attestation", "keygen", "--out", "release.pem"],
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(fs::read(&private).unwrap(), before);
}
