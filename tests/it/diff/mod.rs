//! `reprobe diff` as a user runs it: exit codes, messages, report files, known values.

mod archives;
mod bad_input;
mod corpus;
mod fuzzprops;
mod hostile;
mod props;

use crate::diff_support;

use diff_support::*;

#[test]
fn missing_input_exits_2_and_names_the_file() {
    let (a, _) = pair("same.txt");
    let (code, _, stderr) = reprobe(&["diff", a.to_str().unwrap(), "/nonexistent/zzz.tar"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/zzz.tar"), "{stderr}");
}

#[test]
fn bad_known_flag_exits_2_with_a_message() {
    let (a, b) = pair("same.txt");
    let args = [
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--known",
        "colour=red,blue",
    ];
    let (code, _, stderr) = reprobe(&args);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown name \"colour\""), "{stderr}");
}

#[test]
fn terminal_table_lists_path_kind_change_and_reasons() {
    let (a, b) = pair("stamp.o");
    let (code, stdout, _) = reprobe(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 1);
    let header = stdout.lines().next().unwrap();
    assert!(header.starts_with("PATH") && header.contains("KIND") && header.contains("REASONS"));
    assert!(
        stdout.lines().nth(1).unwrap().contains("stamp.o  elf"),
        "{stdout}"
    );
    assert!(stdout.contains("timestamp [section .rodata"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "no colour when not a terminal");
}

#[test]
fn identical_inputs_print_identical_and_exit_0() {
    let (a, b) = pair("same.txt");
    let (code, stdout, _) = reprobe(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!((code, stdout.trim()), (0, "identical"));
}

#[test]
fn html_report_is_self_contained_and_side_by_side() {
    let dir = scratch("html");
    let p = pairs();
    let html = dir.join("r.html");
    let (pa, pb) = (p.join("a"), p.join("b"));
    let args = [
        "diff",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ];
    let (code, _, _) = reprobe(&args);
    assert_eq!(code, 1);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    for external in ["<script src", "<link", "http://", "https://", "<img"] {
        assert!(!page.contains(external), "external asset {external}");
    }
    assert!(page.contains("<table class=\"sbs\">"), "side-by-side table");
    assert!(page.contains("<td class=\"del\">./epsilon</td>") || page.contains("./alpha"));
    assert!(page.contains("archive-metadata"));
}

#[test]
fn markdown_report_summarises_items() {
    let dir = scratch("md");
    let p = pairs();
    let md = dir.join("r.md");
    let (pa, pb) = (p.join("a"), p.join("b"));
    let args = [
        "diff",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ];
    reprobe(&args);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.contains("**11 differing item(s)**"), "{text}");
    assert!(
        text.contains("| `stamp.o` | elf | modified | timestamp |"),
        "{text}"
    );
}

#[test]
fn json_is_stable_across_runs() {
    let p = pairs();
    let run = || {
        reprobe(&[
            "diff",
            "--json",
            p.join("a").to_str().unwrap(),
            p.join("b").to_str().unwrap(),
        ])
        .1
    };
    assert_eq!(run(), run());
}

#[test]
fn known_clock_window_attributes_timestamps_to_clock() {
    let dir = scratch("clock");
    sh(
        &dir,
        "date -u -d @1700000000 > a.txt && date -u -d @1800000000 > b.txt",
    );
    let (a, b) = (dir.join("a.txt"), dir.join("b.txt"));
    let inside = "clock=1699999990..1700000010,1799999990..1800000010";
    let (_, report) = diff_json(&a, &b, &["--known", inside]);
    let r = &item(&report, "a.txt")["reasons"][0];
    assert_eq!(
        (r["kind"].as_str(), r["variation"].as_str()),
        (Some("timestamp"), Some("clock"))
    );
    let outside = "clock=100..200,300..400";
    let (_, report) = diff_json(&a, &b, &["--known", outside]);
    let r = &item(&report, "a.txt")["reasons"][0];
    assert_eq!(r["kind"], "timestamp");
    assert!(r.get("variation").is_none(), "outside both windows: {r}");
}

#[test]
fn date_output_is_reported_as_timestamp() {
    let dir = scratch("date");
    sh(
        &dir,
        "for t in 1700000000 1800000000; do { echo \"built on $(date -u -d @$t)\"; date -u -d @$t -R; date -u -d @$t -Iseconds; echo \"epoch $t\"; } > $t.txt; done",
    );
    let (_, report) = diff_json(
        &dir.join("1700000000.txt"),
        &dir.join("1800000000.txt"),
        &[],
    );
    let t = item(&report, "1700000000.txt");
    assert_eq!(kinds(t), ["timestamp"]);
    assert_eq!(t["reasons"].as_array().unwrap().len(), 4, "{t:#}");
}

#[test]
fn known_hostname_and_user_are_attributed() {
    let dir = scratch("host");
    std::fs::write(dir.join("a"), "built by alice on build-host-1\n").unwrap();
    std::fs::write(dir.join("b"), "built by robert on ci-runner-22\n").unwrap();
    let (_, report) = diff_json(
        &dir.join("a"),
        &dir.join("b"),
        &[
            "--known",
            "hostname=build-host-1,ci-runner-22",
            "--known",
            "user=alice,robert",
        ],
    );
    assert_eq!(kinds(item(&report, "a")), ["hostname", "user"]);
}

#[test]
fn json_diff_reports_key_paths() {
    let dir = scratch("json");
    std::fs::write(
        dir.join("a.json"),
        r#"{"name": "x", "built": "2023-11-14T22:13:20Z", "seed": 1234, "tags": ["a", "b"]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("b.json"),
        r#"{"name": "x", "built": "2027-01-15T08:00:00Z", "seed": 9876, "tags": ["b", "a"]}"#,
    )
    .unwrap();
    let (_, report) = diff_json(&dir.join("a.json"), &dir.join("b.json"), &[]);
    let j = item(&report, "a.json");
    assert_eq!(j["kind"], "json");
    let by_key: Vec<(String, String)> = j["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["context"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        by_key,
        [
            ("key $.built".to_string(), "timestamp".to_string()),
            ("key $.seed".to_string(), "random".to_string()),
            ("key $.tags".to_string(), "ordering".to_string())
        ]
    );
}

#[test]
fn a_python_set_printed_in_hash_seed_order_is_ordering() {
    // `' '.join({...})` under PYTHONHASHSEED=1 and 2 (python-env's `hash-seed` step).
    let dir = scratch("hash-seed");
    std::fs::write(
        dir.join("a.txt"),
        "alpha theta epsilon beta zeta eta delta gamma\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.txt"),
        "gamma alpha epsilon beta eta delta zeta theta\n",
    )
    .unwrap();
    let (code, report) = diff_json(&dir.join("a.txt"), &dir.join("b.txt"), &[]);
    assert_eq!(code, 1);
    let t = item(&report, "a.txt");
    assert_eq!(kinds(t), ["ordering"], "{t:#}");
    let r = &t["reasons"][0];
    assert_eq!(t["reasons"].as_array().unwrap().len(), 1, "{t:#}");
    assert_eq!(r["a"], "alpha theta epsilon beta zeta eta delta gamma");
    assert_eq!(r["b"], "gamma alpha epsilon beta eta delta zeta theta");
    assert_eq!(
        (r["line"].as_u64(), r["line_b"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(r["path"], "a.txt");
    assert!(
        r["context"]
            .as_str()
            .unwrap()
            .starts_with("same 8 words in another order"),
        "{r}"
    );
}

fn two_files(name: &str, a: &str, b: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("a.txt"), a).unwrap();
    std::fs::write(dir.join("b.txt"), b).unwrap();
    dir
}

#[test]
fn symlinks_to_unrelated_absolute_paths_are_not_build_paths() {
    let dir = scratch("links-abs");
    sh(
        &dir,
        "mkdir a b && ln -s /etc/passwd a/l && ln -s /etc/shadow b/l && \
         ln -s /build/one/src/main.c a/m && ln -s /tmp/two/src/main.c b/m",
    );
    let (code, report) = diff_json(&dir.join("a"), &dir.join("b"), &[]);
    assert_eq!(code, 1);
    let l = item(&report, "l");
    assert_eq!(kinds(l), ["random"], "{l:#}");
    assert!(l["reasons"][0].get("remedy").is_none(), "{l:#}");
    // A prefix swap is a build path, shown as the two leading parts.
    let m = item(&report, "m");
    assert_eq!(kinds(m), ["build_path"], "{m:#}");
    let r = &m["reasons"][0];
    assert_eq!(
        (r["a"].as_str(), r["b"].as_str()),
        (Some("/build/one"), Some("/tmp/two"))
    );
    // Given known values, only the known build paths are build paths.
    let known = ["--known", "build_path=/x/a,/x/bb"];
    let (_, report) = diff_json(&dir.join("a"), &dir.join("b"), &known);
    assert_eq!(kinds(item(&report, "m")), ["random"], "{report:#}");
}

#[test]
fn random_says_whether_the_span_looks_random() {
    let dir = two_files(
        "entropy",
        "day Dienstag\nid 3f2b8c1e-9d4a-4f6b-8e2c-1a7b9c0d5e3f\n",
        "day Tuesday\nid 0c6e2d71-5b1f-4a8e-9f3d-7e2a4b6c8d10\n",
    );
    let (_, report) = diff_json(&dir.join("a.txt"), &dir.join("b.txt"), &[]);
    let t = item(&report, "a.txt");
    let rs = reasons_of(t, "random");
    assert_eq!(rs.len(), 2, "{t:#}");
    assert_eq!(
        (rs[0]["a"].as_str(), rs[0]["b"].as_str()),
        (Some("Dienstag"), Some("Tuesday"))
    );
    assert_eq!(rs[0]["high_entropy"], false);
    assert_eq!(
        rs[0]["note"],
        "unexplained by known values; not high-entropy"
    );
    assert_eq!(rs[1]["high_entropy"], true);
    assert_eq!(rs[1]["note"], "high-entropy (uuid): looks random");
    let (_, stdout, _) = reprobe(&[
        "diff",
        dir.join("a.txt").to_str().unwrap(),
        dir.join("b.txt").to_str().unwrap(),
    ]);
    assert!(
        stdout.contains(
            "random [line 1, offset 0x4]: Dienstag -> Tuesday  (unexplained by known values; not high-entropy)"
        ),
        "{stdout}"
    );
}

#[test]
fn timezone_evidence_is_the_bytes_that_differ_with_both_offsets() {
    let known = ["--known", "timezone=Pacific/Kiritimati,UTC"];
    let dir = two_files("tz-lint", "zone LINT\n", "zone UTC\n");
    let (code, report) = diff_json(&dir.join("a.txt"), &dir.join("b.txt"), &known);
    assert_eq!(code, 1);
    let t = item(&report, "a.txt");
    assert_eq!(kinds(t), ["timezone"], "{t:#}");
    let r = &t["reasons"][0];
    assert_eq!(
        (r["a"].as_str(), r["b"].as_str()),
        (Some("LINT"), Some("UTC"))
    );
    assert_eq!(
        (r["offset"].as_u64(), r["offset_b"].as_u64()),
        (Some(5), Some(5))
    );
    if !std::path::Path::new("/usr/share/zoneinfo/Pacific/Kiritimati").exists() {
        eprintln!("skipped the rest: no zoneinfo for Pacific/Kiritimati");
        return;
    }
    // What `date` and strftime print: the zone's abbreviation, or a numeric offset.
    let dir = two_files(
        "tz-offsets",
        "Thu Nov 26 23:34:11 +14 2026\nsent at 09:34 +1400\n",
        "Thu Nov 26 09:34:11 UTC 2026\nsent at 09:34 +0000\n",
    );
    let (_, report) = diff_json(&dir.join("a.txt"), &dir.join("b.txt"), &known);
    let t = item(&report, "a.txt");
    let tz: Vec<(&str, &str, u64, u64)> = reasons_of(t, "timezone")
        .iter()
        .map(|r| {
            (
                r["a"].as_str().unwrap(),
                r["b"].as_str().unwrap(),
                r["offset"].as_u64().unwrap(),
                r["offset_b"].as_u64().unwrap(),
            )
        })
        .collect();
    // The date moved by exactly the zones' offsets is the zone's doing too.
    assert_eq!(
        tz,
        [
            (
                "Thu Nov 26 23:34:11 +14 2026",
                "Thu Nov 26 09:34:11 UTC 2026",
                0,
                0
            ),
            ("+14", "UTC", 20, 20),
            ("+1400", "+0000", 43, 43)
        ],
        "{t:#}"
    );
    assert_eq!(kinds(t), ["timezone"], "{t:#}");
}

#[test]
fn json_key_order_is_a_finding_with_both_orders() {
    let dir = scratch("json-order");
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("a.json", r#"{"name": "x", "k": 1, "o": {"p": 1, "q": 2}}"#);
    write("b.json", r#"{"k": 2, "name": "y", "o": {"q": 2, "p": 1}}"#);
    write("c.json", r#"{"name": "x", "k": 1, "o": {"q": 2, "p": 1}}"#);
    // Key order and values both differ: both are reported.
    let (_, report) = diff_json(&dir.join("a.json"), &dir.join("b.json"), &[]);
    let j = item(&report, "a.json");
    let orders: Vec<(&str, &str, &str)> = reasons_of(j, "ordering")
        .iter()
        .map(|r| {
            (
                r["context"].as_str().unwrap(),
                r["a"].as_str().unwrap(),
                r["b"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        orders,
        [
            ("key order of $", "name, k, o", "k, name, o"),
            ("key order of $.o", "p, q", "q, p")
        ],
        "{j:#}"
    );
    assert_eq!(reasons_of(j, "random").len(), 2, "{j:#}");
    let field = j["evidence"]["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "key order of $")
        .unwrap_or_else(|| panic!("no key order field in {j:#}"));
    assert_eq!(
        (field["a"].as_str(), field["b"].as_str()),
        (Some("name, k, o"), Some("k, name, o"))
    );
    // Key order alone: one finding, the two orders as evidence.
    let (_, report) = diff_json(&dir.join("a.json"), &dir.join("c.json"), &[]);
    let j = item(&report, "a.json");
    assert_eq!(j["reasons"].as_array().unwrap().len(), 1, "{j:#}");
    let r = &j["reasons"][0];
    assert_eq!(r["kind"], "ordering");
    assert_eq!(r["context"], "key order of $.o");
    assert_eq!(
        (r["a"].as_str(), r["b"].as_str()),
        (Some("p, q"), Some("q, p"))
    );
    assert!(r["remedy"].as_str().unwrap().contains("sort_keys"), "{r}");
}
