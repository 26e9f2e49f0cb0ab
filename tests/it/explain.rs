//! `reprobe explain` end to end: real builds of `corpus/explain`, the scripted edits of
//! `corpus/explain/edits.toml`, and what explain says about each.

use crate::common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A private copy of `corpus/explain` whose `stamp-tool` lives in a directory on the
/// graph's PATH outside /tmp (the sandbox hides /tmp).
struct Project {
    dir: tempfile::TempDir,
    tools: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = copy_corpus("explain");
        let tools = tempfile::tempdir_in(sandbox_visible_tmp()).expect("tools dir");
        let graph = dir.path().join("reprobe.toml");
        let text = fs::read_to_string(&graph).expect("graph");
        let text = text.replace("@TOOLS@", &tools.path().display().to_string());
        fs::write(&graph, text).expect("write graph");
        let project = Project { dir, tools };
        let tool = fs::read_to_string(corpus("explain").join("tools/stamp-tool")).expect("tool");
        project.write_tool(&tool);
        project
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write_tool(&self, text: &str) {
        let path = self.tools.path().join("stamp-tool");
        fs::write(&path, text).expect("write tool");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn build(&self) {
        let out = run_in(self.path(), &["build"]);
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    }

    fn apply(&self, edit: &toml::Value) {
        if let Some(a) = edit.get("append") {
            let path = self.path().join(str_of(a, "path"));
            let mut text = fs::read_to_string(&path).expect("read");
            text.push_str(str_of(a, "text"));
            fs::write(&path, text).expect("write");
        }
        if let Some(r) = edit.get("replace") {
            let path = self.path().join(str_of(r, "path"));
            let text = fs::read_to_string(&path).expect("read");
            assert_eq!(text.matches(str_of(r, "from")).count(), 1, "{r:?}");
            fs::write(&path, text.replace(str_of(r, "from"), str_of(r, "to"))).expect("write");
        }
        if let Some(r) = edit.get("rename") {
            let root = self.path();
            fs::rename(root.join(str_of(r, "from")), root.join(str_of(r, "to"))).expect("rename");
        }
        if let Some(tool) = edit.get("tool").and_then(|t| t.as_str()) {
            self.write_tool(tool);
        }
    }
}

fn str_of<'v>(v: &'v toml::Value, key: &str) -> &'v str {
    v.get(key)
        .and_then(|s| s.as_str())
        .unwrap_or_else(|| panic!("{key} in {v:?}"))
}

fn strings(v: &toml::Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(|a| a.as_array())
        .unwrap_or_else(|| panic!("{key} in {v:?}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn names(report: &serde_json::Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}"))
        .iter()
        .map(|i| i["step"].as_str().expect("step").to_string())
        .collect()
}

fn own_change_kinds(report: &serde_json::Value) -> Vec<String> {
    report["root_causes"]
        .as_array()
        .expect("root causes")
        .iter()
        .flat_map(|r| r["changes"].as_array().expect("changes").clone())
        .map(|c| c["kind"].as_str().expect("kind").to_string())
        .filter(|k| k != "dep_content")
        .collect()
}

fn explain_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["explain", "--json"];
    args.extend_from_slice(extra);
    let out = run_in(dir, &args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    json(&out)
}

fn check_edit(project: &Project, edit: &toml::Value) {
    let name = str_of(edit, "name");
    let report = explain_json(project.path(), &[]);
    assert_eq!(
        report["summary"][0],
        str_of(edit, "summary"),
        "{name}: {report:#}"
    );
    assert_eq!(
        names(&report, "root_causes"),
        strings(edit, "root_causes"),
        "{name}"
    );
    assert_eq!(
        names(&report, "cascades"),
        strings(edit, "cascades"),
        "{name}"
    );
    assert_eq!(
        names(&report, "early_cutoff"),
        strings(edit, "early_cutoff"),
        "{name}"
    );
    assert_eq!(
        own_change_kinds(&report),
        strings(edit, "changes"),
        "{name}"
    );
    let text = stdout(&run_in(project.path(), &["explain"]));
    for expected in strings(edit, "output") {
        assert!(
            text.contains(&expected),
            "{name}: no {expected:?} in\n{text}"
        );
    }
}

#[test]
fn every_scripted_edit_of_the_corpus_is_explained_as_expected() {
    let project = Project::new();
    project.build();
    let edits: toml::Value =
        toml::from_str(&fs::read_to_string(corpus("explain").join("edits.toml")).expect("edits"))
            .expect("edits.toml parses");
    for edit in edits["edit"].as_array().expect("[[edit]]") {
        project.apply(edit);
        project.build();
        check_edit(&project, edit);
    }
}

#[test]
fn with_one_build_explain_says_what_to_do_and_exits_2() {
    let project = Project::new();
    let none = run_in(project.path(), &["explain"]);
    assert_eq!(code(&none), 2);
    assert!(
        stderr(&none).contains("no store beside"),
        "{}",
        stderr(&none)
    );
    project.build();
    let one = run_in(project.path(), &["explain"]);
    assert_eq!(code(&one), 2);
    let err = stderr(&one);
    assert!(
        err.contains("1 build(s)") && err.contains("reprobe build"),
        "{err}"
    );
}

#[test]
fn a_missing_manifest_is_bad_input() {
    let project = Project::new();
    let out = run_in(project.path(), &["explain", "nope.json", "other.json"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("`nope.json`"), "{}", stderr(&out));
}

#[test]
fn rebuilding_without_changes_explains_nothing() {
    let project = Project::new();
    project.build();
    project.build();
    let report = explain_json(project.path(), &[]);
    assert!(report["summary"][0]
        .as_str()
        .expect("summary")
        .starts_with("nothing to explain: all 5 steps"));
    assert!(report["root_causes"].as_array().expect("roots").is_empty());
}

#[test]
fn builds_are_named_by_id_or_file_and_reports_are_written() {
    let project = Project::new();
    project.build();
    project.apply(
        &toml::from_str("append = { path = \"src/main.c\", text = \"int x;\\n\" }").expect("edit"),
    );
    project.build();
    let builds = project.path().join(".reprobe/builds");
    let mut ids: Vec<String> = fs::read_dir(&builds)
        .expect("builds")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .to_string_lossy()
                .replace(".json", "")
        })
        .collect();
    ids.sort();
    let by_id = explain_json(project.path(), &[&ids[0], &ids[1]]);
    let old_file = builds.join(format!("{}.json", ids[0]));
    let new_file = builds.join(format!("{}.json", ids[1]));
    let by_file = explain_json(
        project.path(),
        &[
            old_file.to_str().expect("utf-8"),
            new_file.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(by_id["root_causes"], by_file["root_causes"]);
    assert_eq!(names(&by_id, "root_causes"), ["compile_main"]);
    let html = project.path().join("explain.html");
    let md = project.path().join("explain.md");
    let out = run_in(
        project.path(),
        &[
            "explain",
            "--html",
            "explain.html",
            "--markdown",
            "explain.md",
        ],
    );
    assert_eq!(code(&out), 0);
    let page = fs::read_to_string(html).expect("html");
    assert!(
        page.contains("<h2>compile_main") && page.contains("class=\"add\""),
        "{page}"
    );
    let text = fs::read_to_string(md).expect("markdown");
    assert!(
        text.contains("```diff") && text.contains("| caching model"),
        "{text}"
    );
}

#[test]
fn step_shows_the_full_input_tree_even_when_equal() {
    let project = Project::new();
    project.build();
    project.build();
    let report = explain_json(project.path(), &["--step", "banner"]);
    let lines = report["step"]["lines"].as_array().expect("lines");
    let sections: Vec<&str> = lines
        .iter()
        .map(|l| l["section"].as_str().expect("section"))
        .collect();
    assert_eq!(sections, ["command", "env", "env", "file", "tool"]);
    assert!(lines.iter().all(|l| l["same"] == true));
    let text = stdout(&run_in(project.path(), &["explain", "--step", "banner"]));
    assert!(
        text.contains("= file data/motd.txt") && text.contains("not covered by the key"),
        "{text}"
    );
    let unknown = run_in(project.path(), &["explain", "--step", "nope"]);
    assert_eq!(code(&unknown), 2);
}

#[test]
fn the_caching_model_table_names_reprobes_model() {
    let project = Project::new();
    project.build();
    project.apply(
        &toml::from_str("append = { path = \"src/util.c\", text = \"int y;\\n\" }").expect("edit"),
    );
    project.build();
    let report = explain_json(project.path(), &[]);
    let models = report["models"].as_array().expect("models");
    let rows: Vec<(&str, u64)> = models
        .iter()
        .map(|m| {
            (
                m["model"].as_str().expect("model"),
                m["steps"].as_u64().expect("steps"),
            )
        })
        .collect();
    // util.c feeds compile_util -> link -> package. The chain order puts compile_main
    // first, so the chain rebuilds from compile_util on.
    assert_eq!(rows[0], ("input_addressing", 3));
    assert_eq!(rows[2], ("content_addressing", 3));
    assert!(rows[1].1 >= 3);
    assert!(report["reprobe_model"]
        .as_str()
        .expect("text")
        .contains("content addressing with early cutoff"));
}

/// Runs reprobe in `dir` with `REPROBE_STORE` set to `store`.
fn run_with_store(dir: &Path, store: &Path, args: &[&str]) -> std::process::Output {
    let out = reprobe()
        .args(args)
        .current_dir(dir)
        .env("REPROBE_STORE", store)
        .output()
        .expect("reprobe runs");
    assert_eq!(code(&out), 0, "{args:?}: {}{}", stdout(&out), stderr(&out));
    out
}

#[test]
fn graphs_sharing_a_store_are_explained_each_from_its_own_builds() {
    let graph = |step: &str, input: &str| {
        format!(
            "[env]\nPATH = \"/usr/bin:/bin\"\n\n[steps.{step}]\nrun = \"cat {input} > out.txt\"\ninputs = [\"{input}\"]\noutputs = [\"out.txt\"]\nenv = {{ MODE = \"one\" }}\n"
        )
    };
    let a = project(&graph("alpha", "src/a.txt"), &[("src/a.txt", "a\n")]);
    let b = project(&graph("beta", "src/b.txt"), &[("src/b.txt", "b\n")]);
    let shared = tempfile::tempdir().expect("store dir");
    let store = shared.path().join("st");
    // A twice (an input edited), then B twice (an env var changed): the store's last two
    // builds are B's, and both graph files are named reprobe.toml.
    run_with_store(a.path(), &store, &["build"]);
    fs::write(a.path().join("src/a.txt"), "a, edited\n").expect("edit a");
    run_with_store(a.path(), &store, &["build"]);
    run_with_store(b.path(), &store, &["build"]);
    let b_graph = b.path().join("reprobe.toml");
    let text = fs::read_to_string(&b_graph).expect("graph b");
    fs::write(&b_graph, text.replace("\"one\"", "\"two\"")).expect("edit b");
    run_with_store(b.path(), &store, &["build"]);

    let explained = |dir: &Path, extra: &[&str]| {
        let mut args = vec!["explain", "--json"];
        args.extend_from_slice(extra);
        let report = json(&run_with_store(dir, &store, &args));
        (names(&report, "root_causes"), own_change_kinds(&report))
    };
    assert_eq!(
        explained(a.path(), &[]),
        (vec!["alpha".to_string()], vec!["file_modified".to_string()])
    );
    assert_eq!(
        explained(b.path(), &[]),
        (vec!["beta".to_string()], vec!["env_changed".to_string()])
    );
    // Naming the graph from elsewhere picks the same builds as running beside it.
    let a_dir = a.path().to_str().expect("utf-8");
    assert_eq!(explained(b.path(), &["--graph", a_dir]).0, ["alpha"]);
    let text = stdout(&run_with_store(a.path(), &store, &["explain"]));
    assert!(text.contains("alpha") && !text.contains("beta"), "{text}");
}

#[test]
fn step_tree_keys_are_sorted_even_when_added_in_the_new_build() {
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\n\n[steps.copy]\nrun = \"cat src/m.txt > out.txt\"\ninputs = [\"src/m.txt\"]\noutputs = [\"out.txt\"]\nenv = { FOO = \"1\", BAR = \"1\" }\n",
        &[("src/m.txt", "m\n")],
    );
    let build = |dir: &Path| {
        let out = run_in(dir, &["build"]);
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    };
    build(dir.path());
    let graph = dir.path().join("reprobe.toml");
    let text = fs::read_to_string(&graph).expect("graph");
    fs::write(
        &graph,
        text.replace("BAR = \"1\"", "BAR = \"1\", BAZ = \"2\"")
            .replace("[\"src/m.txt\"]", "[\"src/m.txt\", \"src/a.txt\"]"),
    )
    .expect("edit graph");
    fs::write(dir.path().join("src/a.txt"), "a\n").expect("new input");
    build(dir.path());
    let out = run_in(dir.path(), &["explain", "--step", "copy"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let tree = text.split("input tree of copy").nth(1).unwrap_or("");
    let keys: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.trim_start().get(2..))
        .filter(|l| l.starts_with("env ") || l.starts_with("file "))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(
        keys,
        [
            "env BAR",
            "env BAZ",
            "env FOO",
            "env PATH",
            "file src/a.txt",
            "file src/m.txt"
        ],
        "{text}"
    );
}

/// Runs `reprobe explain` in `dir` with stdout on a pseudo-terminal (and `NO_COLOR` set or
/// not), and returns what it printed there.
fn explain_on_a_terminal(dir: &Path, no_color: bool) -> String {
    use std::io::Read;
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    let mut cmd = reprobe();
    cmd.env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    cmd.arg("explain")
        .current_dir(dir)
        .stdout(std::process::Stdio::from(pty.slave));
    let mut child = cmd.spawn().expect("reprobe runs");
    // Our copy of the terminal's other end must close, so reading ends when the child's does.
    drop(cmd);
    let mut master = fs::File::from(pty.master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("reading the terminal: {e}"),
        }
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn explain_is_coloured_on_a_terminal_unless_no_color_is_set() {
    let project = Project::new();
    project.build();
    project.apply(
        &toml::from_str("append = { path = \"src/main.c\", text = \"int x;\\n\" }").expect("edit"),
    );
    project.build();
    let coloured = explain_on_a_terminal(project.path(), false);
    assert!(
        coloured.contains("\x1b[32m+int x;\x1b[0m") && coloured.contains("\x1b[1mcompile_main"),
        "{coloured:?}"
    );
    let plain = explain_on_a_terminal(project.path(), true);
    assert!(
        plain.contains("+int x;") && plain.contains("compile_main"),
        "{plain}"
    );
    assert!(!plain.contains('\x1b'), "{plain:?}");
    // Not a terminal (a pipe): plain too, even without NO_COLOR.
    let piped = reprobe()
        .env_remove("NO_COLOR")
        .arg("explain")
        .current_dir(project.path())
        .output()
        .expect("reprobe runs");
    assert!(!stdout(&piped).contains('\x1b'), "{}", stdout(&piped));
}
