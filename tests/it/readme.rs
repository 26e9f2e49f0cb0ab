//! Every shell block of the README runs as written: a newcomer pastes them. Each block
//! runs in its own bash, from the root of a copy of the repository, with `reprobe` (the
//! binary under test) on PATH and `cargo run --release --` standing for it. A command
//! line ending in `# exit N` must exit N; any other must exit 0. The one line not run is
//! the test command itself (`bash scripts/test.sh`), which would run this test again.

use crate::common;

use common::*;
use std::path::Path;
use std::process::Command;

/// The ```sh blocks of the README, with the line each starts at.
fn shell_blocks(readme: &str) -> Vec<(usize, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    for (number, line) in readme.lines().enumerate() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sh") => current = Some((number + 2, Vec::new())),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some((_, lines)), _) => lines.push(line.to_string()),
            (None, _) => {}
        }
    }
    blocks
}

/// The exit code a README command line promises (`# exit 1`), 0 when it says none.
fn expected_exit(line: &str) -> i32 {
    let Some((_, comment)) = line.split_once('#') else {
        return 0;
    };
    comment
        .trim()
        .strip_prefix("exit ")
        .and_then(|rest| rest.chars().next())
        .and_then(|c| c.to_digit(10))
        .map_or(0, |d| d as i32)
}

/// A bash script running `lines`, checking each command's exit code.
fn checked_script(start: usize, lines: &[String]) -> String {
    let mut script = String::from(
        "cargo() { case \"$1 $2 $3\" in 'run --release --') shift 3; reprobe \"$@\";; 'build --release '*|'install --path .') true;; *) echo \"cargo $* is not stood in for\" >&2; return 99;; esac; }\n",
    );
    for (offset, line) in lines.iter().enumerate() {
        let command = line.trim();
        if command.is_empty() || command.starts_with('#') || command == "bash scripts/test.sh" {
            continue;
        }
        let want = expected_exit(command);
        let number = start + offset;
        script.push_str(&format!(
            "{{ {command}\n}}; rc=$?; if [ $rc -ne {want} ]; then echo \"README line {number}: exit $rc, expected {want}: {}\" >&2; exit 1; fi\n",
            command.replace('\\', "\\\\").replace('"', "\\\"").replace('$', "\\$").replace('`', "\\`")
        ));
    }
    script
}

#[test]
fn the_readme_blocks_have_the_exit_codes_they_promise() {
    assert_eq!(expected_exit("reprobe check   # exit 1: buildinfo.h"), 1);
    assert_eq!(expected_exit("reprobe check"), 0);
    assert_eq!(expected_exit("reprobe check  # reads ./reprobe.toml"), 0);
}

#[test]
fn every_shell_block_of_the_readme_runs_as_written() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let copy = tempfile::tempdir().unwrap();
    for part in ["README.md", "corpus", "scripts", "benches", "Cargo.toml"] {
        let from = repo.join(part);
        if from.is_dir() {
            std::fs::create_dir_all(copy.path().join(part)).unwrap();
            copy_tree(&from, &copy.path().join(part));
        } else {
            std::fs::copy(&from, copy.path().join(part)).unwrap();
        }
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_reprobe")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let blocks = shell_blocks(&readme);
    assert!(blocks.len() >= 5, "the README's blocks were not found");
    for (start, lines) in blocks {
        let out = Command::new("bash")
            .arg("-c")
            .arg(checked_script(start, &lines))
            .current_dir(copy.path())
            .env("PATH", &path)
            .env_remove("REPROBE_STORE")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the README block at line {start} failed:\n{}\n--- stdout\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
