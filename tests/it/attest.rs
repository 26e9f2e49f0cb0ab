//! Signed verdicts through the public API, with real files and keys made by OpenSSL: the
//! keys users already have must work, and what reprobe signs must verify with OpenSSL.
//!
//! Tests that need the `openssl` program say so on stderr and pass when it is missing.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reprobe::attest::*;
use sha2::{Digest as _, Sha256};

/// Runs openssl with `args` in `dir`; `None` when openssl is not installed.
fn openssl(dir: &Path, args: &[&str]) -> Option<std::process::Output> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output)
}

/// Makes `key.pem` and `pub.pem` in `dir` with OpenSSL, exactly as the docs tell users to.
fn openssl_pair(dir: &Path, stem: &str) -> Option<(PathBuf, PathBuf)> {
    let private = format!("{stem}.pem");
    let public = format!("{stem}.pub.pem");
    openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", &private])?;
    openssl(dir, &["pkey", "-in", &private, "-pubout", "-out", &public])?;
    Some((dir.join(private), dir.join(public)))
}

fn skip(test: &str) {
    eprintln!("{test}: skipped, `openssl` is not installed");
}

/// A small project with two final outputs, and a statement about them.
fn project(dir: &Path) -> Statement {
    let out = dir.join("project/out");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("app"), b"\x7fELF pretend binary").unwrap();
    fs::write(out.join("app.1"), b".TH APP 1\n").unwrap();
    let subject = ["out/app", "out/app.1"]
        .iter()
        .map(|name| Subject::of_file(*name, &dir.join("project").join(name)).unwrap())
        .collect();
    let step = |name: &str, verdict, not_applied: Vec<NotApplied>| StepAttestation {
        name: name.to_string(),
        input_hash: Some(Sha256Digest::of_bytes(name.as_bytes())),
        content_hashes: vec![Sha256Digest::of_bytes(b"tree")],
        verdict,
        reasons: Vec::new(),
        cascade_of: Vec::new(),
        variations_applied: vec!["build_path".into(), "clock".into()],
        variations_not_applied: not_applied,
    };
    let predicate = Predicate::new(
        vec!["build_path".into(), "clock".into(), "cpus".into()],
        vec![
            step("compile", StepVerdict::Reproducible, Vec::new()),
            step(
                "man",
                StepVerdict::Reproducible,
                vec![NotApplied {
                    variation: "cpus".into(),
                    why: "the machine has one core".into(),
                }],
            ),
        ],
        vec![Tool {
            name: "cc".into(),
            path: "/usr/bin/cc".into(),
            sha256: Sha256Digest::of_bytes(b"cc"),
        }],
    );
    Statement::new(subject, predicate)
}

#[test]
fn openssl_keys_sign_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let Some((private, public)) = openssl_pair(dir.path(), "key") else {
        return skip("openssl_keys_sign_and_verify");
    };
    let signing = read_signing_key(&private).unwrap();
    let verifying = read_verifying_key(&public).unwrap();
    assert_eq!(signing.verifying_key(), verifying);

    // keyid: sha256 of the 32 raw key bytes, which end OpenSSL's DER encoding of the key.
    let der = openssl(
        dir.path(),
        &["pkey", "-pubin", "-in", "key.pub.pem", "-outform", "DER"],
    )
    .unwrap()
    .stdout;
    assert_eq!(der.len(), 44);
    assert_eq!(keyid(&verifying), hex::encode(Sha256::digest(&der[12..])));

    let statement = project(dir.path());
    let path = dir.path().join("verdict.intoto.json");
    sign_to_file(&statement, &signing, &path).unwrap();
    let verified = verify(&path, &verifying).unwrap();
    assert_eq!(verified.statement, statement);
    assert_eq!(verified.keyid, keyid(&verifying));
    assert!(!verified.passed(), "a variation did not reach `man`");
    assert_eq!(verified.statement.predicate.result.as_str(), "fail");

    let root = dir.path().join("project");
    let checks = verified.statement.check_subjects(&root);
    assert!(
        checks.iter().all(|c| c.status == SubjectStatus::Matches),
        "{checks:?}"
    );
    fs::write(root.join("out/app"), b"rebuilt differently").unwrap();
    let checks = verified.statement.check_subjects(&root);
    assert!(
        matches!(checks[0].status, SubjectStatus::Differs { .. }),
        "{checks:?}"
    );
}

#[test]
fn openssl_verifies_what_reprobe_signs() {
    let dir = tempfile::tempdir().unwrap();
    let Some((private, _)) = openssl_pair(dir.path(), "key") else {
        return skip("openssl_verifies_what_reprobe_signs");
    };
    let envelope = sign(&project(dir.path()), &read_signing_key(&private).unwrap());
    let body = decode_base64(&envelope.payload).unwrap();
    fs::write(
        dir.path().join("pae.bin"),
        pae(PAYLOAD_TYPE.as_bytes(), &body),
    )
    .unwrap();
    let sig = STANDARD.decode(&envelope.signatures[0].sig).unwrap();
    fs::write(dir.path().join("sig.bin"), &sig).unwrap();
    openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "key.pub.pem",
            "-rawin",
            "-in",
            "pae.bin",
            "-sigfile",
            "sig.bin",
        ],
    )
    .unwrap();
    // Ed25519 is deterministic: OpenSSL signing the same PAE gives the same bytes.
    openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "key.pem",
            "-rawin",
            "-in",
            "pae.bin",
            "-out",
            "openssl.sig",
        ],
    )
    .unwrap();
    assert_eq!(fs::read(dir.path().join("openssl.sig")).unwrap(), sig);
}

#[test]
fn keygen_keys_work_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("reprobe.pem");
    let public = dir.path().join("reprobe.pub.pem");
    let files = keygen(&private, &public).unwrap();
    let mode = fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the private key is for its owner only");
    assert_eq!(files.keyid, keyid(&read_verifying_key(&public).unwrap()));

    let Some(derived) = openssl(dir.path(), &["pkey", "-in", "reprobe.pem", "-pubout"]) else {
        return skip("keygen_keys_work_with_openssl");
    };
    assert_eq!(
        String::from_utf8(derived.stdout).unwrap(),
        fs::read_to_string(&public).unwrap(),
        "OpenSSL reads the private key and derives the same public key, byte for byte"
    );

    let path = dir.path().join("v.json");
    sign_to_file(
        &project(dir.path()),
        &read_signing_key(&private).unwrap(),
        &path,
    )
    .unwrap();
    verify(&path, &read_verifying_key(&public).unwrap()).unwrap();
}

#[test]
fn tampering_with_the_file_and_wrong_keys_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let Some((private, public)) = openssl_pair(dir.path(), "key") else {
        return skip("tampering_with_the_file_and_wrong_keys_fail_clearly");
    };
    let (_, other_public) = openssl_pair(dir.path(), "other").unwrap();
    let path = dir.path().join("verdict.intoto.json");
    sign_to_file(
        &project(dir.path()),
        &read_signing_key(&private).unwrap(),
        &path,
    )
    .unwrap();
    let original = fs::read_to_string(&path).unwrap();
    let key = read_verifying_key(&public).unwrap();

    // A wrong key: the error names the key tried and the one that signed.
    let other = read_verifying_key(&other_public).unwrap();
    let err = verify(&path, &other).unwrap_err().to_string();
    assert!(err.contains(&keyid(&other)), "{err}");
    assert!(err.contains(&keyid(&key)), "{err}");
    assert!(err.starts_with(&path.display().to_string()), "{err}");

    // A forger edits the payload's JSON (a subject's digest, then the verdict) and
    // re-encodes it, keeping the signature.
    let envelope: serde_json::Value = serde_json::from_str(&original).unwrap();
    let payload =
        String::from_utf8(decode_base64(envelope["payload"].as_str().unwrap()).unwrap()).unwrap();
    let app_digest = Sha256Digest::of_bytes(b"\x7fELF pretend binary").to_hex();
    let forged_digest = payload.replace(&app_digest, &Sha256Digest::of_bytes(b"evil").to_hex());
    let forged_verdict = payload.replace(
        "\"verdict\":\"reproducible\"",
        "\"verdict\":\"nondeterministic\"",
    );
    for forged in [forged_digest, forged_verdict] {
        assert_ne!(forged, payload);
        let mut changed = envelope.clone();
        changed["payload"] = STANDARD.encode(forged).into();
        fs::write(&path, serde_json::to_string(&changed).unwrap()).unwrap();
        let err = verify(&path, &key).unwrap_err();
        assert!(matches!(err, AttestError::Tampered { .. }), "{err}");
        assert!(err.to_string().contains("altered after signing"), "{err}");
    }

    // Any single byte of the file changed: refused, whatever the byte.
    let bytes = original.as_bytes();
    let payload_start = original.find("\"payload\": \"").unwrap() + 12;
    for at in [payload_start, payload_start + 40, payload_start + 200] {
        let mut changed = bytes.to_vec();
        changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
        fs::write(&path, &changed).unwrap();
        assert!(verify(&path, &key).is_err(), "byte {at} changed");
    }

    fs::write(&path, &original).unwrap();
    verify(&path, &key).unwrap();
}

#[test]
fn files_that_are_not_the_right_key_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let Some((private, _)) = openssl_pair(dir.path(), "key") else {
        return skip("files_that_are_not_the_right_key_are_named");
    };
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.pem",
        ],
    )
    .unwrap();
    openssl(
        dir.path(),
        &["pkey", "-in", "ec.pem", "-pubout", "-out", "ec.pub.pem"],
    )
    .unwrap();

    let ec = dir.path().join("ec.pem");
    let err = read_signing_key(&ec).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: not an Ed25519 private key", ec.display())),
        "{err}"
    );
    assert!(err.contains("an ECDSA (EC) key"), "{err}");
    assert!(err.contains("genpkey -algorithm ed25519"), "{err}");

    let ec_pub = dir.path().join("ec.pub.pem");
    let err = read_verifying_key(&ec_pub).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: not an Ed25519 public key", ec_pub.display())),
        "{err}"
    );

    // The private key where the public one is expected, and the envelope as a key.
    let err = read_verifying_key(&private).unwrap_err().to_string();
    assert!(err.contains("holds a private key"), "{err}");
    let path = dir.path().join("v.json");
    sign_to_file(
        &project(dir.path()),
        &read_signing_key(&private).unwrap(),
        &path,
    )
    .unwrap();
    let err = read_verifying_key(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: not an Ed25519 public key", path.display())),
        "{err}"
    );
}
