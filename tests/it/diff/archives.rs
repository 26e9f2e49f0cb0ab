//! Archive header times and owners as `check` sees them: two builds in two time zones and
//! two clock windows (`--known` gives `reprobe diff` the same values), and the item path
//! of every reason.

use crate::diff_support;

use diff_support::*;
use serde_json::Value;

/// The mtime of every file in the tests below, and the same instant five years later.
const T_A: i64 = 1_795_655_234; // 2026-11-26T01:07:14Z
const T_B: i64 = 1_958_804_112; // 2032-01-27T08:15:12Z

fn windows(a: i64, b: i64) -> String {
    format!("clock={}..{},{}..{}", a - 5, a + 5, b - 5, b + 5)
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Two zips of the same tree: side a zipped in UTC at `ta`, side b in Pacific/Kiritimati
/// (UTC+14) at `tb`, owned by uid 2001/gid 2002 when the tests run as root.
fn zips(name: &str, ta: i64, tb: i64) -> std::path::PathBuf {
    let dir = scratch(name);
    sh(
        &dir,
        &format!(
            "for s in a b; do mkdir -p $s/z && echo hi > $s/z/f.txt; done && \
             touch -d @{ta} a/z/f.txt a/z && touch -d @{tb} b/z/f.txt b/z && \
             {{ chown -R 2001:2002 b/z 2>/dev/null || true; }} && \
             (cd a && TZ=UTC zip -q -r ../a.zip z) && \
             (cd b && TZ=Pacific/Kiritimati zip -q -r ../b.zip z)"
        ),
    );
    dir
}

fn reason<'a>(item: &'a Value, context_prefix: &str) -> &'a Value {
    item["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["context"].as_str().unwrap().starts_with(context_prefix))
        .unwrap_or_else(|| panic!("no reason {context_prefix}… in {item:#}"))
}

#[test]
fn zip_dos_time_shifted_by_the_two_zones_is_timezone() {
    let dir = zips("zip-tz", T_A, T_A);
    let known = ["--known", "timezone=UTC,Pacific/Kiritimati"];
    let (code, report) = diff_json(&dir.join("a.zip"), &dir.join("b.zip"), &known);
    assert_eq!(code, 1);
    let zip = item(&report, "a.zip");
    let r = reason(zip, "mtime of z/");
    assert_eq!(r["kind"], "timezone", "{r}");
    assert_eq!(r["variation"], "timezone");
    assert_eq!(r["a"], "2026-11-26 01:07:14 (DOS)");
    assert_eq!(r["b"], "2026-11-26 15:07:14 (DOS)");
    // The UT extra field holds UTC: the same instant on both sides, so no difference.
    let contexts = zip["reasons"].to_string();
    assert!(!contexts.contains("UT mtime"), "{contexts}");
    assert!(!contexts.contains("extra of"), "{contexts}");
}

#[test]
fn zip_times_inside_the_clock_windows_are_timestamps_from_the_clock() {
    let dir = zips("zip-clock", T_A, T_B);
    let clock = windows(T_A, T_B);
    let known = [
        "--known",
        "timezone=UTC,Pacific/Kiritimati",
        "--known",
        &clock,
    ];
    let (_, report) = diff_json(&dir.join("a.zip"), &dir.join("b.zip"), &known);
    let zip = item(&report, "a.zip");
    let dos = reason(zip, "mtime of z/");
    assert_eq!(
        (&dos["kind"], &dos["variation"]),
        (&"timestamp".into(), &"clock".into()),
        "{dos}"
    );
    let ut = reason(zip, "UT mtime of z/");
    assert_eq!(
        (&ut["kind"], &ut["variation"]),
        (&"timestamp".into(), &"clock".into()),
        "{ut}"
    );
    assert!(ut["a"].as_str().unwrap().contains(&T_A.to_string()), "{ut}");
    // Outside both windows: the times are header metadata of unknown cause.
    let far = windows(1_000_000_000, 1_100_000_000);
    let (_, report) = diff_json(&dir.join("a.zip"), &dir.join("b.zip"), &["--known", &far]);
    let zip = item(&report, "a.zip");
    for prefix in ["mtime of z/", "UT mtime of z/"] {
        let r = reason(zip, prefix);
        assert_eq!(r["kind"], "archive-metadata", "{r}");
        assert!(r.get("variation").is_none(), "{r}");
    }
}

#[test]
fn zip_owner_is_its_own_reason_apart_from_times() {
    if !is_root() {
        eprintln!("skipped: needs root to chown the files of side b");
        return;
    }
    let dir = zips("zip-owner", T_A, T_A);
    let (_, report) = diff_json(&dir.join("a.zip"), &dir.join("b.zip"), &[]);
    let zip = item(&report, "a.zip");
    let uid = reason(zip, "uid of z/");
    assert_eq!(uid["kind"], "archive-metadata");
    assert_eq!(
        (uid["b"].as_str(), uid["variation"].as_str()),
        (Some("2001"), Some("user"))
    );
    assert_eq!(reason(zip, "gid of z/")["b"], "2002");
}

#[test]
fn tar_and_ar_mtimes_inside_the_clock_windows_vary_with_the_clock() {
    let dir = scratch("hdr-clock");
    sh(
        &dir,
        &format!(
            "for s in a b; do mkdir -p $s && echo hi > $s/f.txt; done && \
             touch -d @{T_A} a/f.txt && touch -d @{T_B} b/f.txt && \
             for s in a b; do (cd $s && tar -cf out.tar f.txt && ar rcU out.a f.txt); done"
        ),
    );
    for name in ["out.tar", "out.a"] {
        let (a, b) = (dir.join("a").join(name), dir.join("b").join(name));
        let (_, report) = diff_json(&a, &b, &["--known", &windows(T_A, T_B)]);
        let r = reason(item(&report, name), "mtime of f.txt");
        assert_eq!(
            (r["kind"].as_str(), r["variation"].as_str()),
            (Some("archive-metadata"), Some("clock")),
            "{name}: {r}"
        );
        let (_, report) = diff_json(&a, &b, &["--known", &windows(1_000_000_000, 1_100_000_000)]);
        let r = reason(item(&report, name), "mtime of f.txt");
        assert!(r.get("variation").is_none(), "{name}: {r}");
    }
}

/// Every reason of every item carries that item's (non-empty) path.
fn assert_reason_paths(report: &Value) {
    for i in items(report) {
        for r in i["reasons"].as_array().unwrap() {
            assert!(
                !r["path"].as_str().unwrap().is_empty() && r["path"] == i["path"],
                "reason without its item's path: {r} in {i:#}"
            );
        }
    }
}

#[test]
fn a_top_level_file_differing_only_in_mode_is_its_own_item() {
    let dir = scratch("mode-only");
    sh(
        &dir,
        "mkdir a b && echo data > a/naive.tar && cp a/naive.tar b/ && mkdir a/sub b/sub && \
         echo x > a/sub/run.sh && cp a/sub/run.sh b/sub/ && \
         chmod 644 a/naive.tar a/sub/run.sh && chmod 664 b/naive.tar && chmod 755 b/sub/run.sh",
    );
    let (code, report) = diff_json(&dir.join("a"), &dir.join("b"), &[]);
    assert_eq!(code, 1);
    assert_reason_paths(&report);
    let top = item(&report, "naive.tar");
    assert_eq!(top["change"], "metadata");
    assert_eq!(kinds(top), ["umask"]);
    assert_eq!(top["reasons"][0]["context"], "mode of naive.tar");
    let nested = item(&report, "sub/run.sh");
    assert_eq!(kinds(nested), ["archive-metadata"], "{nested:#}");
    assert_eq!(
        (
            nested["reasons"][0]["a"].as_str(),
            nested["reasons"][0]["b"].as_str()
        ),
        (Some("644"), Some("755"))
    );
    assert_eq!(items(&report).len(), 2, "{report:#}");
}

#[test]
fn every_reason_of_the_corpus_carries_its_item_path() {
    let dir = pairs();
    let (_, report) = diff_json(&dir.join("a"), &dir.join("b"), &[]);
    assert_reason_paths(&report);
}

#[test]
fn tar_gz_streams_that_differ_only_outside_the_members_are_reported() {
    // The same member in both; only the blocking factor (the padding) differs.
    let dir = scratch("tar-padding");
    let tar = "tar --mtime=@0 --owner=0 --group=0 --numeric-owner";
    sh(
        &dir,
        &format!(
            "echo hi > f && {tar} -b 20 -cf - f | gzip -n > a.tar.gz && \
             {tar} -b 40 -cf - f | gzip -n > b.tar.gz"
        ),
    );
    let (code, report) = diff_json(&dir.join("a.tar.gz"), &dir.join("b.tar.gz"), &[]);
    assert_eq!(code, 1);
    assert_reason_paths(&report);
    let gz = item(&report, "a.tar.gz");
    let r = reason(gz, "tar stream outside the members");
    assert_eq!(r["kind"], "archive-metadata");
    assert!(r["a"].as_str().unwrap().starts_with("10240 bytes"), "{r}");
    assert!(r["b"].as_str().unwrap().starts_with("20480 bytes"), "{r}");
}

#[test]
fn streamed_tar_gz_with_reordered_and_changed_members() {
    // Many members, so that the two streams are read in step and matched as they come.
    let dir = scratch("tar-stream");
    sh(
        &dir,
        "mkdir -p a b && for i in $(seq 1 300); do echo \"file $i\" > a/f$i; done && cp a/* b/ && \
         echo 'built 2023-11-14T22:13:20Z' > a/f150 && echo 'built 2027-01-15T08:00:00Z' > b/f150 && \
         (cd a && ls | sort | tar --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -T - | gzip -n > ../a.tar.gz) && \
         (cd b && ls | sort -r | tar --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -T - | gzip -n > ../b.tar.gz)",
    );
    let (code, report) = diff_json(&dir.join("a.tar.gz"), &dir.join("b.tar.gz"), &[]);
    assert_eq!(code, 1);
    assert_reason_paths(&report);
    let changed = item(&report, "a.tar.gz!/f150");
    assert_eq!(kinds(changed), ["timestamp"]);
    assert_eq!(kinds(item(&report, "a.tar.gz")), ["ordering"]);
    assert_eq!(items(&report).len(), 2, "{report:#}");
}

#[test]
fn large_tar_gz_files_are_compared_straight_from_disk() {
    // Above 16 MiB the compressed files are not read into memory but decompressed as
    // they are read; the findings are the same.
    let dir = scratch("tar-large");
    sh(
        &dir,
        "mkdir -p a b && head -c 18000000 /dev/urandom > a/big && cp a/big b/big && \
         echo 'built 2023-11-14T22:13:20Z' > a/stamp && echo 'built 2027-01-15T08:00:00Z' > b/stamp && \
         for s in a b; do (cd $s && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | gzip -n -1 > ../$s.tar.gz); done",
    );
    assert!(std::fs::metadata(dir.join("a.tar.gz")).unwrap().len() > 16 << 20);
    let (code, report) = diff_json(&dir.join("a.tar.gz"), &dir.join("b.tar.gz"), &[]);
    assert_eq!(code, 1);
    assert_eq!(kinds(item(&report, "a.tar.gz!/stamp")), ["timestamp"]);
    assert_eq!(items(&report).len(), 1, "{report:#}");
    // Identical large files: nothing to report.
    let (code, report) = diff_json(&dir.join("a.tar.gz"), &dir.join("a.tar.gz"), &[]);
    assert_eq!((code, items(&report).len()), (0, 0));
}

/// The reason of `item` whose context is exactly `context`.
fn reason_exact<'a>(item: &'a Value, context: &str) -> &'a Value {
    item["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["context"] == context)
        .unwrap_or_else(|| panic!("no reason `{context}` in {item:#}"))
}

/// The evidence field `field` of `member` on the container item.
fn field<'a>(item: &'a Value, member: Option<&str>, name: &str) -> &'a Value {
    item["evidence"]["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == name && f["member"].as_str() == member)
        .unwrap_or_else(|| panic!("no field {name} of {member:?} in {item:#}"))
}

fn values(v: &Value) -> (&str, &str) {
    (v["a"].as_str().unwrap(), v["b"].as_str().unwrap())
}

#[test]
fn tar_owner_group_names_and_mode_are_their_own_findings() {
    let dir = scratch("tar-owner");
    sh(
        &dir,
        "echo hi > f.txt && \
         tar --mtime=@0 --owner=alice:2001 --group=staff:3001 --mode=644 -cf a.tar f.txt && \
         tar --mtime=@0 --owner=bob:2002 --group=wheel:3002 --mode=600 -cf b.tar f.txt",
    );
    let (code, report) = diff_json(&dir.join("a.tar"), &dir.join("b.tar"), &[]);
    assert_eq!(code, 1);
    assert_eq!(items(&report).len(), 1, "{report:#}");
    let tar = item(&report, "a.tar");
    assert_eq!(tar["change"], "metadata");
    for (context, a, b, variation) in [
        ("uid of f.txt", "2001", "2002", Some("user")),
        ("gid of f.txt", "3001", "3002", Some("user")),
        ("uname of f.txt", "alice", "bob", Some("user")),
        ("gname of f.txt", "staff", "wheel", Some("user")),
        ("mode of f.txt", "644", "600", None),
    ] {
        let r = reason_exact(tar, context);
        assert_eq!(r["kind"], "archive-metadata", "{r}");
        assert_eq!(values(r), (a, b), "{r}");
        assert_eq!(r["variation"].as_str(), variation, "{r}");
        assert!(r["remedy"].as_str().unwrap().contains("--owner=0"), "{r}");
        let name = context.split(' ').next().unwrap();
        assert_eq!(values(field(tar, Some("f.txt"), name)), (a, b));
    }
    // Modes that differ only in group/other write bits are what a umask does.
    sh(
        &dir,
        "tar --mtime=@0 --owner=alice:2001 --group=staff:3001 --mode=664 -cf c.tar f.txt",
    );
    let (_, report) = diff_json(&dir.join("a.tar"), &dir.join("c.tar"), &[]);
    let r = reason_exact(item(&report, "a.tar"), "mode of f.txt");
    assert_eq!(
        (r["kind"].as_str(), values(r)),
        (Some("umask"), ("644", "664"))
    );
}

#[test]
fn gzip_header_file_name_is_a_finding() {
    let dir = scratch("gzip-name");
    sh(
        &dir,
        "echo same > one.txt && cp one.txt two.txt && touch -d @1700000000 one.txt two.txt && \
         gzip -c one.txt > a.gz && gzip -c two.txt > b.gz",
    );
    let (code, report) = diff_json(&dir.join("a.gz"), &dir.join("b.gz"), &[]);
    assert_eq!(code, 1);
    assert_eq!(items(&report).len(), 1, "{report:#}");
    let gz = item(&report, "a.gz");
    assert_eq!(gz["change"], "metadata");
    let r = reason_exact(gz, "header name");
    assert_eq!(r["kind"], "archive-metadata");
    assert_eq!(values(r), ("one.txt", "two.txt"));
    assert!(r["remedy"].as_str().unwrap().starts_with("gzip -n"), "{r}");
    assert_eq!(values(field(gz, None, "name")), ("one.txt", "two.txt"));
    // The same mtime on both sides: no other header field differs.
    assert_eq!(gz["reasons"].as_array().unwrap().len(), 1, "{gz:#}");
}

/// Runs `script` as root or under fakeroot (so that `chown` works); false if neither is
/// available.
fn sh_as_root(dir: &std::path::Path, script: &str) -> bool {
    if is_root() {
        sh(dir, script);
        return true;
    }
    let fakeroot = std::process::Command::new("fakeroot")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success());
    if fakeroot {
        sh(
            dir,
            &format!("fakeroot sh -c '{}'", script.replace('\'', "'\\''")),
        );
    }
    fakeroot
}

#[test]
fn ar_member_uid_and_mode_are_findings() {
    let dir = scratch("ar-owner");
    sh(
        &dir,
        "mkdir a b && echo obj > a/f.o && cp a/f.o b/f.o && touch -d @1700000000 a/f.o b/f.o && \
         chmod 644 a/f.o && chmod 600 b/f.o && (cd a && ar rcU ../a.a f.o)",
    );
    if !sh_as_root(&dir, "chown 2001:2002 b/f.o && cd b && ar rcU ../b.a f.o") {
        eprintln!("skipped: needs root or fakeroot to chown the member of side b");
        return;
    }
    let uid_a = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .unwrap();
    let (code, report) = diff_json(&dir.join("a.a"), &dir.join("b.a"), &[]);
    assert_eq!(code, 1);
    assert_eq!(items(&report).len(), 1, "{report:#}");
    let ar = item(&report, "a.a");
    assert_eq!(ar["kind"], "ar");
    let uid = reason_exact(ar, "uid of f.o");
    assert_eq!(uid["kind"], "archive-metadata");
    assert_eq!(values(uid), (uid_a.as_str(), "2001"));
    assert_eq!(uid["variation"], "user");
    assert!(uid["remedy"].as_str().unwrap().starts_with("ar D"), "{uid}");
    assert_eq!(values(reason_exact(ar, "gid of f.o")).1, "2002");
    let mode = reason_exact(ar, "mode of f.o");
    assert_eq!(
        (mode["kind"].as_str(), values(mode)),
        (Some("archive-metadata"), ("644", "600"))
    );
    assert_eq!(values(field(ar, Some("f.o"), "mode")), ("644", "600"));
}
