//! reprobe's verdicts against the only truth there is: the project built natively twice,
//! at two checkout paths of different lengths, with another time zone and umask, and the
//! outputs compared byte by byte. Each corpus example here reproduces a pattern of real
//! CMake and Meson builds; the expected verdict is measured by the test, not written down.

use crate::common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `script` with `sh -c` in `dir` under `umask` and `TZ`; panics on failure.
fn sh(dir: &Path, script: &str, umask: &str, tz: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && {script}"))
        .current_dir(dir)
        .env("TZ", tz)
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    assert!(
        out.status.success(),
        "`{script}` failed in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two native checkouts of a corpus example, built by `script`.
struct Native {
    _dir: tempfile::TempDir,
    first: PathBuf,
    second: PathBuf,
}

impl Native {
    fn build(example: &str, script: &str) -> Native {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("a/src");
        let second = dir.path().join("checkouts/a-much-longer-path/src");
        for (checkout, umask, tz) in [
            (&first, "022", "UTC"),
            (&second, "002", "Pacific/Kiritimati"),
        ] {
            std::fs::create_dir_all(checkout).unwrap();
            copy_tree(&corpus(example), checkout);
            sh(checkout, script, umask, tz);
        }
        Native {
            _dir: dir,
            first,
            second,
        }
    }

    /// Whether the two checkouts built different bytes at `path`.
    fn differs(&self, path: &str) -> bool {
        let read =
            |root: &Path| std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        read(&self.first) != read(&self.second)
    }
}

/// reprobe's verdict per step of `check --ninja` in the first checkout.
fn check_ninja(native: &Native, ninja: &str) -> (i32, serde_json::Value) {
    let out = run_in(&native.first, &["check", "--json", "--ninja", ninja]);
    let code = code(&out);
    assert!(code == 0 || code == 1, "exit {code}: {}", stderr(&out));
    (code, json(&out))
}

fn verdict(report: &serde_json::Value, step: &str) -> String {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == step)
        .unwrap_or_else(|| panic!("no step {step} in {report:#}"))["verdict"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Asserts, for each (native output, step producing it), that the step is judged
/// reproducible exactly when the two native builds agree on that output, that no step
/// failed, and that the exit code says the same.
fn assert_matches_native(
    native: &Native,
    report: &serde_json::Value,
    code: i32,
    pairs: &[(&str, &str)],
) {
    for step in report["steps"].as_array().unwrap() {
        assert_ne!(step["verdict"], "failed", "{step:#}");
    }
    let mut any_differs = false;
    for (output, step) in pairs {
        let differs = native.differs(output);
        any_differs |= differs;
        let judged = verdict(report, step);
        let expected: &[&str] = if differs {
            &["nondeterministic", "cascade"]
        } else {
            &["reproducible"]
        };
        assert!(
            expected.contains(&judged.as_str()),
            "{output}: natively {}, reprobe says {step} is {judged}\n{report:#}",
            if differs { "differs" } else { "the same" }
        );
    }
    assert_eq!(code, i32::from(any_differs), "{report:#}");
}

const CMAKE: &str = "cmake -S . -B build -G Ninja";

#[test]
fn cmake_absolute_source_paths_are_judged_as_two_checkouts_differ() {
    let native = Native::build(
        "cmake-paths",
        &format!("{CMAKE} >/dev/null && ninja -C build >/dev/null"),
    );
    assert!(
        native.differs("build/libcheck.a"),
        "the example must differ natively"
    );
    let (code, report) = check_ninja(&native, "build/build.ninja");
    assert_matches_native(
        &native,
        &report,
        code,
        &[
            ("build/libcheck.a", "libcheck.a"),
            ("build/libsigned.so.1.2.3", "libsigned.so.1.2.3"),
        ],
    );
    let object = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "CMakeFiles_check.dir_src_check.c.o")
        .unwrap();
    assert!(
        object["reasons"].to_string().contains("build_path"),
        "{object:#}"
    );
}

#[test]
fn the_prefix_map_that_works_natively_passes_and_the_one_that_does_not_fails() {
    for (setting, reproducible) in [("source", true), ("pwd", false)] {
        let script =
            format!("{CMAKE} -DPREFIX_MAP={setting} >/dev/null && ninja -C build >/dev/null");
        let native = Native::build("cmake-paths", &script);
        assert_eq!(
            !native.differs("build/libcheck.a"),
            reproducible,
            "{setting}"
        );
        let (code, report) = check_ninja(&native, "build/build.ninja");
        assert_matches_native(
            &native,
            &report,
            code,
            &[("build/libcheck.a", "libcheck.a")],
        );
    }
}

#[test]
fn a_version_script_named_only_in_the_link_flags_is_an_input() {
    let native = Native::build(
        "cmake-paths",
        &format!("{CMAKE} >/dev/null && ninja -C build >/dev/null"),
    );
    let import = run_in(&native.first, &["import", "ninja", "build/build.ninja"]);
    assert_eq!(code(&import), 0, "{}", stderr(&import));
    let graph = std::fs::read_to_string(native.first.join("reprobe.toml")).unwrap();
    let graph: toml::Value = toml::from_str(&graph).unwrap();
    let inputs = graph["steps"]["libsigned.so.1.2.3"]["inputs"].to_string();
    assert!(inputs.contains("src/signed.map"), "{inputs}");
    let out = run_in(&native.first, &["build"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_meson_executable_linked_with_the_projects_shared_library_builds() {
    let native = Native::build(
        "meson-shared",
        "meson setup --buildtype=release build >/dev/null && ninja -C build >/dev/null",
    );
    let (code, report) = check_ninja(&native, "build/build.ninja");
    assert_matches_native(
        &native,
        &report,
        code,
        &[
            ("build/hello", "hello"),
            ("build/libgreet.so", "libgreet.so"),
        ],
    );
}

#[test]
fn a_whole_cmake_and_ninja_command_is_judged_not_failed() {
    let native = Native::build(
        "cmake-paths",
        &format!("{CMAKE} >/dev/null && ninja -C build >/dev/null"),
    );
    let fresh = tempfile::tempdir().unwrap();
    copy_tree(&corpus("cmake-paths"), fresh.path());
    let out = run_in(
        fresh.path(),
        &[
            "check",
            "--json",
            "--no-bisect",
            "--cmd",
            "cmake -S . -B build -G Ninja && ninja -C build",
            "--outputs",
            "build/libcheck.a",
        ],
    );
    let report = json(&out);
    assert_eq!(verdict(&report, "cmake"), "nondeterministic", "{report:#}");
    assert!(report.to_string().contains("build_path"), "{report:#}");
    assert!(native.differs("build/libcheck.a"));
    assert_eq!(code(&out), 1);
}

#[test]
fn a_tracked_file_that_a_gitignore_pattern_matches_is_part_of_a_whole_command_build() {
    let dir = project(
        "",
        &[
            (".gitignore", "config.h*\nbuild/\n"),
            ("config.h.in", "#define GREETING \"hi\"\n"),
            (
                "build.sh",
                "mkdir -p build && cp config.h.in build/config.h\n",
            ),
        ],
    );
    let root = dir.path();
    for args in [
        vec!["init", "-q"],
        vec!["add", "-f", "."],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        let status = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(&args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
    let out = run_in(
        root,
        &["check", "--cmd", "sh build.sh", "--outputs", "build/**"],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}
