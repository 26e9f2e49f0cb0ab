//! `check --against-remote` and `explain --remote`: this machine's build judged against
//! what another machine published.

use std::fs;

use super::Machine;
use crate::common::buildgrid::BuildGrid;
use crate::common::{code, json, project, stderr, stdout};

/// A stable step, one that stamps the time and random bytes, and one that inherits it.
const STAMPING: &str = r#"
[env]
PATH = "/usr/bin:/bin"

[steps.stable]
run = "echo hello > stable.txt"
outputs = ["stable.txt"]

[steps.stamp]
run = "printf 'built at %s by %s\n' \"$(date +%s%N)\" \"$(od -An -N8 -tx1 /dev/urandom | tr -d ' ')\" > stamp.txt"
outputs = ["stamp.txt"]

[steps.down]
run = "cat stamp.txt stable.txt > down.txt"
deps = ["stamp", "stable"]
outputs = ["down.txt"]
"#;

#[test]
fn check_against_remote_finds_and_classifies_what_another_machine_built_differently() {
    let server = BuildGrid::start();
    let other = Machine::with(project(STAMPING, &[]));
    let built = other.run(&server, &["build", "-q"]);
    assert_eq!(code(&built), 0, "{}", stderr(&built));

    let here = Machine::with(project(STAMPING, &[]));
    let checked = here.run(&server, &["check", "--against-remote", "--json"]);
    assert_eq!(
        code(&checked),
        1,
        "a disagreement is a finding: {}",
        stderr(&checked)
    );
    let report = json(&checked);
    let verdict = |name: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {report}"))
            .clone()
    };
    assert_eq!(verdict("stable")["verdict"], "reproducible", "{report}");
    let stamp = verdict("stamp");
    assert_eq!(stamp["verdict"], "nondeterministic", "{report}");
    let kinds: Vec<&str> = stamp["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"random"),
        "classified from both sides' bytes: {stamp}"
    );
    assert_eq!(verdict("down")["verdict"], "cascade", "{report}");
    assert_eq!(verdict("down")["cascade_of"][0], "stamp", "{report}");
}

#[test]
fn explain_and_challenge_remote_from_a_second_store_find_the_first_machines_build() {
    let server = BuildGrid::start();
    let first = Machine::of_corpus("hello-c");
    let built = first.run(&server, &["build", "-q"]);
    assert_eq!(code(&built), 0, "{}", stderr(&built));

    // Another checkout at another path, another store: an edit, a build that publishes
    // its own manifest.
    let second = Machine::of_corpus("hello-c");
    assert_ne!(first.path(), second.path());
    let source = second.path().join("src/hello.c");
    let text = fs::read_to_string(&source).unwrap();
    fs::write(&source, format!("{text}\n/* edited */\n")).unwrap();
    let rebuilt = second.run(&server, &["build", "--json"]);
    assert_eq!(code(&rebuilt), 0, "{}", stderr(&rebuilt));
    let mine = json(&rebuilt)["id"].as_str().unwrap().to_string();

    let explained = second.run(&server, &["explain", "--json"]);
    let err = stderr(&explained);
    assert_eq!(code(&explained), 0, "{err}");
    let report = json(&explained);
    let text = report.to_string();
    assert!(
        text.contains("src/hello.c"),
        "the edit is the root cause: {report}"
    );
    assert!(text.contains("compile"), "{report}");
    assert!(
        stdout(&explained).contains("latest published build"),
        "OLD is the server's: {report}"
    );

    // `challenge --remote` takes the same build as the other machine's.
    let challenged = second.run(&server, &["challenge", &mine]);
    assert_eq!(code(&challenged), 0, "{}", stderr(&challenged));
    assert!(
        stdout(&challenged).contains("latest published build"),
        "{}",
        stdout(&challenged)
    );
}
