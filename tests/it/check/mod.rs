//! `reprobe check` end to end: real builds of the corpus, twice, in varied sandboxes.
//! Each test asserts the verdict of every step and the main reason with its evidence.

mod attribution;
mod native_truth;
mod reports;

use crate::common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

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

/// Asserts the verdict of every step, and that the report has no other step.
fn assert_verdicts(report: &Value, expected: &[(&str, &str)]) {
    let found: BTreeMap<String, String> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["verdict"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: BTreeMap<String, String> = expected
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(found, expected, "{report:#}");
}

fn reason_of<'a>(report: &'a Value, name: &str, kind: &str) -> &'a Value {
    step(report, name)["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .find(|r| r["kind"] == kind)
        .unwrap_or_else(|| panic!("{name}: no `{kind}` reason in {:#}", step(report, name)))
}

/// The reason of `kind` whose context starts with `context`.
fn reason_at<'a>(report: &'a Value, name: &str, kind: &str, context: &str) -> &'a Value {
    step(report, name)["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .find(|r| r["kind"] == kind && r["context"].as_str().unwrap_or("").starts_with(context))
        .unwrap_or_else(|| {
            panic!(
                "{name}: no `{kind}` reason at `{context}` in {:#}",
                step(report, name)
            )
        })
}

/// Asserts a reason's file, its two values and the variation it is attributed to.
fn assert_evidence(reason: &Value, path: &str, a: &str, b: &str, variation: &str) {
    assert_eq!(reason["path"], path, "{reason:#}");
    assert_eq!(reason["a"], a, "{reason:#}");
    assert_eq!(reason["b"], b, "{reason:#}");
    assert_eq!(reason["variation"], variation, "{reason:#}");
}

/// What `time.strftime('%Z')` writes in zone `zone` now (the evidence is the file's
/// bytes: `+14` for Pacific/Kiritimati, not the zone's name).
fn zone_abbreviation(zone: &str) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import time; print(time.strftime('%Z'))"])
        .env("TZ", zone)
        .output()
        .expect("python3 runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}

/// The unix time in a value such as `2026-11-26T09:44:04Z (1795686244)`.
fn unix_in_parentheses(value: &Value) -> i64 {
    let t = text(value);
    let inner = &t[t.rfind('(').expect("(") + 1..t.rfind(')').expect(")")];
    inner
        .parse()
        .unwrap_or_else(|_| panic!("no unix time in {t}"))
}

/// Asserts that two times are the clock variation's offset apart (give or take the
/// minute the builds take).
fn assert_clock_offset(a: i64, b: i64) {
    let shift = b - a - reprobe::sandbox::clock::CLOCK_OFFSET_SECS;
    assert!(
        shift.abs() < 120,
        "{a} -> {b}: {shift} s off the clock offset"
    );
}

/// Whole days between two dates, which differ by the clock offset (5 years, 63 days,
/// 7 hours) and possibly a time zone: that many days, or one more.
fn assert_days_apart(a: chrono::NaiveDate, b: chrono::NaiveDate) {
    let days = (b - a).num_days();
    let offset = reprobe::sandbox::clock::CLOCK_OFFSET_SECS / 86400;
    assert!(days == offset || days == offset + 1, "{a} -> {b}");
}

#[test]
fn hello_c_is_reproducible_and_exits_zero() {
    let (code, report) = check_json("hello-c", &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["schema"], "reprobe/report/1");
    assert_eq!(report["command"], "check");
    assert_eq!(report["verdict"], "reproducible");
    assert_verdicts(
        &report,
        &[("compile", "reproducible"), ("link", "reproducible")],
    );
    for s in ["compile", "link"] {
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
    let names = [
        "words", "sorted", "counts", "report", "lib", "archive", "main",
    ];
    let expected: Vec<(&str, &str)> = names.iter().map(|n| (*n, "reproducible")).collect();
    assert_verdicts(&report, &expected);
    for name in names {
        let s = step(&report, name);
        assert!(s["reasons"].as_array().unwrap().is_empty(), "{s:#}");
        assert_eq!(s["content_hashes"].as_array().unwrap().len(), 1, "{s:#}");
    }
    assert_eq!(step(&report, "report")["deps"], json!(["counts", "sorted"]));
}

#[test]
fn date_macro_is_a_timestamp_and_source_date_epoch_fixes_it() {
    let (code, report) = check_json("c-timestamps", &[]);
    assert_eq!(code, 1);
    assert_verdicts(
        &report,
        &[("stamped", "nondeterministic"), ("fixed", "reproducible")],
    );
    let date = reason_at(&report, "stamped", "timestamp", "section .rodata");
    assert_eq!(date["path"], "stamp.o");
    assert_eq!(date["variation"], "clock");
    assert!(date["offset"].is_u64(), "{date:#}");
    // __DATE__ ("Nov 26 2026") in each build: the pushed clock's date in the far zone.
    let day = |v: &Value| {
        let words: Vec<&str> = text(v).split_whitespace().collect();
        chrono::NaiveDate::parse_from_str(&words.join(" "), "%b %d %Y")
            .unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    let dates: Vec<&Value> = step(&report, "stamped")["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| text(&r["a"]).len() == 11)
        .collect();
    assert_eq!(dates.len(), 1, "one __DATE__: {report:#}");
    assert_days_apart(day(&dates[0]["a"]), day(&dates[0]["b"]));
    assert!(text(&date["remedy"]).contains("SOURCE_DATE_EPOCH"));
}

#[test]
fn debug_info_holds_the_build_path_and_prefix_map_fixes_it() {
    let (code, report) = check_json("c-debug-path", &[]);
    assert_eq!(code, 1);
    assert_verdicts(
        &report,
        &[("debug", "nondeterministic"), ("mapped", "reproducible")],
    );
    let reason = reason_at(&report, "debug", "build_path", "section .debug_line_str");
    assert_evidence(
        reason,
        "lib.o",
        "/build/project",
        "/reprobe/build-variant-two/project",
        "build_path",
    );
    assert!(reason["offset"].is_u64(), "{reason:#}");
    assert!(text(&reason["remedy"]).contains("-ffile-prefix-map"));
}

#[test]
fn naive_archives_are_nondeterministic_and_their_fixed_versions_are_not() {
    let (code, report) = check_json("archives", &[]);
    assert_eq!(code, 1);
    assert_verdicts(
        &report,
        &[
            ("tar-naive", "nondeterministic"),
            ("tar-fixed", "reproducible"),
            ("gzip-naive", "nondeterministic"),
            ("gzip-fixed", "reproducible"),
            ("ar-naive", "nondeterministic"),
            ("ar-fixed", "reproducible"),
            ("zip-naive", "nondeterministic"),
            ("zip-fixed", "reproducible"),
            ("jar-naive", "nondeterministic"),
            ("umask-mode", "nondeterministic"),
        ],
    );
    // tar: members in creation order (sorted, then reversed), with the builder's names.
    let order = reason_at(&report, "tar-naive", "ordering", "member order");
    assert_eq!(order["path"], "naive.tar");
    assert_eq!(order["variation"], "fileorder");
    assert!(
        text(&order["a"]).starts_with("src/alpha.txt, src/beta.txt"),
        "{order:#}"
    );
    assert!(
        text(&order["b"]).starts_with("src/zeta.txt, src/theta.txt"),
        "{order:#}"
    );
    let uname = reason_at(&report, "tar-naive", "user", "uname of");
    assert_evidence(uname, "naive.tar", "builder", "otherbuilder", "user");
    // gzip: the header holds the input's mtime, which build 2 sets that far in the past
    // (inputs are never newer than what a step writes).
    let header = reason_at(&report, "gzip-naive", "archive-metadata", "header mtime");
    assert_eq!(header["path"], "alpha.txt.gz");
    assert_eq!(header["variation"], "clock");
    assert_clock_offset(
        unix_in_parentheses(&header["b"]),
        unix_in_parentheses(&header["a"]),
    );
    assert!(text(&header["remedy"]).contains("gzip -n"), "{header:#}");
    // ar U: each member's uid and gid.
    let uid = reason_at(&report, "ar-naive", "archive-metadata", "uid of alpha.txt");
    assert_evidence(uid, "naive.a", "1000", "2001", "user");
    assert_eq!(step(&report, "ar-naive")["varies_with"], json!(["user"]));
    // zip: owners in the extra fields, the directory's mode from the umask.
    let zip_uid = reason_at(&report, "zip-naive", "archive-metadata", "uid of z/");
    assert_evidence(zip_uid, "naive.zip", "1000", "2001", "user");
    let zip_mode = reason_at(&report, "zip-naive", "umask", "mode of z/");
    assert_evidence(zip_mode, "naive.zip", "755", "775", "umask");
    // jar: DOS times of the entries, META-INF/ written at the pushed clock.
    let jar = reason_at(&report, "jar-naive", "timestamp", "mtime of META-INF/");
    assert_eq!(jar["path"], "naive.jar");
    assert_eq!(jar["variation"], "clock");
    let dos_day = |v: &Value| {
        chrono::NaiveDate::parse_from_str(&text(v)[..10], "%Y-%m-%d")
            .unwrap_or_else(|e| panic!("{v}: {e}"))
    };
    assert_days_apart(dos_day(&jar["a"]), dos_day(&jar["b"]));
    // The mode of a file made under the umask.
    let mode = reason_at(&report, "umask-mode", "umask", "mode of f");
    assert_evidence(mode, "modes.tar", "644", "664", "umask");
    assert_eq!(step(&report, "umask-mode")["varies_with"], json!(["umask"]));
}

#[test]
fn python_facts_are_each_attributed_to_their_variation() {
    let (code, report) = check_json("python-env", &[]);
    assert_eq!(code, 1);
    assert_verdicts(
        &report,
        &[
            ("hostname", "nondeterministic"),
            ("whoami", "nondeterministic"),
            ("cwd", "nondeterministic"),
            ("timezone", "nondeterministic"),
            ("locale", "nondeterministic"),
            ("hash-seed", "nondeterministic"),
            ("cpus", "nondeterministic"),
            ("uuid", "nondeterministic"),
            ("sorted-set", "reproducible"),
            ("pinned", "reproducible"),
        ],
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected = [
        (
            "hostname",
            "hostname.txt",
            "reprobe",
            "other-builder-host".to_string(),
        ),
        ("whoami", "whoami.txt", "builder", "otherbuilder".into()),
        (
            "cwd",
            "cwd.txt",
            "/build/project",
            "/reprobe/build-variant-two/project".into(),
        ),
        (
            "timezone",
            "timezone.txt",
            "UTC",
            zone_abbreviation(&reprobe::engine::variation::far_timezone()),
        ),
        (
            "locale",
            "locale.txt",
            "C.UTF-8",
            reprobe::engine::variation::other_locale(),
        ),
    ];
    for (name, path, a, b) in expected {
        let kind = if name == "whoami" {
            "user"
        } else if name == "cwd" {
            "build_path"
        } else {
            name
        };
        let reason = reason_of(&report, name, kind);
        assert_evidence(reason, path, a, &b, kind);
        assert_eq!(reason["line"], 1, "{reason:#}");
    }
    // os.cpu_count(): all cores, then the one the cpus variation leaves.
    if cores > 1 {
        let reason = reason_of(&report, "cpus", "cpus");
        assert_evidence(reason, "cpus.txt", &cores.to_string(), "1", "cpus");
        assert_eq!(step(&report, "cpus")["varies_with"], json!(["cpus"]));
    }
    let order = reason_of(&report, "hash-seed", "ordering");
    assert_eq!(order["path"], "hash-seed.txt");
    assert_eq!(order["context"], "same 8 words in another order");
    let uuid = reason_of(&report, "uuid", "random");
    assert_eq!(uuid["path"], "uuid.txt");
    assert_ne!(uuid["a"], uuid["b"]);
    assert_eq!(text(&uuid["a"]).len(), 36, "{uuid:#}");
    for inherent in ["hash-seed", "uuid"] {
        let s = step(&report, inherent);
        assert_eq!(s["inherent"], true, "{inherent}: {s:#}");
        assert_eq!(s["varies_with"], json!([]));
    }
}

#[test]
fn a_nondeterministic_step_is_the_root_cause_and_its_dependents_are_cascades() {
    let (code, report) = check_json("cascade", &[]);
    assert_eq!(code, 1);
    assert_verdicts(
        &report,
        &[
            ("stamp", "nondeterministic"),
            ("upper", "cascade"),
            ("lower", "cascade"),
            ("joined", "cascade"),
            ("length", "reproducible"),
        ],
    );
    let reason = reason_of(&report, "stamp", "timestamp");
    assert_eq!(reason["path"], "stamp.txt");
    assert_eq!(reason["line"], 1);
    assert_eq!(reason["variation"], "clock");
    let time = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(text(v))
            .unwrap_or_else(|e| panic!("{v}: {e}"))
            .timestamp()
    };
    assert_clock_offset(time(&reason["a"]), time(&reason["b"]));
    for s in ["upper", "lower", "joined"] {
        assert_eq!(step(&report, s)["cascade_of"], json!(["stamp"]), "{s}");
        assert_eq!(
            step(&report, s)["content_hashes"].as_array().unwrap().len(),
            2
        );
    }
    // length re-ran on stamp's different output to the same length: early cutoff.
    assert_eq!(
        step(&report, "length")["content_hashes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn hermetic_example_reports_the_network_and_the_undeclared_header() {
    let dir = copy_corpus("hermetic");
    let out = run_in(dir.path(), &["check", "--json"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let report = json(&out);
    assert_verdicts(
        &report,
        &[
            ("compile", "failed"),
            ("peek", "undeclared"),
            ("probe", "network"),
            ("settings", "undeclared"),
        ],
    );
    assert_eq!(
        step(&report, "peek")["undeclared"],
        json!(["/etc/hostname"])
    );
    assert_eq!(
        step(&report, "settings")["undeclared"],
        json!(["local.conf"])
    );
    let compile = step(&report, "compile");
    assert!(
        text(&compile["error"]).starts_with("failed in every build"),
        "{compile:#}"
    );
    assert_eq!(compile["undeclared"], json!(["src/config.h"]));
    assert!(text(&compile["stderr_tail"]).contains("config.h: No such file"));
    let attempts = step(&report, "probe")["network"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        attempts
            .iter()
            .any(|a| a["dns_name"] == "example.org" && a["port"] == 53),
        "{attempts:#?}"
    );
    assert!(
        attempts
            .iter()
            .any(|a| a["address"] == "192.0.2.1" && a["port"] == 443),
        "{attempts:#?}"
    );
}

#[test]
fn terminal_output_names_root_causes_first_and_gives_the_fix() {
    let dir = copy_corpus("cascade");
    let out = run_in(dir.path(), &["check"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains("5 steps: 1 nondeterministic (root cause: stamp); 3 cascades (only inherit differences from upstream); 1 reproducible"),
        "{text}"
    );
    assert!(text.contains("fix: "), "{text}");
}

#[test]
fn no_vary_is_reported_and_keeps_the_other_variations() {
    let (_, report) = check_json("c-debug-path", &["--no-vary", "build_path"]);
    assert_eq!(verdict(&report, "debug"), "reproducible");
    assert_eq!(report["not_varied"], json!(["build_path"]));
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
    let dir = project(FLAKY_AND_DATE, &[]);
    let out = run_in(dir.path(), &["check", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    // flaky fails with the real clock too: the host name broke it, not the clock.
    assert_eq!(verdict(&report, "flaky"), "failed");
    let notes = report["notes"].to_string();
    assert!(!notes.contains("clock: step"), "{notes}");
    // date kept the pushed clock: its day differs, five years ahead.
    assert_eq!(verdict(&report, "date"), "nondeterministic", "{report:#}");
    let reason = reason_of(&report, "date", "timestamp");
    assert_eq!(reason["path"], "d");
    assert_eq!(reason["variation"], "clock");
    let day = |v: &Value| chrono::NaiveDate::parse_from_str(v.as_str().unwrap(), "%Y-%m-%d");
    let (a, b) = (day(&reason["a"]).unwrap(), day(&reason["b"]).unwrap());
    // 5 years, 63 days and 7 hours ahead: the day after that when the hours roll over.
    let days = (b - a).num_days();
    let offset = reprobe::sandbox::clock::CLOCK_OFFSET_SECS / 86400;
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
    assert_eq!(after["cascade_of"], json!(["flaky"]));
    assert!(after.get("error").is_none(), "{after:#}");
    // The terminal summary names the step that failed, not its dependent.
    let text = stdout(&run_in(dir.path(), &["check", "--no-bisect"]));
    let summary = text
        .lines()
        .find(|l| l.starts_with("3 steps: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        summary.contains("1 failed, so not judged: flaky"),
        "{summary}"
    );
    assert!(!summary.contains("after"), "{summary}");
    assert!(summary.contains("1 cascade (only inherit"), "{summary}");
}

#[test]
fn a_step_that_fails_with_the_pushed_clock_is_judged_with_the_real_one_and_not_passed() {
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.fragile]\nrun = '[ \"$(date -u +%Y)\" -lt 2031 ] || exit 9; echo ok > o'\noutputs = [\"o\"]\n[steps.next]\nrun = 'date -u +%Y > y; cat o >> y'\ndeps = [\"fragile\"]\noutputs = [\"y\"]\n[steps.date]\nrun = 'date -u +%Y > d'\noutputs = [\"d\"]\n",
        &[],
    );
    let out = run_in(dir.path(), &["check", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(verdict(&report, "fragile"), "reproducible");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("step(s) fragile failed in build 2 with the clock years ahead"),
        "{notes}"
    );
    // Its verdict says the clock did not reach it: reproducible, but not clean.
    let fragile = step(&report, "fragile");
    assert_eq!(
        fragile["not_applied"][0]["variation"], "clock",
        "{fragile:#}"
    );
    assert!(!fragile["variations"]
        .as_array()
        .unwrap()
        .contains(&json!("clock")));
    // Only fragile lost the pushed clock: its dependent and the independent step kept it.
    for name in ["next", "date"] {
        assert_eq!(verdict(&report, name), "nondeterministic", "{name}");
        let reason = reason_of(&report, name, "timestamp");
        assert_eq!(reason["variation"], "clock", "{name}");
        assert!(step(&report, name)["variations"]
            .as_array()
            .unwrap()
            .contains(&json!("clock")));
    }
}

/// A graph whose one step runs a statically linked program (built here with `cc
/// -static`) and then the dynamically linked `date`.
fn static_program_project() -> tempfile::TempDir {
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.s]\nrun = './stat && echo built > o'\ninputs = [\"stat\"]\noutputs = [\"o\"]\n",
        &[("s.c", "int main(void) { return 0; }\n")],
    );
    let built = std::process::Command::new("cc")
        .args(["-static", "-o", "stat", "s.c"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(built.success());
    dir
}

#[test]
fn a_static_program_is_reported_as_out_of_the_clocks_reach_and_fails_the_gate() {
    let dir = static_program_project();
    let out = run_in(dir.path(), &["check", "--json", "--no-bisect"]);
    let report = json(&out);
    assert_eq!(verdict(&report, "s"), "reproducible", "{report:#}");
    let gap = &step(&report, "s")["not_applied"][0];
    assert_eq!(gap["variation"], "clock", "{report:#}");
    assert!(gap["why"].as_str().unwrap().contains("/stat"), "{gap}");
    assert_eq!(code(&out), 1, "a variation that did not apply is a finding");
    let text = stdout(&run_in(dir.path(), &["check", "--no-bisect"]));
    assert!(text.contains("not applied: clock"), "{text}");
    assert!(text.contains("not tested against clock: s"), "{text}");
    // Turned off by the user: no gap, a clean pass.
    let out = run_in(dir.path(), &["check", "--json", "--no-vary", "clock"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(step(&json(&out), "s").get("not_applied").is_none());
}

#[test]
fn asking_for_no_variation_is_an_error() {
    let dir = copy_corpus("hello-c");
    for args in [
        vec!["check", "--vary", ""],
        vec![
            "check",
            "--no-vary",
            "build_path,clock,hostname,user,umask,locale,timezone,fileorder,cpus,env",
        ],
    ] {
        let out = run_in(dir.path(), &args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains("--rounds N"), "{}", stderr(&out));
    }
}

#[test]
fn the_clock_is_pushed_by_reprobes_own_shim_in_every_dynamically_linked_program() {
    // No libfaketime is involved: the shim travels inside the reprobe binary.
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.t]\nrun = 'date -u +%Y > t; python3 -c \"import time; print(time.gmtime().tm_year)\" >> t; echo \"$LD_PRELOAD\" >> t'\noutputs = [\"t\"]\n",
        &[],
    );
    let keep = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &[
            "check",
            "--json",
            "--no-bisect",
            "--keep",
            keep.path().to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let read = |build: &str| std::fs::read_to_string(keep.path().join(build).join("t/t")).unwrap();
    let (one, two) = (read("build-1"), read("build-2"));
    let years = |text: &str| -> Vec<i32> {
        text.lines()
            .take(2)
            .map(|l| l.trim().parse().unwrap())
            .collect()
    };
    let (a, b) = (years(&one), years(&two));
    assert_eq!(a[0], a[1], "{one}");
    assert_eq!(b[0], b[1], "{two}");
    assert!(b[0] >= a[0] + 5, "{one} -> {two}");
    // The environment is the same in both builds: only the clock differs.
    assert_eq!(one.lines().nth(2), two.lines().nth(2));
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

/// A step printing five machine facts into one file, and a reproducible one.
const FACTS: &str = r#"
[env]
PATH = "/usr/bin:/bin"

[steps.facts]
run = "hostname > f; id -un >> f; pwd >> f; date +%Z >> f; echo $LANG >> f"
outputs = ["f"]

[steps.stable]
run = "echo same > s"
outputs = ["s"]
"#;

#[test]
fn rounds_builds_that_many_times_each_after_the_first_varied() {
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.noise]\nrun = \"od -An -N8 -tx8 /dev/urandom > n\"\noutputs = [\"n\"]\n[steps.stable]\nrun = \"echo same > s\"\noutputs = [\"s\"]\n",
        &[],
    );
    for rounds in [2usize, 3] {
        let n = rounds.to_string();
        let out = run_in(
            dir.path(),
            &["check", "--json", "--no-bisect", "--rounds", &n],
        );
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let report = json(&out);
        let builds = report["builds"].as_array().unwrap();
        assert_eq!(builds.len(), rounds, "{report:#}");
        let numbers: Vec<u64> = builds
            .iter()
            .map(|b| b["round"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (1..=rounds as u64).collect::<Vec<_>>());
        assert_eq!(
            builds[0]["profile"]["hostname"],
            "reprobe (reprobe.invalid)"
        );
        for varied in &builds[1..] {
            assert_eq!(varied["profile"], builds[1]["profile"], "{report:#}");
            assert_eq!(
                varied["profile"]["hostname"],
                "other-builder-host (variant.example)"
            );
        }
        assert_verdicts(
            &report,
            &[("noise", "nondeterministic"), ("stable", "reproducible")],
        );
    }
    let out = run_in(dir.path(), &["check", "--rounds", "3", "--no-bisect"]);
    assert!(stderr(&out).contains("with 3 builds"), "{}", stderr(&out));
    let out = run_in(dir.path(), &["check", "--rounds", "1"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn vary_applies_only_the_named_variation() {
    let dir = project(FACTS, &[]);
    let out = run_in(dir.path(), &["check", "--json", "--vary", "hostname"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["variations"], json!(["hostname"]));
    assert_eq!(report["not_varied"].as_array().unwrap().len(), 9);
    assert_verdicts(
        &report,
        &[("facts", "nondeterministic"), ("stable", "reproducible")],
    );
    let reasons = step(&report, "facts")["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "only the host name differs: {reasons:#?}");
    assert_evidence(
        &reasons[0],
        "f",
        "reprobe",
        "other-builder-host",
        "hostname",
    );
    assert_eq!(reasons[0]["line"], 1);
}

#[test]
fn verbose_output_shows_every_finding_of_a_file() {
    let dir = project(FACTS, &[]);
    let lines = [
        "hostname f line 1: \"reprobe\" -> \"other-builder-host\"",
        "user f line 2: \"builder\" -> \"otherbuilder\"",
        "build_path f line 3: \"/build/project\" -> \"/reprobe/build-variant-two/project\"",
        "timezone f line 4: \"UTC\"",
        "locale f line 5: \"C.UTF-8\"",
    ];
    let short = stdout(&run_in(dir.path(), &["check", "--no-vary", "clock"]));
    let shown = lines.iter().filter(|l| short.contains(*l)).count();
    assert_eq!(shown, 3, "the first three by default: {short}");
    assert!(short.contains("... 2 more (-v shows all"), "{short}");
    let all = stdout(&run_in(dir.path(), &["check", "-v", "--no-vary", "clock"]));
    for line in lines {
        assert!(all.contains(line), "{line} missing: {all}");
    }
    assert!(!all.contains("more (-v shows all"), "{all}");
}

#[test]
fn a_hanging_step_is_killed_at_its_timeout_in_both_builds() {
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.hang]\nrun = \"sleep 600\"\noutputs = [\"never\"]\ntimeout = \"2s\"\n[steps.after]\nrun = \"cp never again\"\ndeps = [\"hang\"]\noutputs = [\"again\"]\n[steps.fine]\nrun = \"echo ok > ok\"\noutputs = [\"ok\"]\n",
        &[],
    );
    let started = std::time::Instant::now();
    let out = run_in(dir.path(), &["check", "--json"]);
    let took = started.elapsed();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(took.as_secs() < 60, "took {took:?}: not killed at 2 s");
    let report = json(&out);
    assert_verdicts(
        &report,
        &[
            ("hang", "failed"),
            ("after", "failed"),
            ("fine", "reproducible"),
        ],
    );
    let hang = step(&report, "hang");
    assert_eq!(
        hang["error"],
        "failed in every build: timed out after 2s; raise `timeout` in the graph if it needs longer",
        "{hang:#}"
    );
    let after = step(&report, "after");
    assert_eq!(after["cascade_of"], json!(["hang"]), "{after:#}");
    assert!(
        text(&after["error"]).starts_with("not run in any build"),
        "{after:#}"
    );
    assert_eq!(report["builds"].as_array().unwrap().len(), 2);
}

#[test]
fn a_compiler_probing_include_directories_and_python_reading_openssl_cnf_are_reproducible() {
    // `-Ilib`: gcc looks for <stdio.h> in lib/, which the project has (with other files)
    // and the step does not declare: a look-up that finds nothing is no dependency.
    // `import hashlib` reads /etc/ssl/openssl.cnf, a file of an installed package.
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.compile]\nrun = \"gcc -Ilib -c src/main.c -o main.o\"\ninputs = [\"src/main.c\"]\noutputs = [\"main.o\"]\n[steps.py]\nrun = \"python3 -c 'import hashlib; print(hashlib.sha256(b\\\"x\\\").hexdigest())' > h\"\noutputs = [\"h\"]\n",
        &[
            ("src/main.c", "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n"),
            ("lib/helper.h", "int helper(void);\n"),
            ("lib/helper.c", "int helper(void) { return 1; }\n"),
        ],
    );
    let out = run_in(dir.path(), &["check", "--json"]);
    let report = json(&out);
    assert_eq!(code(&out), 0, "{report:#}");
    for name in ["compile", "py"] {
        assert_eq!(verdict(&report, name), "reproducible");
        assert_eq!(step(&report, name)["undeclared"], json!([]), "{name}");
    }
}

#[test]
fn host_state_no_package_owns_and_files_the_project_has_are_undeclared() {
    let dir = project(
        "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.host]\nrun = \"cat /etc/hostname /etc/machine-id > /dev/null 2>&1; echo ok > n\"\noutputs = [\"n\"]\n[steps.header]\nrun = \"gcc -Ilib -E src/main.c > main.i\"\ninputs = [\"src/main.c\"]\noutputs = [\"main.i\"]\n",
        &[
            (
                "src/main.c",
                "#if __has_include(<helper.h>)\nint with_helper;\n#endif\nint main(void) { return 0; }\n",
            ),
            ("lib/helper.h", "int helper(void);\n"),
        ],
    );
    let out = run_in(dir.path(), &["check", "--json", "--no-bisect"]);
    let report = json(&out);
    assert_eq!(code(&out), 1, "{report:#}");
    let host = step(&report, "host")["undeclared"].to_string();
    assert!(host.contains("/etc/hostname"), "{host}");
    if Path::new("/etc/machine-id").exists() {
        assert!(host.contains("/etc/machine-id"), "{host}");
    }
    // The header is found in lib/, which the step did not declare: a real dependency.
    assert_eq!(verdict(&report, "header"), "undeclared");
    assert_eq!(
        step(&report, "header")["undeclared"],
        json!(["lib/helper.h"])
    );
}

#[test]
fn a_whole_command_listing_the_project_from_below_reads_nothing_undeclared() {
    // make -C lib lists `..` looking for implicit rules: the whole project is declared.
    let dir = project("", &[("a.txt", "hi\n"), ("sub/keep", "")]);
    let out = run_in(
        dir.path(),
        &[
            "check",
            "--json",
            "--cmd",
            "cd sub && ls .. > /dev/null && cd .. && mkdir -p dist && cp a.txt dist/",
            "--outputs",
            "dist/**",
        ],
    );
    let report = json(&out);
    assert_eq!(code(&out), 0, "{report:#}");
    assert_eq!(report["steps"][0]["undeclared"], json!([]));
}
