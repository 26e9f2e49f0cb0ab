//! Ninja import end to end: real CMake and Meson projects from `corpus/`, configured and
//! built by the real tools, imported, then checked in the sandbox.

use crate::common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Runs a build tool in `dir`; the tools come from Debian packages (scripts/test.sh).
fn tool(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): install cmake, meson and ninja-build (scripts/test.sh does)"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn verdict(report: &serde_json::Value, step: &str) -> String {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == step)
        .unwrap_or_else(|| panic!("no step {step} in {report:#}"))["verdict"]
        .as_str()
        .expect("verdict")
        .to_string()
}

fn cmake_project(build: bool) -> tempfile::TempDir {
    let dir = copy_corpus("cmake-lib");
    tool(
        dir.path(),
        "cmake",
        &["-S", ".", "-B", "build", "-G", "Ninja"],
    );
    if build {
        tool(dir.path(), "ninja", &["-C", "build"]);
    }
    dir
}

fn meson_project() -> tempfile::TempDir {
    let dir = copy_corpus("meson-lib");
    tool(dir.path(), "meson", &["setup", "builddir"]);
    tool(dir.path(), "ninja", &["-C", "builddir"]);
    dir
}

#[test]
fn cmake_lib_has_one_nondeterministic_generated_header_and_its_cascade() {
    let dir = cmake_project(true);
    let import = run_in(dir.path(), &["import", "ninja", "build/build.ninja"]);
    assert_eq!(code(&import), 0, "{}{}", stdout(&import), stderr(&import));
    assert!(
        stdout(&import).contains("7 steps from build/build.ninja"),
        "{}",
        stdout(&import)
    );
    let graph = std::fs::read_to_string(dir.path().join("reprobe.toml")).unwrap();
    let host_root = std::fs::canonicalize(dir.path()).unwrap();
    assert!(
        !graph.contains(host_root.to_str().unwrap()),
        "a host path leaked:\n{graph}"
    );

    let out = run_in(dir.path(), &["check", "--json"]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let report = json(&out);
    assert_eq!(verdict(&report, "buildinfo.h"), "nondeterministic");
    let reasons = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "buildinfo.h")
        .unwrap()["reasons"]
        .to_string();
    assert!(reasons.contains("\"timestamp\""), "{reasons}");
    assert_eq!(
        verdict(&report, "CMakeFiles_shapes.dir_src_version.c.o"),
        "cascade"
    );
    assert_eq!(verdict(&report, "libshapes.a"), "cascade");
    assert_eq!(
        verdict(&report, "CMakeFiles_shapes.dir_src_area.c.o"),
        "reproducible"
    );
    assert_eq!(
        verdict(&report, "CMakeFiles_shapes-demo.dir_app_main.c.o"),
        "reproducible"
    );
}

#[test]
fn cmake_headers_discovered_by_the_first_build_are_inputs() {
    let dir = cmake_project(true);
    assert_eq!(
        code(&run_in(
            dir.path(),
            &["import", "ninja", "build/build.ninja"]
        )),
        0
    );
    let graph: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.path().join("reprobe.toml")).unwrap()).unwrap();
    let step = &graph["steps"]["CMakeFiles_shapes.dir_src_version.c.o"];
    let inputs: Vec<&str> = step["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(inputs, ["include/shapes.h", "src/version.c"]);
    assert_eq!(step["deps"][0].as_str(), Some("buildinfo.h"));
    let run = step["run"].as_str().unwrap();
    assert!(
        run.contains("cd build")
            && run.contains("-I${REPROBE_ROOT}/include")
            && run.contains("-c ${REPROBE_ROOT}/src/version.c"),
        "{run}"
    );
}

#[test]
fn cmake_import_before_any_build_says_the_headers_are_unknown() {
    let dir = cmake_project(false);
    let out = run_in(dir.path(), &["import", "ninja", "build/build.ninja"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "4 step(s) compile with a depfile but Ninja has not recorded what they include"
        ),
        "{text}"
    );
    assert!(
        text.contains("Build once with `ninja -C build`, then import again."),
        "{text}"
    );
}

#[test]
fn meson_lib_is_reproducible_including_its_thin_archive_and_generated_header() {
    let dir = meson_project();
    let out = run_in(
        dir.path(),
        &["check", "--ninja", "builddir/build.ninja", "--json"],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let report = json(&out);
    assert_eq!(report["steps"].as_array().unwrap().len(), 6);
    for step in [
        "squares.h",
        "libgeometry.a",
        "geometry-demo",
        "libgeometry.a.p_src_squares.c.o",
    ] {
        assert_eq!(verdict(&report, step), "reproducible", "{step}");
    }
}

#[test]
fn build_with_ninja_flag_builds_the_imported_graph_in_the_sandbox() {
    let dir = meson_project();
    let out = run_in(dir.path(), &["build", "--ninja", "builddir/build.ninja"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("6 steps: 6 ran, 0 cached"),
        "{}",
        stdout(&out)
    );
    assert!(dir.path().join(".reprobe").is_dir());
}

#[test]
fn import_refuses_to_overwrite_a_hand_written_graph() {
    let dir = meson_project();
    std::fs::write(dir.path().join("reprobe.toml"), "# mine\n").unwrap();
    let out = run_in(dir.path(), &["import", "ninja", "builddir/build.ninja"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("was not written by `reprobe import`"),
        "{}",
        stderr(&out)
    );
    let out = run_in(
        dir.path(),
        &[
            "import",
            "ninja",
            "builddir/build.ninja",
            "-o",
            "imported.toml",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(dir.path().join("imported.toml").is_file());
}

#[test]
fn a_broken_build_file_is_reported_with_its_file_and_line() {
    let dir = project(
        "",
        &[(
            "build.ninja",
            "rule link\n  command = ld $in -o $out\nbuild a.o: cc a.c\n",
        )],
    );
    let out = run_in(dir.path(), &["import", "ninja", "build.ninja"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("build.ninja:3: unknown build rule 'cc'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_source_whose_name_looks_like_a_glob_imports_and_builds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c[1].c"), "int f(void) { return 1; }\n").unwrap();
    let ninja = "rule cc\n  command = gcc -c $in -o $out\nbuild c1.o: cc c[1].c\n";
    std::fs::write(dir.path().join("build.ninja"), ninja).unwrap();
    let import = run_in(dir.path(), &["import", "ninja", "build.ninja"]);
    assert_eq!(code(&import), 0, "{}", stderr(&import));
    let built = run_in(dir.path(), &["build"]);
    assert_eq!(code(&built), 0, "{}", stderr(&built));
    assert!(dir.path().join(".reprobe").is_dir());
}
