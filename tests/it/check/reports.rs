//! Reports a person acts on: each cause said once, with the steps it concerns and a fix
//! in the language of the tool that ran them.

use crate::common;

use common::*;
use std::process::Command;

/// A CMake Debug build of a small library with twenty test programs: 23 compile steps
/// that record the build path, and 21 links and archives that inherit it.
fn cmake_debug_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut lists = String::from(
        "cmake_minimum_required(VERSION 3.13)\nproject(dbg C)\nadd_library(lib STATIC src/a.c src/b.c src/c.c)\n",
    );
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::create_dir_all(root.join("tests")).unwrap();
    for (name, body) in [("a", "x + 1"), ("b", "x * 2"), ("c", "x - 3")] {
        let source = format!("int lib_{name}(int x) {{ return {body}; }}\n");
        std::fs::write(root.join(format!("src/{name}.c")), source).unwrap();
    }
    for i in 1..=20 {
        let source = format!(
            "int lib_a(int);\nint main(void) {{ return lib_a({i}) == {} ? 0 : 1; }}\n",
            i + 1
        );
        std::fs::write(root.join(format!("tests/t{i}.c")), source).unwrap();
        lists.push_str(&format!(
            "add_executable(t{i} tests/t{i}.c)\ntarget_link_libraries(t{i} lib)\n"
        ));
    }
    std::fs::write(root.join("CMakeLists.txt"), lists).unwrap();
    for args in [
        &[
            "cmake",
            "-S",
            ".",
            "-B",
            "build",
            "-G",
            "Ninja",
            "-DCMAKE_BUILD_TYPE=Debug",
        ][..],
        &["ninja", "-C", "build"][..],
    ] {
        let out = Command::new(args[0])
            .args(&args[1..])
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

#[test]
fn a_cause_shared_by_many_steps_is_said_once_with_the_tools_own_fix() {
    let dir = cmake_debug_project();
    let out = run_in(
        dir.path(),
        &["check", "--no-bisect", "--ninja", "build/build.ninja"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    let lines = text.lines().count() + stderr(&out).lines().count();
    assert!(lines <= 40, "{lines} lines:\n{}{text}", stderr(&out));
    assert!(
        text.contains("23 steps — nondeterministic: build_path in .debug_line_str"),
        "{text}"
    );
    assert!(text.contains("21 cascades"), "{text}");
    assert!(
        text.contains("fix: add `add_compile_options(-ffile-prefix-map=${CMAKE_SOURCE_DIR}=.)` to CMakeLists.txt"),
        "{text}"
    );
    assert_eq!(
        text.matches("add_compile_options").count(),
        1,
        "the fix is given once: {text}"
    );
    // Nothing is lost in the JSON report: every step, each with its own reasons.
    let out = run_in(
        dir.path(),
        &[
            "check",
            "--json",
            "--no-bisect",
            "--ninja",
            "build/build.ninja",
        ],
    );
    let report = json(&out);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 44);
    let nondeterministic: Vec<_> = steps
        .iter()
        .filter(|s| s["verdict"] == "nondeterministic")
        .collect();
    assert_eq!(nondeterministic.len(), 23);
    assert!(nondeterministic
        .iter()
        .all(|s| s["reasons"].to_string().contains("build_path")));
}

#[test]
fn markdown_and_html_reports_group_causes_too() {
    let dir = cmake_debug_project();
    let md = dir.path().join("r.md");
    let html = dir.path().join("r.html");
    let out = run_in(
        dir.path(),
        &[
            "check",
            "--no-bisect",
            "--ninja",
            "build/build.ninja",
            "--markdown",
            md.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("23 steps — nondeterministic: build_path"),
        "{md}"
    );
    assert_eq!(md.matches("add_compile_options").count(), 1, "{md}");
    assert!(md.lines().count() <= 40, "{md}");
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("<h2>Causes</h2>"), "short report");
    assert!(!html.contains("Not varied: ."), "nothing was turned off");
    // Hashes are short in the table (the whole one on hover).
    let table = &html[html.find("<h2>Steps</h2>").unwrap()..];
    let row = table.lines().find(|l| l.contains("liblib.a")).unwrap();
    assert!(row.contains("title=\""), "{row}");
    assert!(
        !row.contains(&format!(">{}", "0".repeat(0))) || row.len() < 1200,
        "{row}"
    );
}

/// One step per remedy kind reprobe can apply, and one (a plain tarball) that the
/// environment alone cannot fix.
const REMEDIES: &str = r#"
[env]
PATH = "/usr/bin:/bin"
[steps.gz]
run = "tar cf - src/a.txt src/b.txt | gzip > src.tar.gz"
inputs = ["src/*.txt"]
outputs = ["src.tar.gz"]
[steps.cc]
run = "gcc -g -c $PWD/src/m.c -o m.o"
inputs = ["src/m.c"]
outputs = ["m.o"]
[steps.tz]
run = "date +%Z > z"
outputs = ["z"]
[steps.py]
run = "python3 -c 'print(list({\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"}))' > s"
outputs = ["s"]
[steps.mode]
run = "touch f && stat -c %a f > m"
outputs = ["m"]
[steps.epoch]
run = "python3 -c 'import os,time; print(os.environ.get(\"SOURCE_DATE_EPOCH\") or int(time.time()) // 86400)' > e"
outputs = ["e"]
"#;

#[test]
fn try_fixes_verifies_each_remedy_and_says_when_one_is_not_enough() {
    let dir = project(
        REMEDIES,
        &[
            ("src/a.txt", "alpha\n"),
            ("src/b.txt", "beta\n"),
            (
                "src/m.c",
                "#include <stdio.h>\nint main(void) { puts(__FILE__); return 0; }\n",
            ),
        ],
    );
    let out = run_in(dir.path(), &["check", "--json", "--try-fixes"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let trials = |name: &str| -> Vec<serde_json::Value> {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["fix_trials"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    for (step, remedy) in [
        ("cc", "-ffile-prefix-map"),
        ("tz", "TZ=UTC"),
        ("py", "PYTHONHASHSEED=0"),
        ("mode", "umask 022"),
        ("epoch", "SOURCE_DATE_EPOCH="),
    ] {
        let found = trials(step);
        assert!(
            found
                .iter()
                .any(|t| t["verified"] == true && t["remedy"].as_str().unwrap().contains(remedy)),
            "{step}: {found:?}"
        );
    }
    let gz = trials("gz");
    assert!(!gz.is_empty());
    assert!(gz.iter().all(|t| t["verified"] == false), "{gz:?}");
    assert!(
        gz[0]["still"]
            .as_str()
            .unwrap()
            .contains("archive-metadata"),
        "{gz:?}"
    );
    let text = stdout(&run_in(
        dir.path(),
        &["check", "--try-fixes", "--no-bisect"],
    ));
    assert!(
        text.contains("verified: with TZ=UTC the step is reproducible"),
        "{text}"
    );
    assert!(
        text.contains("not enough: with SOURCE_DATE_EPOCH=1700000000 it still differs"),
        "{text}"
    );
}

#[test]
fn long_runs_show_progress_on_a_terminal_and_nothing_elsewhere() {
    let dir = copy_corpus("cascade");
    let (code, shown) = run_with_stderr_on_terminal(dir.path(), &["check"]);
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains("build 1 [") && shown.contains("build 2 ["),
        "{shown}"
    );
    assert!(shown.contains("/5] running: "), "{shown}");
    assert!(shown.contains("judging ["), "{shown}");
    assert!(
        shown.contains("re-run on the first build's inputs"),
        "{shown}"
    );
    let (code, shown) = run_with_stderr_on_terminal(dir.path(), &["build", "--no-cache"]);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("[0/5] running: stamp"), "{shown}");
    assert!(
        !shown.contains("running: \r"),
        "never an empty list: {shown:?}"
    );
    // Not a terminal: no status line at all.
    let out = run_in(dir.path(), &["check"]);
    assert!(!stderr(&out).contains("\x1b[K"), "{}", stderr(&out));
    let out = run_in(dir.path(), &["build", "--no-cache"]);
    assert!(!stderr(&out).contains("\x1b[K"), "{}", stderr(&out));
}

/// Whether any process's command line contains `marker`.
fn a_process_has(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
    })
}

#[test]
fn sigterm_exits_143_and_ctrl_c_130() {
    for (signal, expected) in [
        (nix::sys::signal::Signal::SIGTERM, 143),
        (nix::sys::signal::Signal::SIGINT, 130),
    ] {
        let marker = format!("47.{}", expected);
        let dir = project(
            &format!("[steps.slow]\nrun = \"sleep {marker}; echo s > s\"\noutputs = [\"s\"]\n"),
            &[],
        );
        let mut child = reprobe()
            .arg("build")
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !a_process_has(&format!("sleep {marker}")) {
            assert!(
                std::time::Instant::now() < deadline,
                "the step never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(expected), "{signal}");
    }
}

#[test]
fn a_report_path_that_cannot_be_written_is_refused_before_any_build() {
    let dir = copy_corpus("hello-c");
    let out = run_in(dir.path(), &["check", "--html", "/nonexistent/r.html"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/r.html") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!err.contains("checking"), "no build ran: {err}");
}

#[test]
fn one_step_is_said_in_the_singular() {
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.only]\nrun = \"echo x > o\"\noutputs = [\"o\"]\n",
        &[],
    );
    let out = run_in(dir.path(), &["check"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("checking 1 step with 2 builds"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("the step is reproducible"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_html_step_graph_has_arrowheads_drawn_over_the_boxes() {
    let dir = copy_corpus("cascade");
    let html = dir.path().join("r.html");
    let out = run_in(
        dir.path(),
        &["check", "--no-bisect", "--html", html.to_str().unwrap()],
    );
    assert_eq!(code(&out), 1);
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("<marker id=\"arrow\""), "no arrowhead");
    let last_box = html.rfind("<rect").unwrap();
    let first_edge = html.find("class=\"edge\"").unwrap();
    assert!(first_edge > last_box, "edges come after (over) the boxes");
    assert!(html.contains("marker-end=\"url(#arrow)\""));
}

#[test]
fn a_read_only_project_suggests_keeping_the_store_elsewhere() {
    let dir = copy_corpus("hello-c");
    let root = dir.path();
    // Another user: root may write anywhere, so run as nobody on a project it cannot write.
    let status = Command::new("chmod")
        .args(["-R", "a+rX,a-w"])
        .arg(root)
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_reprobe"))
        .arg("build")
        .arg(root)
        .current_dir("/")
        .output()
        .unwrap();
    let _ = Command::new("chmod").args(["-R", "u+w"]).arg(root).status();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("--store DIR"), "{err}");
}

#[test]
fn diff_takes_quiet_like_every_command() {
    let dir = project("", &[("a", "one\n"), ("b", "two\n")]);
    let out = run_in(dir.path(), &["diff", "-q", "a", "b"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let out = run_in(dir.path(), &["diff", "-q", "a", "a"]);
    assert_eq!(code(&out), 0);
}

#[test]
fn explain_takes_the_graph_as_build_does_and_finds_a_ninja_builds_store() {
    let dir = copy_corpus("hello-c");
    let root = dir.path();
    assert_eq!(code(&run_in(root, &["build", "-q", "."])), 0);
    let graph = std::fs::read_to_string(root.join("reprobe.toml")).unwrap();
    std::fs::write(root.join("reprobe.toml"), graph.replace("-O2", "-O1")).unwrap();
    assert_eq!(code(&run_in(root, &["build", "-q", "."])), 0);
    let parent = root.parent().unwrap();
    let name = root.file_name().unwrap().to_str().unwrap();
    let out = run_in(parent, &["explain", name]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("-O1"), "{}", stdout(&out));

    // A Ninja build: its store is beside the import's root, not beside build.ninja.
    let dir = copy_corpus("meson-lib");
    let root = dir.path();
    for args in [
        &["meson", "setup", "builddir"][..],
        &["ninja", "-C", "builddir"][..],
    ] {
        let status = Command::new(args[0])
            .args(&args[1..])
            .current_dir(root)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{args:?}");
    }
    for _ in 0..2 {
        let out = run_in(
            root,
            &[
                "build",
                "-q",
                "--no-cache",
                "--ninja",
                "builddir/build.ninja",
            ],
        );
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let out = run_in(root, &["explain", "--graph", "builddir/build.ninja"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
