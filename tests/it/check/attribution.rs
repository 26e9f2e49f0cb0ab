//! Each difference is attributed to what produces it, causes first: a build path of
//! another length is the reason, and the bytes it moved (reordered strings, shifted
//! relocations and symbols) are said as its consequence, never as `ordering` or
//! `random`. A difference in code names the function around it.

use crate::common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Runs a tool in `dir` and fails the test with its stderr when it fails.
fn run_tool(dir: &Path, args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes a CMake project of one static library `x` from `source` (at `src/NAME`) into
/// `dir`, and configures it with `extra` cmake arguments (and builds it when `build`).
fn cmake_lib(dir: &Path, (name, source): (&str, &str), extra: &[&str], build: bool) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src").join(name), source).unwrap();
    let lists = format!(
        "cmake_minimum_required(VERSION 3.13)\nproject(x C)\nadd_library(x STATIC src/{name})\n"
    );
    std::fs::write(dir.join("CMakeLists.txt"), lists).unwrap();
    let mut args = vec!["cmake", "-S", ".", "-B", "build", "-G", "Ninja"];
    args.extend_from_slice(extra);
    run_tool(dir, &args);
    if build {
        run_tool(dir, &["ninja", "-C", "build"]);
    }
}

/// A Debug object's `.debug_line_str` holds the build path; at the other path's length
/// the table orders its strings anew. That is the build path, said once, not `ordering`,
/// and the step is not bisected for an unexplained difference.
#[test]
fn debug_object_gives_only_the_build_path() {
    let dir = tempfile::tempdir().unwrap();
    cmake_lib(
        dir.path(),
        ("a.c", "int f(int x){return x+1;}\n"),
        &["-DCMAKE_BUILD_TYPE=Debug"],
        true,
    );
    let out = run_in(
        dir.path(),
        &["check", "--json", "--ninja", "build/build.ninja"],
    );
    let report = json(&out);
    let steps = report["steps"].as_array().expect("steps");
    let step = steps
        .iter()
        .find(|s| s["name"].as_str().is_some_and(|n| n.ends_with(".c.o")))
        .unwrap_or_else(|| panic!("no compile step: {report}"));
    let reasons = step["reasons"].as_array().expect("reasons");
    assert!(!reasons.is_empty(), "{step}");
    for r in reasons {
        assert_eq!(r["kind"], "build_path", "{step}");
    }
    assert_eq!(reasons[0]["a"], "/build/project", "{step}");
    assert_eq!(
        reasons[0]["b"], "/reprobe/build-variant-two/project",
        "{step}"
    );
    let notes = step["notes"].to_string();
    assert!(!notes.contains("bisection"), "bisected: {step}");
}

/// A path from `assert()` in `.rodata` moves the strings after it, and with them every
/// relocation and symbol that points there: with more such bytes than the cap on
/// reasons, the path is still the first reason.
#[test]
fn the_path_in_rodata_comes_before_what_it_shifted() {
    let top = tempfile::tempdir().unwrap();
    let mut source = String::from("#include <assert.h>\n");
    for i in 0..80 {
        source.push_str(&format!(
            "int f{i}(int x) {{ assert(x != {i}); return x + {i}; }}\n"
        ));
    }
    let one = top.path().join("p1");
    let two = top.path().join("a-much-longer-second-directory");
    for dir in [&one, &two] {
        cmake_lib(dir, ("x.c", &source), &[], true);
    }
    let known = format!("build_path={},{}", one.display(), two.display());
    let out = run_in(
        top.path(),
        &[
            "diff",
            "--json",
            "--known",
            &known,
            "p1/build/libx.a",
            "a-much-longer-second-directory/build/libx.a",
        ],
    );
    let report = json(&out);
    let items = report["items"].as_array().expect("items");
    let object = items
        .iter()
        .find(|i| i["kind"] == "elf")
        .unwrap_or_else(|| panic!("no object: {report}"));
    let first = &object["reasons"][0];
    assert_eq!(first["kind"], "build_path", "{object}");
    assert!(
        first["context"]
            .as_str()
            .is_some_and(|c| c.contains(".rodata")),
        "{object}"
    );
    assert_eq!(first["a"].as_str(), Some(one.to_str().unwrap()), "{object}");
    for r in object["reasons"].as_array().expect("reasons") {
        assert_ne!(r["kind"], "random", "shifted bytes called random: {object}");
    }
}

/// A one-constant change in one function is reported in that function, by name and
/// offset.
#[test]
fn a_change_in_code_names_its_function() {
    let dir = tempfile::tempdir().unwrap();
    for v in [41, 42] {
        let source = format!(
            "__attribute__((noinline)) int helper(int x) {{ return x * 3; }}\n\
             __attribute__((noinline)) int compute(int x) {{ return x + {v}; }}\n\
             int main(int c, char **v) {{ (void)v; return compute(c) + helper(c); }}\n"
        );
        std::fs::write(dir.path().join(format!("m{v}.c")), source).unwrap();
        run_tool(
            dir.path(),
            &["gcc", "-O1", "-o", &format!("m{v}"), &format!("m{v}.c")],
        );
    }
    let out = run_in(dir.path(), &["diff", "--json", "m41", "m42"]);
    let report = json(&out);
    let reasons = report["items"][0]["reasons"].as_array().expect("reasons");
    let contexts: Vec<&str> = reasons
        .iter()
        .filter_map(|r| r["context"].as_str())
        .collect();
    assert!(
        contexts
            .iter()
            .any(|c| c.contains("section .text, symbol function compute+0x")),
        "{report}"
    );
    assert!(
        !contexts.iter().any(|c| c.contains("helper")),
        "the change is not in helper: {report}"
    );
}

/// Step `t` and its one reason, of `check --json --vary VARY` on a step that writes the
/// hour and minute (`date +%H:%M`).
fn time_of_day_reason(vary: &str) -> (serde_json::Value, serde_json::Value) {
    let dir = project(
        "[steps.t]\nrun = \"date +%H:%M > t\"\noutputs = [\"t\"]\n",
        &[],
    );
    let out = run_in(dir.path(), &["check", "--json", "--vary", vary]);
    let report = json(&out);
    let step = report["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "t"))
        .unwrap_or_else(|| panic!("no step t: {report}"))
        .clone();
    let reasons = step["reasons"].as_array().expect("reasons");
    assert_eq!(reasons.len(), 1, "{step}");
    let reason = reasons[0].clone();
    (step, reason)
}

/// The hour moved by the zone alone (Pacific/Kiritimati is 14 hours east of UTC) is
/// `timezone`, not the clock, found by the diff itself: the step is not bisected.
#[test]
fn a_time_moved_by_the_zone_alone_is_timezone() {
    let (step, r) = time_of_day_reason("timezone");
    assert!(
        !step["notes"].to_string().contains("bisection"),
        "bisected: {step}"
    );
    assert_eq!(r["kind"], "timezone", "{r}");
    assert_eq!(r["variation"], "timezone", "{r}");
}

/// The hour moved by the pushed clock and the zone together names both.
#[test]
fn a_time_moved_by_clock_and_zone_names_both() {
    let (_, r) = time_of_day_reason("clock,timezone");
    let variation = r["variation"].as_str().unwrap_or_default();
    assert!(
        variation.contains("clock") && variation.contains("timezone"),
        "{r}"
    );
}

/// A program patched after linking keeps its build id while other bytes differ: the
/// diff says so.
#[test]
fn a_file_changed_after_its_build_id_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.c"),
        "#include <stdio.h>\nint main(void) { puts(\"MARKER-AAAA\"); return 0; }\n",
    )
    .unwrap();
    run_tool(dir.path(), &["gcc", "-Wl,--build-id", "-o", "a.out", "m.c"]);
    let bytes = std::fs::read(dir.path().join("a.out")).unwrap();
    let at = bytes
        .windows(11)
        .position(|w| w == b"MARKER-AAAA")
        .expect("the string is in the program");
    let mut patched = bytes.clone();
    patched[at + 7..at + 11].copy_from_slice(b"BBBB");
    std::fs::write(dir.path().join("b.out"), patched).unwrap();
    let out = run_in(dir.path(), &["diff", "--json", "a.out", "b.out"]);
    let report = json(&out);
    assert!(
        report["items"][0]["evidence"]["notes"]
            .to_string()
            .contains("changed after its build id was computed"),
        "{report}"
    );
    // Two builds that differ are not said to be patched: their ids differ.
    std::fs::write(
        dir.path().join("m.c"),
        "#include <stdio.h>\nint main(void) { puts(\"MARKER-BBBB\"); return 0; }\n",
    )
    .unwrap();
    run_tool(dir.path(), &["gcc", "-Wl,--build-id", "-o", "c.out", "m.c"]);
    let out = run_in(dir.path(), &["diff", "--json", "a.out", "c.out"]);
    assert!(
        !json(&out)
            .to_string()
            .contains("changed after its build id"),
        "{}",
        stdout(&out)
    );
}
