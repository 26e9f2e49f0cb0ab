//! `reprobe check` end to end: real builds of the corpus, twice, in varied sandboxes.
//! Each test asserts the verdict of every step and the main reason with its evidence.

mod common;

use common::*;
use serde_json::Value;

fn check_json(name: &str, extra: &[&str]) -> (i32, Value) {
    let dir = copy_corpus(name);
    let mut args = vec!["check", "--json"];
    args.extend_from_slice(extra);
    let out = run_in(dir.path(), &args);
    let code = code(&out);
    assert!(code == 0 || code == 1, "exit {code}: {}", stderr(&out));
    (code, json(&out))
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {report:#}"))
}

fn verdict(report: &Value, name: &str) -> String {
    step(report, name)["verdict"]
        .as_str()
        .expect("verdict")
        .to_string()
}

fn reason_kinds(report: &Value, name: &str) -> Vec<String> {
    step(report, name)["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["kind"].as_str().expect("kind").to_string())
        .collect()
}

fn reason_of<'a>(report: &'a Value, name: &str, kind: &str) -> &'a Value {
    step(report, name)["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .find(|r| r["kind"] == kind)
        .unwrap_or_else(|| panic!("{name}: no `{kind}` reason in {:#}", step(report, name)))
}

#[test]
fn hello_c_is_reproducible_and_exits_zero() {
    let (code, report) = check_json("hello-c", &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["schema"], "reprobe/report/1");
    assert_eq!(report["command"], "check");
    assert_eq!(report["verdict"], "reproducible");
    for s in ["compile", "link"] {
        assert_eq!(verdict(&report, s), "reproducible");
        assert_eq!(
            step(&report, s)["content_hashes"].as_array().unwrap().len(),
            1
        );
    }
}

#[test]
fn multi_step_diamond_is_reproducible() {
    let (code, report) = check_json("multi-step", &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["steps"].as_array().unwrap().len(), 7);
}

#[test]
fn date_macro_is_a_timestamp_and_source_date_epoch_fixes_it() {
    let (code, report) = check_json("c-timestamps", &[]);
    assert_eq!(code, 1);
    assert_eq!(verdict(&report, "stamped"), "nondeterministic");
    let reason = reason_of(&report, "stamped", "timestamp");
    assert_eq!(reason["variation"], "clock");
    assert!(reason["remedy"]
        .as_str()
        .unwrap()
        .contains("SOURCE_DATE_EPOCH"));
    assert_eq!(verdict(&report, "fixed"), "reproducible");
}

#[test]
fn debug_info_holds_the_build_path_and_prefix_map_fixes_it() {
    let (code, report) = check_json("c-debug-path", &[]);
    assert_eq!(code, 1);
    assert_eq!(verdict(&report, "debug"), "nondeterministic");
    let reason = reason_of(&report, "debug", "build_path");
    assert_eq!(reason["a"], "/build/debug");
    assert_eq!(reason["b"], "/reprobe/build-variant-two/debug");
    assert!(reason["remedy"]
        .as_str()
        .unwrap()
        .contains("-ffile-prefix-map"));
    assert_eq!(verdict(&report, "mapped"), "reproducible");
}

#[test]
fn naive_archives_are_nondeterministic_and_their_fixed_versions_are_not() {
    let (code, report) = check_json("archives", &[]);
    assert_eq!(code, 1);
    for fixed in ["tar-fixed", "gzip-fixed", "ar-fixed", "zip-fixed"] {
        assert_eq!(
            verdict(&report, fixed),
            "reproducible",
            "{fixed}: {:#}",
            step(&report, fixed)
        );
    }
    for naive in [
        "tar-naive",
        "gzip-naive",
        "ar-naive",
        "zip-naive",
        "umask-mode",
    ] {
        assert_eq!(verdict(&report, naive), "nondeterministic", "{naive}");
    }
    assert!(
        reason_kinds(&report, "tar-naive").contains(&"ordering".to_string()),
        "{:#}",
        step(&report, "tar-naive")
    );
    assert!(reason_kinds(&report, "gzip-naive")
        .iter()
        .any(|k| k == "archive-metadata" || k == "timestamp"));
    assert!(reason_kinds(&report, "ar-naive").contains(&"archive-metadata".to_string()));
    assert!(reason_kinds(&report, "zip-naive").contains(&"archive-metadata".to_string()));
    let remedies = step(&report, "gzip-naive")["reasons"].to_string();
    assert!(remedies.contains("gzip -n"), "{remedies}");
    let umask = step(&report, "umask-mode");
    assert_eq!(
        umask["varies_with"],
        serde_json::json!(["umask"]),
        "{umask:#}"
    );
}

#[test]
fn python_facts_are_each_attributed_to_their_variation() {
    let (code, report) = check_json("python-env", &[]);
    assert_eq!(code, 1);
    let expected = [
        ("hostname", "hostname"),
        ("whoami", "user"),
        ("cwd", "build_path"),
        ("timezone", "timezone"),
        ("locale", "locale"),
        ("cpus", "cpus"),
    ];
    for (name, kind) in expected {
        assert_eq!(verdict(&report, name), "nondeterministic", "{name}");
        assert!(
            reason_kinds(&report, name).contains(&kind.to_string()),
            "{name}: {:#}",
            step(&report, name)
        );
    }
    for inherent in ["hash-seed", "uuid"] {
        let s = step(&report, inherent);
        assert_eq!(s["verdict"], "nondeterministic", "{inherent}");
        assert_eq!(s["inherent"], true, "{inherent}: {s:#}");
        assert_eq!(s["varies_with"], serde_json::json!([]));
    }
    assert_eq!(verdict(&report, "sorted-set"), "reproducible");
    assert_eq!(verdict(&report, "pinned"), "reproducible");
}

#[test]
fn a_nondeterministic_step_is_the_root_cause_and_its_dependents_are_cascades() {
    let (code, report) = check_json("cascade", &[]);
    assert_eq!(code, 1);
    assert_eq!(verdict(&report, "stamp"), "nondeterministic");
    assert_eq!(
        reason_of(&report, "stamp", "timestamp")["variation"],
        "clock"
    );
    for s in ["upper", "lower", "joined"] {
        assert_eq!(verdict(&report, s), "cascade", "{s}");
        assert_eq!(step(&report, s)["cascade_of"], serde_json::json!(["stamp"]));
    }
    assert_eq!(verdict(&report, "length"), "reproducible");
}

#[test]
fn terminal_output_names_root_causes_first_and_gives_the_fix() {
    let dir = copy_corpus("cascade");
    let out = run_in(dir.path(), &["check"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("root causes: stamp"), "{text}");
    assert!(text.contains("3 cascade(s)"), "{text}");
    assert!(text.contains("fix: "), "{text}");
}

#[test]
fn no_vary_is_reported_and_keeps_the_other_variations() {
    let (_, report) = check_json("c-debug-path", &["--no-vary", "build_path"]);
    assert_eq!(verdict(&report, "debug"), "reproducible");
    assert_eq!(report["not_varied"], serde_json::json!(["build_path"]));
    assert_eq!(report["variations"].as_array().unwrap().len(), 9);
}

#[test]
fn junit_markdown_and_html_reports_are_written() {
    let dir = copy_corpus("cascade");
    let out_dir = tempfile::tempdir().unwrap();
    let p = |n: &str| out_dir.path().join(n).to_string_lossy().into_owned();
    let out = run_in(
        dir.path(),
        &[
            "check",
            "-q",
            "--junit",
            &p("j.xml"),
            "--markdown",
            &p("r.md"),
            "--html",
            &p("r.html"),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let junit = std::fs::read_to_string(out_dir.path().join("j.xml")).unwrap();
    assert!(
        junit.contains("<testsuite name=\"reprobe check\" tests=\"5\" failures=\"4\""),
        "{junit}"
    );
    assert!(
        junit.contains("<failure message=\"nondeterministic"),
        "{junit}"
    );
    let md = std::fs::read_to_string(out_dir.path().join("r.md")).unwrap();
    assert!(md.contains("| `stamp` | nondeterministic |"), "{md}");
    let html = std::fs::read_to_string(out_dir.path().join("r.html")).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("stamp.txt"),
        "{html}"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
}

/// Undoes the HTML escaping of an attribute value (the embedded diff page).
fn unescape_attribute(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn html_report_has_the_step_graph_and_side_by_side_evidence() {
    let dir = copy_corpus("cascade");
    let out_dir = tempfile::tempdir().unwrap();
    let html_path = out_dir.path().join("r.html");
    let json_out = run_in(
        dir.path(),
        &["check", "--json", "--html", html_path.to_str().unwrap()],
    );
    assert_eq!(code(&json_out), 1, "{}", stderr(&json_out));
    let report = json(&json_out);
    let html = std::fs::read_to_string(&html_path).unwrap();
    // The graph: every edge of the diamond, and every step coloured by its verdict.
    let graph =
        &html[html.find("<svg").expect("an inline SVG graph")..html.find("</svg>").unwrap()];
    for (from, to) in [
        ("stamp", "upper"),
        ("stamp", "lower"),
        ("stamp", "length"),
        ("upper", "joined"),
        ("lower", "joined"),
    ] {
        assert!(
            graph.contains(&format!("data-from=\"{from}\" data-to=\"{to}\"")),
            "edge {from} -> {to} missing: {graph}"
        );
    }
    assert_eq!(graph.matches("class=\"edge\"").count(), 5, "{graph}");
    for (name, verdict) in [
        ("stamp", "nondeterministic"),
        ("upper", "cascade"),
        ("length", "reproducible"),
    ] {
        assert!(
            graph.contains(&format!("class=\"node v-{verdict}\" data-step=\"{name}\"")),
            "{name}: {graph}"
        );
    }
    // The evidence of stamp: its text, both builds side by side, in the diff report's
    // own page embedded in the report.
    let start = html.find("srcdoc=\"").expect("embedded evidence") + "srcdoc=\"".len();
    let end = start + html[start..].find('"').unwrap();
    let page = unescape_attribute(&html[start..end]);
    assert!(page.contains("<table class=\"sbs\">"), "{page}");
    let reason = reason_of(&report, "stamp", "timestamp");
    for (side, value) in [("del", &reason["a"]), ("add", &reason["b"])] {
        let cell = format!("<td class=\"{side}\">{}</td>", value.as_str().unwrap());
        assert!(page.contains(&cell), "{cell} not in {page}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains(" src="),
        "self-contained"
    );
}

#[test]
fn a_step_failing_in_one_build_only_is_a_finding() {
    let dir = project(
        "[steps.flaky]\nrun = \"test \\\"$(hostname)\\\" = reprobe && echo ok > o\"\noutputs = [\"o\"]\n",
        &[],
    );
    let out = run_in(dir.path(), &["check", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(verdict(&report, "flaky"), "failed");
    assert!(step(&report, "flaky")["error"]
        .as_str()
        .unwrap()
        .contains("failed only in build 2"));
}

#[test]
fn a_bad_variation_name_is_bad_input() {
    let dir = copy_corpus("hello-c");
    let out = run_in(dir.path(), &["check", "--vary", "moon_phase"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("unknown variation `moon_phase`"),
        "{}",
        stderr(&out)
    );
}

/// A step that fails only under build 2's host name, one that depends on it, and an
/// independent step that prints the date.
const FLAKY_AND_DATE: &str = r#"
[env]
PATH = "/usr/bin:/bin"

[steps.flaky]
run = "test \"$(hostname)\" = reprobe && echo ok > f"
outputs = ["f"]

[steps.after]
run = "tr a-z A-Z < f > g"
deps = ["flaky"]
outputs = ["g"]

[steps.date]
run = "date -u +%Y-%m-%d > d"
outputs = ["d"]
"#;

#[test]
fn a_step_failing_only_in_build_2_does_not_switch_off_the_clock_of_the_others() {
    if reprobe::variation::libfaketime().is_none() {
        eprintln!("libfaketime is not installed (scripts/test.sh installs it); skipping");
        return;
    }
    let dir = project(FLAKY_AND_DATE, &[]);
    let out = run_in(dir.path(), &["check", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    // flaky fails without libfaketime too: the host name broke it, not libfaketime.
    assert_eq!(verdict(&report, "flaky"), "failed");
    let notes = report["notes"].to_string();
    assert!(!notes.contains("libfaketime: step"), "{notes}");
    // date kept the pushed clock: its day differs, five years ahead.
    assert_eq!(verdict(&report, "date"), "nondeterministic", "{report:#}");
    let reason = reason_of(&report, "date", "timestamp");
    assert_eq!(reason["path"], "d");
    assert_eq!(reason["variation"], "clock");
    let day = |v: &Value| chrono::NaiveDate::parse_from_str(v.as_str().unwrap(), "%Y-%m-%d");
    let (a, b) = (day(&reason["a"]).unwrap(), day(&reason["b"]).unwrap());
    // 5 years, 63 days and 7 hours ahead: the day after that when the hours roll over.
    let days = (b - a).num_days();
    let offset = reprobe::variation::CLOCK_OFFSET_SECS / 86400;
    assert!(days == offset || days == offset + 1, "{a} -> {b}");
}

#[test]
fn a_dependent_of_a_step_failing_in_one_build_is_a_cascade_of_it() {
    let dir = project(FLAKY_AND_DATE, &[]);
    let out = run_in(dir.path(), &["check", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(verdict(&report, "flaky"), "failed");
    let flaky = step(&report, "flaky");
    assert!(
        flaky["error"]
            .as_str()
            .unwrap()
            .starts_with("failed only in build 2 of 2"),
        "{flaky:#}"
    );
    let after = step(&report, "after");
    assert_eq!(after["verdict"], "cascade", "{after:#}");
    assert_eq!(after["cascade_of"], serde_json::json!(["flaky"]));
    assert!(after.get("error").is_none(), "{after:#}");
    // The terminal summary names the step that failed, not its dependent.
    let text = stdout(&run_in(dir.path(), &["check", "--no-bisect"]));
    let summary = text
        .lines()
        .find(|l| l.contains("steps are not reproducible"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(summary.contains("failed: flaky;"), "{summary}");
    assert!(!summary.contains("after"), "{summary}");
    assert!(summary.contains("1 cascade(s)"), "{summary}");
}

#[test]
fn a_step_that_breaks_under_libfaketime_is_rebuilt_without_it_and_the_report_says_so() {
    if reprobe::variation::libfaketime().is_none() {
        eprintln!("libfaketime is not installed (scripts/test.sh installs it); skipping");
        return;
    }
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.fragile]\nrun = 'case \"$LD_PRELOAD\" in *faketime*) exit 9;; esac; echo ok > o'\noutputs = [\"o\"]\n[steps.next]\nrun = 'date -u +%Y > y; cat o >> y'\ndeps = [\"fragile\"]\noutputs = [\"y\"]\n[steps.date]\nrun = 'date -u +%Y > d'\noutputs = [\"d\"]\n",
        &[],
    );
    let out = run_in(dir.path(), &["check", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(verdict(&report, "fragile"), "reproducible");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("step(s) fragile failed or stalled under libfaketime"),
        "{notes}"
    );
    // Only fragile lost libfaketime: its dependent and the independent step kept it.
    for name in ["next", "date"] {
        assert_eq!(verdict(&report, name), "nondeterministic", "{name}");
        let reason = reason_of(&report, name, "timestamp");
        assert_eq!(reason["variation"], "clock", "{name}");
    }
}

#[test]
fn keep_holds_every_builds_outputs() {
    let dir = copy_corpus("cascade");
    let keep = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "check",
            "-q",
            "--no-bisect",
            "--keep",
            keep.path().to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let a = std::fs::read_to_string(keep.path().join("build-1/stamp/stamp.txt")).unwrap();
    let b = std::fs::read_to_string(keep.path().join("build-2/stamp/stamp.txt")).unwrap();
    assert_ne!(a, b);
    assert!(keep.path().join("build-2/joined/joined.txt").is_file());
}

#[test]
fn a_step_failing_in_every_build_exits_3_and_the_json_report_is_still_written() {
    let dir = project(
        "[steps.ok]\nrun = \"echo fine > a\"\noutputs = [\"a\"]\n[steps.broken]\nrun = \"echo 'cc: fatal error' >&2; exit 1\"\noutputs = [\"b\"]\n",
        &[],
    );
    let out = run_in(dir.path(), &["check", "--json"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(verdict(&report, "broken"), "failed");
    assert!(step(&report, "broken")["stderr_tail"]
        .as_str()
        .unwrap()
        .contains("cc: fatal error"));
    assert_eq!(verdict(&report, "ok"), "reproducible");
}
