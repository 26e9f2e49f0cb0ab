//! `reprobe diff` on real artifacts built twice by real tools (corpus/diff/make-pairs.sh):
//! each pair gets the classification a user should read.

use crate::diff_support;

use diff_support::*;

#[test]
fn tar_without_mtime_is_reported_as_archive_metadata() {
    let (a, b) = pair("members.tar");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 1);
    let tar = item(&report, "members.tar");
    assert_eq!(tar["kind"], "tar");
    assert_eq!(tar["change"], "metadata");
    assert_eq!(kinds(tar), ["archive-metadata"]);
    let r = reasons_of(tar, "archive-metadata")[0];
    assert!(
        r["context"]
            .as_str()
            .unwrap()
            .starts_with("mtime of src/hello.c"),
        "{r}"
    );
    assert!(r["a"].as_str().unwrap().contains("1700000000"));
    assert!(r["b"].as_str().unwrap().contains("1800000000"));
    assert_eq!(r["variation"], "clock");
    let fields = tar["evidence"]["metadata"].as_array().unwrap();
    assert_eq!(fields.len(), 3, "one mtime per member: {fields:?}");
    assert_eq!(items(&report).len(), 1, "no member content differs");
}

#[test]
fn tar_without_sort_is_reported_as_ordering() {
    let (a, b) = pair("unsorted.tar");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 1);
    let tar = item(&report, "unsorted.tar");
    assert_eq!(kinds(tar), ["ordering"]);
    assert_eq!(reasons_of(tar, "ordering")[0]["variation"], "fileorder");
    assert_eq!(items(&report).len(), 1);
}

#[test]
fn gzip_without_n_is_reported_as_archive_metadata() {
    let (a, b) = pair("hello.txt.gz");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 1);
    let gz = item(&report, "hello.txt.gz");
    assert_eq!(gz["kind"], "gzip");
    assert_eq!(gz["change"], "metadata");
    assert_eq!(kinds(gz), ["archive-metadata"]);
    let r = reasons_of(gz, "archive-metadata")[0];
    assert_eq!(r["context"], "header mtime");
    assert!(r["remedy"].as_str().unwrap().contains("gzip -n"));
    assert_eq!(gz["evidence"]["metadata"][0]["field"], "mtime");
}

#[test]
fn zip_timestamps_are_reported_as_archive_metadata() {
    let (a, b) = pair("files.zip");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 1);
    let zip = item(&report, "files.zip");
    assert_eq!(kinds(zip), ["archive-metadata"]);
    let contexts: Vec<&str> = zip["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["context"].as_str().unwrap())
        .collect();
    assert!(
        contexts.iter().any(|c| c.starts_with("mtime of")),
        "{contexts:?}"
    );
    // The UT extra field is decoded: its mtime is a reason of its own, and no opaque
    // `extra` hex mixes times with owners.
    assert!(
        contexts.iter().any(|c| c.starts_with("UT mtime of")),
        "{contexts:?}"
    );
    assert!(
        !contexts.iter().any(|c| c.starts_with("extra of")),
        "{contexts:?}"
    );
}

#[test]
fn ar_without_d_is_reported_as_archive_metadata() {
    let (a, b) = pair("libhello.a");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 1);
    let ar = item(&report, "libhello.a");
    assert_eq!(ar["kind"], "ar");
    assert_eq!(kinds(ar), ["archive-metadata"]);
    let r = reasons_of(ar, "archive-metadata")[0];
    assert_eq!(r["context"], "mtime of hello.o and 1 more members");
    assert!(r["remedy"].as_str().unwrap().contains("ar D"));
}

#[test]
fn gcc_date_and_time_are_reported_as_timestamp() {
    let (a, b) = pair("stamp.o");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 1);
    let o = item(&report, "stamp.o");
    assert_eq!(o["kind"], "elf");
    assert_eq!(kinds(o), ["timestamp"]);
    let r = reasons_of(o, "timestamp")[0];
    assert_eq!(r["a"], "Nov 14 2023 22:13:20");
    assert_eq!(r["b"], "Jan 15 2027 08:00:00");
    assert_eq!(r["context"], "section .rodata");
    assert!(r["offset"].as_u64().is_some());
    let ranges = o["evidence"]["byte_ranges"].as_array().unwrap();
    assert!(ranges[0]["hex_a"]
        .as_str()
        .unwrap()
        .contains("|built Nov 14 202|"));
}

#[test]
fn gcc_debug_info_build_path_is_reported_as_build_path() {
    let (a, b) = pair("debug.o");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 1);
    let o = item(&report, "debug.o");
    assert_eq!(kinds(o), ["build_path"]);
    let r = reasons_of(o, "build_path")[0];
    assert!(
        r["context"].as_str().unwrap().starts_with("section .debug"),
        "{r}"
    );
    // Without known values the two build directories are inferred from the paths that
    // differ only in a leading part (`…/w/a/src/hello.c`, `…/w/bbbbbb/src/hello.c`),
    // whichever strings of the section the line diff paired.
    let dir = pairs();
    for r in reasons_of(o, "build_path") {
        assert_eq!(r["a"], dir.join("w/a").to_str().unwrap(), "{r}");
        assert_eq!(r["b"], dir.join("w/bbbbbb").to_str().unwrap(), "{r}");
        assert!(r["note"].as_str().unwrap().starts_with("inferred"), "{r}");
    }
}

#[test]
fn known_build_path_attributes_debug_info_exactly() {
    let (a, b) = pair("debug.o");
    let dir = pairs();
    let known = format!(
        "build_path={},{}",
        dir.join("w/a").display(),
        dir.join("w/bbbbbb").display()
    );
    let (code, report) = diff_json(&a, &b, &["--known", &known]);
    assert_eq!(code, 1);
    let o = item(&report, "debug.o");
    assert_eq!(kinds(o), ["build_path"]);
    let r = reasons_of(o, "build_path")[0];
    assert_eq!(r["a"], dir.join("w/a").to_str().unwrap());
    assert_eq!(r["b"], dir.join("w/bbbbbb").to_str().unwrap());
    assert_eq!(r["variation"], "build_path");
}

#[test]
fn readdir_listing_is_reported_as_ordering() {
    let (a, b) = pair("listing.txt");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 1);
    let t = item(&report, "listing.txt");
    assert_eq!(t["kind"], "text");
    assert_eq!(kinds(t), ["ordering"]);
    assert!(t["evidence"]["unified_diff"]
        .as_str()
        .unwrap()
        .contains("+./alpha"));
}

#[test]
fn identical_files_exit_0_with_no_items() {
    let (a, b) = pair("same.txt");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 0);
    assert!(items(&report).is_empty());
    assert_eq!(report["verdict"], "reproducible");
}

#[test]
fn corpus_directories_report_every_differing_pair_sorted() {
    let dir = pairs();
    let (code, report) = diff_json(&dir.join("a"), &dir.join("b"), &[]);
    assert_eq!(code, 1);
    assert_eq!(report["schema"], "reprobe/report/1");
    assert_eq!(report["command"], "diff");
    assert_eq!(report["verdict"], "nondeterministic");
    let paths: Vec<&str> = items(&report)
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "debug.o",
            "files.zip",
            "hello.deb!data.tar.zst!/usr/share/hello/stamp.txt",
            "hello.txt.gz",
            "libhello.a",
            "listing.txt",
            "members.tar",
            "members.tar.xz",
            "members.tar.zst",
            "stamp.o",
            "unsorted.tar"
        ]
    );
}

#[test]
fn nested_archives_are_reported_under_bang_paths() {
    let dir = scratch("nested");
    let p = pairs();
    for side in ["a", "b"] {
        let s = format!(
            "mkdir -p {side}/lib && cp {p}/{side}/stamp.o {side}/lib/ && cd {side}/lib && ar rcD libstamp.a stamp.o && rm stamp.o && cd .. && tar --mtime=@0 --owner=0 --group=0 -cf out.tar lib && gzip -n out.tar",
            p = p.display()
        );
        sh(&dir, &s);
    }
    let (code, report) = diff_json(&dir.join("a/out.tar.gz"), &dir.join("b/out.tar.gz"), &[]);
    assert_eq!(code, 1);
    let o = item(&report, "out.tar.gz!/lib/libstamp.a!stamp.o");
    assert_eq!(kinds(o), ["timestamp"]);
    assert_eq!(items(&report).len(), 1, "{report:#}");
}

#[test]
fn tar_xz_and_tar_zst_are_opened_and_their_members_compared() {
    for (name, kind) in [("members.tar.xz", "xz"), ("members.tar.zst", "zstd")] {
        let (a, b) = pair(name);
        let (code, report) = diff_json(&a, &b, &[]);
        assert_eq!(code, 1, "{name}");
        let it = item(&report, name);
        assert_eq!(it["kind"], kind);
        assert_eq!(it["change"], "metadata", "{name}: {it:#}");
        assert_eq!(kinds(it), ["archive-metadata"], "{name}");
        let r = reasons_of(it, "archive-metadata")[0];
        assert_eq!(r["context"], "mtime of src/hello.c and 2 more members");
        assert_eq!(r["variation"], "clock");
        assert_eq!(items(&report).len(), 1, "{name}: {report:#}");
    }
}

#[test]
fn deb_is_opened_down_to_the_file_in_its_data_tar_zst() {
    let (a, b) = pair("hello.deb");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 1);
    let stamp = item(&report, "hello.deb!data.tar.zst!/usr/share/hello/stamp.txt");
    assert_eq!(stamp["kind"], "text");
    assert_eq!(kinds(stamp), ["timestamp"]);
    let r = reasons_of(stamp, "timestamp")[0];
    assert_eq!(
        (r["a"].as_str(), r["b"].as_str()),
        (Some("2023-11-14T22:13:20Z"), Some("2027-01-15T08:00:00Z"))
    );
    // control.tar.xz and the ar headers are identical: nothing else is reported.
    assert_eq!(items(&report).len(), 1, "{report:#}");
}
