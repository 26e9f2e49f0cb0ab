//! `reprobe challenge` end to end: the same graph built into two stores (two "machines"),
//! then their manifests compared.

use crate::common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

const GRAPH: &str = r#"
[env]
PATH = "/usr/bin:/bin"

[steps.words]
run = "tr a-z A-Z < src/words.txt > words.txt"
inputs = ["src/words.txt"]
outputs = ["words.txt"]

[steps.stamp]
run = "date -u '+built %Y-%m-%d %H:%M:%S.%N' > stamp.txt"
outputs = ["stamp.txt"]
"#;

/// Builds `dir` into `store` and returns the manifest file of that build.
fn build_into(dir: &Path, store: &Path) -> PathBuf {
    let out = run_in(dir, &["build", "--store", store.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let builds = store.join("builds");
    let mut files: Vec<PathBuf> = fs::read_dir(&builds)
        .expect("builds")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files.pop().expect("a manifest")
}

fn two_machines(graph: &str) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf, PathBuf) {
    let dir = project(graph, &[("src/words.txt", "alpha beta\n")]);
    let (a, b) = (dir.path().join("store-a"), dir.path().join("store-b"));
    let mine = build_into(dir.path(), &a);
    let theirs = build_into(dir.path(), &b);
    (dir, a, b, mine, theirs)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

#[test]
fn a_nondeterministic_step_disagrees_and_exits_1() {
    let (dir, a, _b, mine, theirs) = two_machines(GRAPH);
    let out = run_in(
        dir.path(),
        &[
            "challenge",
            s(&mine),
            s(&theirs),
            "--store",
            s(&a),
            "--json",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["schema"], "reprobe/report/1");
    assert_eq!(report["command"], "challenge");
    assert_eq!(report["verdict"], "nondeterministic");
    assert_eq!(report["agree"][0]["step"], "words");
    let d = &report["disagree"][0];
    assert_eq!(d["step"], "stamp");
    assert_eq!(d["comparisons"][0]["files"][0]["path"], "stamp.txt");
    assert_eq!(d["comparisons"][0]["files"][0]["change"], "modified");
    // Store A has only its own blob: the note says how to classify.
    let note = d["comparisons"][0]["note"].as_str().expect("note");
    assert!(note.contains("--blobs"), "{note}");
}

#[test]
fn with_both_stores_the_difference_is_classified() {
    let (dir, a, b, mine, theirs) = two_machines(GRAPH);
    let out = run_in(
        dir.path(),
        &[
            "challenge",
            s(&mine),
            s(&theirs),
            "--store",
            s(&a),
            "--blobs",
            s(&b),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("1 step DISAGREE"), "{text}");
    assert!(
        text.contains("stamp.txt (modified)  reasons: timestamp"),
        "{text}"
    );
    assert!(text.contains("agree"), "{text}");
}

#[test]
fn deterministic_builds_on_two_machines_agree() {
    let graph = GRAPH.split("[steps.stamp]").next().expect("first step");
    let (dir, _a, _b, mine, theirs) = two_machines(graph);
    let out = run_in(dir.path(), &["challenge", s(&mine), s(&theirs)]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).starts_with("1 step agree across 2 manifests"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn different_inputs_are_only_in_one_not_a_disagreement() {
    let graph = GRAPH.split("[steps.stamp]").next().expect("first step");
    let dir = project(graph, &[("src/words.txt", "alpha\n")]);
    let a = dir.path().join("store-a");
    let mine = build_into(dir.path(), &a);
    fs::write(dir.path().join("src/words.txt"), "beta\n").expect("edit");
    let theirs = build_into(dir.path(), &dir.path().join("store-b"));
    let out = run_in(dir.path(), &["challenge", s(&mine), s(&theirs), "--json"]);
    assert_eq!(code(&out), 0);
    let report = json(&out);
    assert_eq!(report["only_in"].as_array().expect("only_in").len(), 2);
    assert!(report["disagree"].as_array().expect("disagree").is_empty());
}

#[test]
fn three_manifests_are_grouped_by_output() {
    let (dir, a, b, mine, theirs) = two_machines(GRAPH);
    let third = build_into(dir.path(), &dir.path().join("store-c"));
    let out = run_in(
        dir.path(),
        &[
            "challenge",
            s(&mine),
            s(&theirs),
            s(&third),
            "--store",
            s(&a),
            "--blobs",
            s(&b),
            "--json",
        ],
    );
    assert_eq!(code(&out), 1);
    let report = json(&out);
    let d = &report["disagree"][0];
    assert_eq!(d["outputs"].as_array().expect("outputs").len(), 3);
    assert_eq!(d["comparisons"].as_array().expect("comparisons").len(), 2);
    assert_eq!(
        report["agree"][0]["manifests"].as_array().expect("m").len(),
        3
    );
}

#[test]
fn bad_input_exits_2() {
    let dir = project(GRAPH, &[("src/words.txt", "x\n")]);
    let missing = run_in(dir.path(), &["challenge", "a.json", "b.json"]);
    assert_eq!(code(&missing), 2);
    assert!(
        stderr(&missing).contains("`a.json`"),
        "{}",
        stderr(&missing)
    );
    fs::write(
        dir.path().join("bad.json"),
        "{\"schema\": \"reprobe/manifest/9\"}",
    )
    .expect("write");
    fs::write(dir.path().join("bad2.json"), "not json").expect("write");
    let bad = run_in(dir.path(), &["challenge", "bad.json", "bad2.json"]);
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("reprobe/manifest/9"),
        "{}",
        stderr(&bad)
    );
    let one = run_in(dir.path(), &["challenge", "bad.json"]);
    assert_eq!(code(&one), 2);
}

#[test]
fn steps_downstream_of_a_disagreement_are_counted_once_each() {
    // cascade: stamp writes the time; its four dependents get other inputs in each build.
    let dir = copy_corpus("cascade");
    let first = run_in(dir.path(), &["build", "--json"]);
    std::fs::write(dir.path().join("m1.json"), stdout(&first)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = run_in(dir.path(), &["build", "--json", "--no-cache"]);
    std::fs::write(dir.path().join("m2.json"), stdout(&second)).unwrap();
    let out = run_in(dir.path(), &["challenge", "m1.json", "m2.json"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("4 steps built from inputs no other manifest has (8 builds in all"),
        "{text}"
    );
}
