//! Helpers shared by the `diff_*` integration tests: run the real binary, build the
//! corpus pairs once, read the JSON report.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// Runs `reprobe ARGS`; returns (exit code, stdout, stderr).
pub fn reprobe(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reprobe"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run reprobe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `reprobe diff --json A B EXTRA...`; returns the exit code and the parsed report.
pub fn diff_json(a: &Path, b: &Path, extra: &[&str]) -> (i32, Value) {
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let mut args = vec!["diff", "--json", a, b];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = reprobe(&args);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}\nstderr: {stderr}"));
    (code, report)
}

/// A fresh scratch directory under Cargo's target tmpdir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The corpus pairs, built once per test binary by `corpus/diff/make-pairs.sh`.
pub fn pairs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("pairs");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/diff/make-pairs.sh");
        let status = Command::new("sh")
            .arg(script)
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run make-pairs.sh");
        assert!(status.success(), "make-pairs.sh failed");
        dir
    })
}

/// Side a and side b of one corpus pair.
pub fn pair(name: &str) -> (PathBuf, PathBuf) {
    let dir = pairs();
    (dir.join("a").join(name), dir.join("b").join(name))
}

/// The items of a report.
pub fn items(report: &Value) -> &Vec<Value> {
    report["items"].as_array().expect("items")
}

/// The item with this path.
pub fn item<'a>(report: &'a Value, path: &str) -> &'a Value {
    items(report)
        .iter()
        .find(|i| i["path"] == path)
        .unwrap_or_else(|| panic!("no item {path} in {report:#}"))
}

/// The distinct reason kinds of an item, sorted.
pub fn kinds(item: &Value) -> Vec<String> {
    let mut k: Vec<String> = item["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k.dedup();
    k
}

/// The reasons of an item with this kind.
pub fn reasons_of<'a>(item: &'a Value, kind: &str) -> Vec<&'a Value> {
    item["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == kind)
        .collect()
}

/// Runs a shell command in `dir`, panicking on failure.
pub fn sh(dir: &Path, script: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "failed: {script}");
}
