//! Bad input: corrupt and truncated archives, decompression bombs, symlinks, deep
//! nesting and non-UTF-8 names are findings or notes, never crashes.

use crate::diff_support;

use std::os::unix::ffi::OsStrExt;

use diff_support::*;

fn notes(item: &serde_json::Value) -> String {
    item["evidence"]["notes"].to_string()
}

#[test]
fn truncated_tar_is_a_finding_not_a_crash() {
    let dir = scratch("trunc-tar");
    let (a, _) = pair("members.tar");
    let data = std::fs::read(&a).unwrap();
    std::fs::write(dir.join("t.tar"), &data[..1100]).unwrap();
    let (code, report) = diff_json(&a, &dir.join("t.tar"), &[]);
    assert_eq!(code, 1);
    let tar = item(&report, "members.tar");
    assert!(
        notes(tar).contains("side b: corrupt or truncated tar"),
        "{tar:#}"
    );
}

#[test]
fn corrupt_gzip_is_a_finding_not_a_crash() {
    let dir = scratch("bad-gz");
    sh(
        &dir,
        "seq 1 20000 > data && gzip -n -c data > a.gz && cp a.gz b.gz",
    );
    let mut b = std::fs::read(dir.join("b.gz")).unwrap();
    let mid = b.len() / 2;
    for byte in &mut b[mid..mid + 16] {
        *byte ^= 0x55;
    }
    std::fs::write(dir.join("b.gz"), &b).unwrap();
    let (code, report) = diff_json(&dir.join("a.gz"), &dir.join("b.gz"), &[]);
    assert_eq!(code, 1);
    let gz = item(&report, "a.gz");
    assert!(
        notes(gz).contains("side b: corrupt or truncated stream"),
        "{gz:#}"
    );
}

#[test]
fn truncated_zip_and_ar_are_findings() {
    let dir = scratch("trunc-zip");
    for name in ["files.zip", "libhello.a"] {
        let (a, _) = pair(name);
        let data = std::fs::read(&a).unwrap();
        let cut = dir.join(name);
        std::fs::write(&cut, &data[..data.len() * 2 / 3]).unwrap();
        let (code, report) = diff_json(&a, &cut, &[]);
        assert_eq!(code, 1, "{name}");
        assert!(
            notes(item(&report, name)).contains("side b"),
            "{name}: {report:#}"
        );
    }
}

#[test]
fn decompression_bomb_stops_at_the_limit() {
    let dir = scratch("bomb");
    sh(&dir, "head -c 33554432 /dev/zero | gzip -n > a.gz && { head -c 33554432 /dev/zero; echo x; } | gzip -n > b.gz");
    let (code, report) = diff_json(
        &dir.join("a.gz"),
        &dir.join("b.gz"),
        &["--max-ratio", "100"],
    );
    assert_eq!(code, 1);
    assert!(
        notes(item(&report, "a.gz")).contains("possible decompression bomb"),
        "{report:#}"
    );
    let (_, report) = diff_json(
        &dir.join("a.gz"),
        &dir.join("b.gz"),
        &["--max-expanded-bytes", "1000000"],
    );
    assert!(notes(item(&report, "a.gz")).contains("limit"), "{report:#}");
}

#[test]
fn symlinks_are_compared_as_links_and_never_followed() {
    let dir = scratch("links");
    sh(
        &dir,
        "mkdir a b && ln -s /etc/passwd a/l && ln -s /etc/hostname b/l && ln -s . a/loop && ln -s . b/loop && ln -s / a/root && ln -s / b/root",
    );
    let (code, report) = diff_json(&dir.join("a"), &dir.join("b"), &[]);
    assert_eq!(code, 1);
    assert_eq!(items(&report).len(), 1, "{report:#}");
    let l = item(&report, "l");
    assert_eq!(l["kind"], "symlink");
    let field = &l["evidence"]["metadata"][0];
    assert_eq!(
        (field["a"].as_str(), field["b"].as_str()),
        (Some("/etc/passwd"), Some("/etc/hostname"))
    );
}

#[test]
fn nesting_depth_is_limited() {
    let (a, b) = pair("members.tar");
    let dir = scratch("depth");
    sh(
        &dir,
        &format!(
            "gzip -n -c {} > a.tar.gz && gzip -n -c {} > b.tar.gz",
            a.display(),
            b.display()
        ),
    );
    let (code, report) = diff_json(
        &dir.join("a.tar.gz"),
        &dir.join("b.tar.gz"),
        &["--max-depth", "0"],
    );
    assert_eq!(code, 1);
    assert!(
        report
            .to_string()
            .contains("nesting depth limit (0) reached"),
        "{report:#}"
    );
}

#[test]
fn non_utf8_names_are_shown_escaped() {
    let dir = scratch("names");
    sh(&dir, "mkdir a b");
    let name = std::ffi::OsStr::from_bytes(b"bad\xffname");
    std::fs::write(dir.join("b").join(name), "x").unwrap();
    let (code, report) = diff_json(&dir.join("a"), &dir.join("b"), &[]);
    assert_eq!(code, 1);
    let it = item(&report, "bad\\xffname");
    assert_eq!(it["change"], "added");
}

#[test]
fn a_directory_against_a_file_is_a_difference() {
    let (a, _) = pair("same.txt");
    let (code, report) = diff_json(&a, pairs(), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        items(&report)[0]["evidence"]["metadata"][0]["field"],
        "type"
    );
}

#[test]
fn contents_are_not_compared_after_a_decompression_limit_stop() {
    // Side a stops at the ratio limit, side b expands whole: comparing the cut prefix
    // with b would report the cut as a difference of the content.
    let dir = scratch("bomb-cut");
    sh(
        &dir,
        "mkdir a b && head -c 33554432 /dev/zero | gzip -n > a/bomb1.gz && \
         head -c 1000000 /dev/zero | gzip -n > b/bomb1.gz",
    );
    let (code, report) = diff_json(
        &dir.join("a/bomb1.gz"),
        &dir.join("b/bomb1.gz"),
        &["--max-ratio", "100"],
    );
    assert_eq!(code, 1);
    assert_eq!(items(&report).len(), 1, "{report:#}");
    let gz = item(&report, "bomb1.gz");
    assert_eq!(gz["change"], "modified");
    let notes = notes(gz);
    assert!(
        notes.contains("side a: decompression stopped: expands more than 100x"),
        "{notes}"
    );
    assert!(notes.contains("contents not compared"), "{notes}");
    assert!(gz["reasons"].as_array().unwrap().is_empty(), "{gz:#}");
    // The same through a directory, and with the total expansion limit.
    let (_, report) = diff_json(
        &dir.join("a"),
        &dir.join("b"),
        &["--max-expanded-bytes", "2000000"],
    );
    assert_eq!(items(&report).len(), 1, "{report:#}");
    assert!(
        notes_of(&report).contains("contents not compared"),
        "{report:#}"
    );
}

fn notes_of(report: &serde_json::Value) -> String {
    items(report)
        .iter()
        .map(notes)
        .collect::<Vec<_>>()
        .join("\n")
}
