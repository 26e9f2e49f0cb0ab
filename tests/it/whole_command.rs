//! `reprobe check --cmd`: a whole project built by one command, here a real `make` project.

use crate::common;

use common::*;

#[test]
fn make_project_tarball_is_nondeterministic_for_archive_metadata() {
    let dir = copy_corpus("make-project");
    let out = run_in(
        dir.path(),
        &[
            "check",
            "--cmd",
            "make",
            "--outputs",
            "build/**",
            ".",
            "--json",
        ],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let report = json(&out);
    let step = &report["steps"][0];
    assert_eq!(step["name"], "make");
    assert_eq!(step["verdict"], "nondeterministic");
    let reasons = step["reasons"].as_array().unwrap();
    assert!(
        reasons.iter().all(|r| r["path"] == "build/wordstat.tar.gz"),
        "{reasons:#?}"
    );
    assert!(
        reasons.iter().any(|r| r["kind"] == "archive-metadata"),
        "{reasons:#?}"
    );
}

#[test]
fn outputs_ignored_files_and_excludes_are_not_inputs() {
    let dir = copy_corpus("make-project");
    std::fs::create_dir_all(dir.path().join("build")).unwrap();
    std::fs::write(dir.path().join("build/stale.o"), "old").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let out = run_in(
        dir.path(),
        &[
            "build",
            "--cmd",
            "make build/wordstat",
            "--outputs",
            "build/",
            "--exclude",
            "*.txt",
            "--json",
        ],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let manifest = json(&out);
    let files: Vec<&str> = manifest["steps"][0]["inputs"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"Makefile") && files.contains(&"src/main.c"),
        "{files:?}"
    );
    assert!(
        !files
            .iter()
            .any(|f| f.starts_with("build/") || f.ends_with(".txt")),
        "{files:?}"
    );
}

#[test]
fn cmd_without_outputs_is_bad_input() {
    let dir = copy_corpus("make-project");
    let out = run_in(dir.path(), &["check", "--cmd", "make"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--cmd needs --outputs"),
        "{}",
        stderr(&out)
    );
}
