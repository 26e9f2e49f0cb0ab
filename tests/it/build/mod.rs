//! `reprobe build` end to end: the real binary on real graphs, in the real sandbox.

mod hostile_inputs;
mod hostile_links;
mod hostile_steps;

use crate::common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

#[test]
fn hello_c_builds_in_the_sandbox_and_records_a_manifest() {
    let dir = copy_corpus("hello-c");
    let out = run_in(dir.path(), &["build", "."]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("STEP") && text.contains("INPUT HASH"),
        "{text}"
    );
    assert!(text.contains("compile") && text.contains("link"), "{text}");
    assert!(text.contains("2 steps: 2 ran, 0 cached"), "{text}");
    let builds: Vec<_> = fs::read_dir(dir.path().join(".reprobe/builds"))
        .unwrap()
        .collect();
    assert_eq!(builds.len(), 1);
}

#[test]
fn unchanged_and_touched_inputs_are_cache_hits_and_a_changed_byte_reruns_both_steps() {
    let dir = copy_corpus("hello-c");
    assert_eq!(code(&run_in(dir.path(), &["build"])), 0);

    let again = run_in(dir.path(), &["build"]);
    assert!(
        stdout(&again).contains("2 steps: 0 ran, 2 cached"),
        "{}",
        stdout(&again)
    );
    assert!(stdout(&again).contains("every step was a cache hit"));

    let source = dir.path().join("src/hello.c");
    let file = fs::File::options().write(true).open(&source).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
        .unwrap();
    drop(file);
    let touched = run_in(dir.path(), &["build", "--json"]);
    let manifest = json(&touched);
    assert_eq!(step_status(&manifest, "compile"), "cached");
    assert_eq!(step_status(&manifest, "link"), "cached");

    let text = fs::read_to_string(&source)
        .unwrap()
        .replace("return 0", "return 1");
    fs::write(&source, text).unwrap();
    let changed = json(&run_in(dir.path(), &["build", "--json"]));
    assert_eq!(step_status(&changed, "compile"), "ran");
    assert_eq!(step_status(&changed, "link"), "ran");
}

#[test]
fn json_prints_the_manifest_with_hashes_inputs_and_outputs() {
    let dir = copy_corpus("hello-c");
    let out = run_in(dir.path(), &["build", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let m = json(&out);
    assert_eq!(m["schema"], "reprobe/manifest/1");
    assert_eq!(m["graph"], "reprobe.toml");
    let compile = &m["steps"][0];
    assert_eq!(compile["name"], "compile");
    assert_eq!(compile["input_hash"].as_str().unwrap().len(), 64);
    assert_eq!(compile["content_hash"].as_str().unwrap().len(), 64);
    assert_eq!(compile["inputs"]["files"][0]["path"], "src/greeting.h");
    assert!(compile["inputs"]["tools"][0]["path"]
        .as_str()
        .unwrap()
        .starts_with('/'));
    assert_eq!(compile["outputs"][0]["path"], "hello.o");
    let link = &m["steps"][1];
    assert_eq!(
        link["inputs"]["deps"][0]["content_hash"],
        compile["content_hash"]
    );
    // No absolute path of the project enters the recorded inputs.
    let project = dir.path().canonicalize().unwrap();
    assert!(!compile["inputs"]
        .to_string()
        .contains(project.to_str().unwrap()));
}

#[test]
fn out_copies_the_final_outputs_and_the_program_runs() {
    let dir = copy_corpus("hello-c");
    let dest = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &["build", "--out", dest.path().to_str().unwrap()],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let program = dest.path().join("hello");
    assert!(fs::metadata(&program).unwrap().permissions().mode() & 0o111 != 0);
    assert!(
        !dest.path().join("hello.o").exists(),
        "only final steps are exported"
    );
    let ran = std::process::Command::new(&program).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "hello, reproducible world\n"
    );
}

#[test]
fn multi_step_diamond_builds_every_step() {
    let dir = copy_corpus("multi-step");
    let out = run_in(dir.path(), &["build", "--json", "-j", "2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let m = json(&out);
    for step in [
        "words", "sorted", "counts", "report", "lib", "archive", "main",
    ] {
        assert_eq!(step_status(&m, step), "ran", "{step}");
    }
    let again = json(&run_in(dir.path(), &["build", "--json"]));
    for (a, b) in m["steps"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again["steps"].as_array().unwrap())
    {
        assert_eq!(a["content_hash"], b["content_hash"], "{}", a["name"]);
        assert_eq!(b["status"], "cached");
    }
}

#[test]
fn no_cache_runs_every_step_again() {
    let dir = copy_corpus("hello-c");
    assert_eq!(code(&run_in(dir.path(), &["build"])), 0);
    let m = json(&run_in(dir.path(), &["build", "--no-cache", "--json"]));
    assert_eq!(step_status(&m, "compile"), "ran");
    assert_eq!(step_status(&m, "link"), "ran");
}

#[test]
fn without_the_fork_server_steps_run_the_same() {
    // Every step's helper normally comes from the fork server; REPROBE_FORK_SERVER=off
    // re-executes reprobe per step instead. Both must build the same bytes.
    let dir = copy_corpus("hello-c");
    let with_server = json(&run_in(dir.path(), &["build", "--no-cache", "--json"]));
    let out = reprobe()
        .args(["build", "--no-cache", "--json"])
        .current_dir(dir.path())
        .env("REPROBE_FORK_SERVER", "off")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let without = json(&out);
    for step in ["compile", "link"] {
        let hash = |m: &serde_json::Value| {
            let steps = m["steps"].as_array().unwrap();
            let s = steps.iter().find(|s| s["name"] == step).unwrap();
            (s["status"].clone(), s["content_hash"].clone())
        };
        assert_eq!(hash(&with_server), hash(&without), "step {step}");
    }
}

#[test]
fn a_failing_step_stops_its_dependents_but_not_independent_steps() {
    let dir = project(
        r#"
[steps.broken]
run = "echo compiling; echo 'error: something is wrong on line 3' >&2; exit 4"
outputs = ["b"]
[steps.after]
run = "cp b c"
deps = ["broken"]
outputs = ["c"]
[steps.independent]
run = "sleep 0.3; echo ok > d"
outputs = ["d"]
"#,
        &[],
    );
    let out = run_in(dir.path(), &["build"]);
    assert_eq!(code(&out), 3, "{}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("step `broken` failed: exited with status 4"),
        "{err}"
    );
    assert!(err.contains("error: something is wrong on line 3"), "{err}");
    let text = stdout(&out);
    assert!(
        text.contains("FAILED") && text.contains("skipped"),
        "{text}"
    );
    let m = json(&run_in(dir.path(), &["build", "--json"]));
    assert_eq!(step_status(&m, "independent"), "cached");
    assert_eq!(step_status(&m, "after"), "skipped");
}

#[test]
fn a_step_missing_its_declared_output_fails_naming_it() {
    let dir = project(
        "[steps.s]\nrun = \"true\"\noutputs = [\"never-made\"]\n",
        &[],
    );
    let out = run_in(dir.path(), &["build"]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("declared output `never-made` was not produced"),
        "{}",
        stderr(&out)
    );
}

fn bad_graph(text: &str, files: &[(&str, &str)], expected: &[&str]) {
    let dir = project(text, files);
    let out = run_in(dir.path(), &["build"]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("reprobe.toml"), "names the file: {err}");
    for part in expected {
        assert!(err.contains(part), "expected `{part}` in: {err}");
        assert_eq!(err.matches(part).count(), 1, "`{part}` said once: {err}");
    }
    assert!(
        !dir.path().join(".reprobe").exists(),
        "no store is created for a bad graph"
    );
}

#[test]
fn a_cycle_is_rejected_with_the_cycle_printed() {
    bad_graph(
        "[steps.a]\nrun = \"x\"\noutputs = [\"a\"]\ndeps = [\"b\"]\n[steps.b]\nrun = \"x\"\noutputs = [\"b\"]\ndeps = [\"a\"]\n",
        &[],
        &["dependency cycle: a -> b -> a"],
    );
}

#[test]
fn an_unknown_dep_is_rejected() {
    bad_graph(
        "[steps.a]\nrun = \"x\"\noutputs = [\"a\"]\ndeps = [\"nope\"]\n",
        &[],
        &["step `a`", "unknown dep `nope`"],
    );
}

#[test]
fn a_duplicate_output_is_rejected() {
    bad_graph(
        "[steps.a]\nrun = \"x\"\noutputs = [\"o\"]\n[steps.b]\nrun = \"x\"\noutputs = [\"o\"]\n",
        &[],
        &["step `b`", "output `o` is also declared by step `a`"],
    );
}

#[test]
fn absolute_and_escaping_paths_are_rejected() {
    bad_graph(
        "[steps.a]\nrun = \"x\"\noutputs = [\"o\"]\ninputs = [\"/etc/passwd\"]\n",
        &[],
        &["step `a`", "is absolute"],
    );
    bad_graph(
        "[steps.a]\nrun = \"x\"\noutputs = [\"../o\"]\n",
        &[],
        &["step `a`", "escapes with `..`"],
    );
}

#[test]
fn a_glob_matching_nothing_is_rejected() {
    bad_graph(
        "[steps.a]\nrun = \"x\"\noutputs = [\"o\"]\ninputs = [\"src/*.c\"]\n",
        &[("src/a.h", "")],
        &["step `a`", "input `src/*.c` matches no file"],
    );
}

#[test]
fn an_unknown_key_is_rejected_with_its_line() {
    bad_graph(
        "[steps.a]\nrun = \"x\"\noutputs = [\"o\"]\ncommand = \"y\"\n",
        &[],
        &["step `a`", "unknown field `command`", "line 4"],
    );
}

#[test]
fn a_toml_syntax_error_gives_line_and_column() {
    bad_graph(
        "[steps.a]\nrun = \"x\noutputs = [\"o\"]\n",
        &[],
        &["line 2, column"],
    );
}

#[test]
fn a_missing_graph_file_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["build"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no such graph file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_graphs_use_the_same_schema() {
    let dir = project(
        "",
        &[(
            "g.json",
            r#"{"steps": {"s": {"run": "echo hi > o", "outputs": ["o"]}}}"#,
        )],
    );
    let out = run_in(dir.path(), &["build", "g.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn without_user_namespaces_the_build_stops_and_names_the_kernel_setting() {
    // A user namespace of our own, in which the per-namespace limit is set to 0: the
    // same kernel answer (ENOSPC on unshare) as a machine with them turned off.
    let dir = copy_corpus("hello-c");
    let out = std::process::Command::new("unshare")
        .args(["-Ur", "sh", "-c"])
        .arg("echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" build")
        .arg(env!("CARGO_BIN_EXE_reprobe"))
        .env_remove("REPROBE_STORE")
        .current_dir(dir.path())
        .output()
        .expect("unshare runs");
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{}{err}", stdout(&out));
    assert!(err.contains("user.max_user_namespaces"), "{err}");
    assert!(err.contains("sysctl"), "says how to change it: {err}");
    assert!(!dir.path().join("hello").exists() && !stdout(&out).contains("ran"));
}

#[test]
fn a_step_sees_only_the_declared_environment_not_the_callers() {
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\nDECLARED = \"yes\"\n\
         [steps.env]\nrun = \"env | sort > env.txt\"\noutputs = [\"env.txt\"]\n",
        &[],
    );
    let out = reprobe()
        .args(["build", "--out", "out"])
        .current_dir(dir.path())
        .env("CALLER_SECRET", "leaked")
        .env("LD_PRELOAD", "/nonexistent.so")
        .output()
        .expect("reprobe runs");
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let env = fs::read_to_string(dir.path().join("out/env.txt")).unwrap();
    let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    assert!(
        names.contains(&"DECLARED") && names.contains(&"PATH"),
        "{env}"
    );
    assert!(
        !env.contains("CALLER_SECRET") && !env.contains("LD_PRELOAD"),
        "{env}"
    );
    // What reprobe itself sets, as docs/sandbox.md lists it; nothing else.
    let allowed = [
        "DECLARED",
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "TZ",
        "TMPDIR",
        "PWD",
        "SHLVL",
        "_",
        "SOURCE_DATE_EPOCH",
    ];
    for name in &names {
        assert!(
            allowed.contains(name),
            "unexpected variable {name} in: {env}"
        );
    }
}
