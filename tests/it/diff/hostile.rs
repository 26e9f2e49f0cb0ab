//! Hostile inputs for `reprobe diff` and for `check`, which explains with the same engine:
//! decompression bombs far larger than memory, sparse files of gigabytes, texts of a
//! million lines, binaries with scattered changes and a length change, zip archives whose
//! entries share their compressed data, FIFOs and devices.
//!
//! Every input is generated at test time. Each comparison runs the real binary under a
//! hang guard (a child still running after [`HANG_GUARD`] is killed, and the test fails)
//! and two memory guards: its address space is limited to [`ADDRESS_SPACE`] (an
//! allocation beyond it aborts the run, and the test fails), and its peak resident
//! memory (`VmHWM`, read while it runs) must stay under [`MEMORY_GUARD_KIB`]. Each must
//! give a clean, correct result.
//!
//! `REPROBE_BIN=target/release/reprobe cargo test --test diff_hostile -- --nocapture`
//! runs them against a release build and prints each run's time and peak memory.

use crate::common;
use crate::diff_support;

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diff_support::{item, items, scratch};
use serde_json::Value;

/// How long one run may take before it counts as a hang (a debug build, on a shared
/// machine: generous; the release timings are in docs/performance.md).
const HANG_GUARD: Duration = Duration::from_secs(240);
/// The most resident memory one run may reach: 1 GiB.
const MEMORY_GUARD_KIB: u64 = 1 << 20;
/// The address space one run may take (`RLIMIT_AS`): 1.5 GiB.
const ADDRESS_SPACE: u64 = 3 << 29;

/// What a guarded run gave.
struct Guarded {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `reprobe ARGS` in `dir` under the hang and memory guards; panics if either trips.
fn guarded(dir: &Path, args: &[&OsStr]) -> Guarded {
    let out_path = dir.join(".guarded.stdout");
    let err_path = dir.join(".guarded.stderr");
    // REPROBE_BIN runs another build of the binary (the release one, for its timings).
    let bin = std::env::var_os("REPROBE_BIN").unwrap_or(env!("CARGO_BIN_EXE_reprobe").into());
    let mut command = Command::new(&bin);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: ADDRESS_SPACE,
                rlim_max: ADDRESS_SPACE,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("REPROBE_STORE")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("run reprobe");
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    let mut peak_kib = 0;
    let status = loop {
        peak_kib = peak_kib.max(high_water_kib(pid));
        if let Some(status) = child.try_wait().expect("wait for reprobe") {
            break status;
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hang: reprobe {args:?} killed after {HANG_GUARD:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    let run = Guarded {
        code: status.code().unwrap_or_else(|| {
            -std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
        }),
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    assert!(
        run.code >= 0,
        "reprobe {args:?} died of signal {} (an allocation beyond {} MiB aborts): {}",
        -run.code,
        ADDRESS_SPACE >> 20,
        run.stderr
    );
    assert!(
        peak_kib <= MEMORY_GUARD_KIB,
        "memory: reprobe {args:?} reached {} MiB of resident memory (guard: {} MiB)",
        peak_kib / 1024,
        MEMORY_GUARD_KIB / 1024
    );
    eprintln!(
        "reprobe {args:?}: exit {}, {:.1} s, peak {} MiB",
        run.code,
        started.elapsed().as_secs_f64(),
        peak_kib / 1024
    );
    run
}

/// The peak resident memory (`VmHWM`) of process `pid` once it runs reprobe (before the
/// exec, the forked copy of the test counts the test's own memory); 0 when unknown.
fn high_water_kib(pid: libc::pid_t) -> u64 {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    if field("Name:") != Some("reprobe") {
        return 0;
    }
    field("VmHWM:")
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Time enough for a debug build on a loaded machine to explain everything, so that the
/// tests of heavy inputs check whole answers (the time budget has tests of its own).
const UNHURRIED: [&str; 2] = ["--max-time", "600"];

/// `reprobe diff --json A B EXTRA...` under the guards: the exit code and the report.
fn diff(a: &Path, b: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args: Vec<OsString> = vec!["diff".into(), "--json".into(), a.into(), b.into()];
    args.extend(extra.iter().map(OsString::from));
    let refs: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    let dir = a.parent().unwrap_or(Path::new("."));
    let run = guarded(dir, &refs);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}\nstderr: {}", run.stdout, run.stderr));
    (run.code, report)
}

fn notes(item: &Value) -> String {
    item["evidence"]["notes"].to_string()
}

fn kinds(item: &Value) -> Vec<String> {
    item["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| r["kind"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn first_range(item: &Value) -> (u64, u64) {
    let r = &item["evidence"]["byte_ranges"][0];
    (
        r["offset_a"]
            .as_u64()
            .unwrap_or_else(|| panic!("no byte range: {item:#}")),
        r["offset_b"].as_u64().unwrap_or(u64::MAX),
    )
}

fn metadata_field<'a>(item: &'a Value, field: &str) -> &'a Value {
    item["evidence"]["metadata"]
        .as_array()
        .and_then(|m| m.iter().find(|f| f["field"] == field))
        .unwrap_or_else(|| panic!("no field {field} in {item:#}"))
}

/// A gzip member of `len` zero bytes whose last byte is `last`.
fn zeros_member(len: usize, last: u8) -> Vec<u8> {
    let mut data = vec![0u8; len];
    data[len - 1] = last;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&data).unwrap();
    e.finish().unwrap()
}

/// A gzip file of `mib` MiB of zeros, written as one member per MiB (as `cat` of gzip
/// files gives); the last byte is `last`. A few KiB a GiB.
fn zeros_gzip(path: &Path, mib: usize, last: u8) {
    let zero = zeros_member(1 << 20, 0);
    let mut f = std::io::BufWriter::new(File::create(path).unwrap());
    for _ in 1..mib {
        f.write_all(&zero).unwrap();
    }
    f.write_all(&zeros_member(1 << 20, last)).unwrap();
    f.flush().unwrap();
}

#[test]
fn gzip_bombs_of_ten_gib_each_are_decompressed_as_streams_and_stop_at_the_limit() {
    let dir = scratch("hostile-gz10g");
    let (a, b) = (dir.join("a.gz"), dir.join("b.gz"));
    zeros_gzip(&a, 10 << 10, 0);
    zeros_gzip(&b, 10 << 10, 1);
    let (code, report) = diff(&a, &b, &[]);
    assert_eq!(code, 1, "{report:#}");
    let gz = item(&report, "a.gz");
    let notes = notes(gz);
    assert!(notes.contains("decompression stopped"), "{notes}");
    assert!(notes.contains("contents not compared"), "{notes}");
}

#[test]
fn decompressed_content_larger_than_memory_is_compared_in_place() {
    let dir = scratch("hostile-gz1g");
    let (a, b) = (dir.join("a.gz"), dir.join("b.gz"));
    zeros_gzip(&a, 1 << 10, 0);
    zeros_gzip(&b, 1 << 10, 1);
    let (code, report) = diff(&a, &b, &["--max-ratio", "100000"]);
    assert_eq!(code, 1, "{report:#}");
    let inner = item(&report, "a.gz!a");
    assert!(
        notes(inner).contains("compared as two streams, in place"),
        "{inner:#}"
    );
    let last = (1u64 << 30) - 1;
    assert_eq!(first_range(inner), (last, last), "{inner:#}");
    assert_eq!(items(&report).len(), 1, "{report:#}");
}

/// A sparse file of `len` bytes, with `bytes` written at `at`.
fn sparse(path: &Path, len: u64, at: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = File::create(path).unwrap();
    f.set_len(len).unwrap();
    if !bytes.is_empty() {
        f.write_all_at(bytes, at).unwrap();
    }
}

#[test]
fn sparse_files_of_two_gib_are_compared_in_place() {
    let dir = scratch("hostile-sparse");
    let size = 2u64 << 30;
    let at = size - 4096 + 7;
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    sparse(&a, size, 0, b"");
    sparse(&b, size, at, b"\x01");
    sparse(&c, size + 1, 0, b"");
    let (code, report) = diff(&a, &b, &[]);
    assert_eq!(code, 1, "{report:#}");
    let it = item(&report, "a");
    assert_eq!(first_range(it), (at, at), "{it:#}");
    assert!(
        notes(it).contains("compared as two streams, in place"),
        "{it:#}"
    );
    // Equal sparse files are found equal the same way.
    let (code, report) = diff(&a, &a, &[]);
    assert_eq!(code, 0, "{report:#}");
    // Another size: the first difference is where the shorter one ends, and the rest is
    // said not to be realigned.
    let (code, report) = diff(&a, &c, &[]);
    assert_eq!(code, 1, "{report:#}");
    let it = item(&report, "a");
    assert_eq!(first_range(it), (size, size), "{it:#}");
    let size_field = metadata_field(it, "size");
    assert_eq!(size_field["b"], format!("{} bytes", size + 1));
    assert!(
        notes(it).contains("not compared: budget (memory)"),
        "{it:#}"
    );
}

/// Lines `line N <hash>` for N in `range`.
fn numbered_lines(range: std::ops::Range<u64>) -> Vec<String> {
    range
        .map(|i| format!("line {i} {:016x}\n", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .collect()
}

#[test]
fn a_million_lines_with_a_moved_block_are_ordering_and_bounded() {
    let dir = scratch("hostile-moved");
    let n = 1_000_000;
    let lines = numbered_lines(0..n);
    let mut moved: Vec<String> = lines[n as usize / 3..].to_vec();
    moved.extend_from_slice(&lines[..n as usize / 3]);
    for (k, line) in moved.iter_mut().enumerate().step_by(100_000) {
        *line = format!("changed {k}\n");
    }
    let (a, b) = (dir.join("a.txt"), dir.join("b.txt"));
    fs::write(&a, lines.concat()).unwrap();
    fs::write(&b, moved.concat()).unwrap();
    let (code, report) = diff(&a, &b, &UNHURRIED);
    assert_eq!(code, 1, "{report:#}");
    let it = item(&report, "a.txt");
    let kinds = kinds(it);
    assert!(kinds.contains(&"ordering".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"random".to_string()), "{kinds:?}");
    let unified = it["evidence"]["unified_diff"]
        .as_str()
        .expect("a unified diff");
    assert!(
        unified.starts_with("--- a/a.txt\n+++ b/a.txt\n@@ -1,"),
        "{unified:.300}"
    );
}

#[test]
fn two_hundred_thousand_differing_uuid_lines_are_explained_within_bounds() {
    let dir = scratch("hostile-uuids");
    let uuid_lines = |seed: u64| {
        let mut rng = Rng(seed);
        (0..200_000)
            .map(|_| {
                let (x, y) = (rng.next(), rng.next());
                format!(
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}\n",
                    x >> 32,
                    (x >> 16) & 0xffff,
                    x & 0xfff,
                    y >> 52,
                    y & 0xffff_ffff_ffff
                )
            })
            .collect::<String>()
    };
    let (a, b) = (dir.join("ids.txt"), dir.join("ids2.txt"));
    fs::write(&a, uuid_lines(1)).unwrap();
    fs::write(&b, uuid_lines(2)).unwrap();
    let (code, report) = diff(&a, &b, &UNHURRIED);
    assert_eq!(code, 1, "{report:#}");
    let it = item(&report, "ids.txt");
    let reasons = it["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 50, "the most reasons an item keeps");
    assert!(reasons.iter().all(|r| r["high_entropy"] == true), "{it:#}");
    assert_eq!(reasons[0]["line"], 1);
    assert!(
        notes(it).contains("unified diff cut at 2000 lines"),
        "{it:#}"
    );
}

/// xorshift64*: fast reproducible pseudo-random bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// Random bytes, and a copy with 4 bytes changed every 64 KiB and 100 bytes inserted in
/// the middle; and the offset of the first change.
fn scattered(len: usize) -> (Vec<u8>, Vec<u8>, usize) {
    let a = Rng(7).bytes(len);
    let mut b = a.clone();
    let first = 1000;
    for at in (first..len).step_by(64 << 10) {
        for byte in &mut b[at..at + 4] {
            *byte ^= 0x5a;
        }
    }
    let middle = len / 2 + 123;
    b.splice(middle..middle, std::iter::repeat_n(0xee, 100));
    (a, b, first)
}

#[test]
fn a_binary_of_10_mib_with_scattered_changes_and_a_length_change_is_aligned() {
    let dir = scratch("hostile-bin10");
    let (a, b, first) = scattered(10 << 20);
    let (pa, pb) = (dir.join("a.bin"), dir.join("b.bin"));
    fs::write(&pa, &a).unwrap();
    fs::write(&pb, &b).unwrap();
    let (code, report) = diff(&pa, &pb, &UNHURRIED);
    assert_eq!(code, 1, "{report:#}");
    let it = item(&report, "a.bin");
    // Aligned: the ranges point at the changes, on both sides, before and after the
    // inserted bytes.
    let ranges = it["evidence"]["byte_ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 16, "{it:#}");
    assert_covers(&ranges[0], first as u64);
    // The second change is 64 KiB after the first, at the same offset on both sides.
    assert_covers(&ranges[1], first as u64 + (64 << 10));
    assert!(!it["reasons"].as_array().unwrap().is_empty(), "{it:#}");
}

#[test]
fn a_binary_of_100_mib_with_scattered_changes_and_a_length_change_is_bounded() {
    let dir = scratch("hostile-bin100");
    let (a, b, first) = scattered(100 << 20);
    let (pa, pb) = (dir.join("a.bin"), dir.join("b.bin"));
    fs::write(&pa, &a).unwrap();
    fs::write(&pb, &b).unwrap();
    drop((a, b));
    let (code, report) = diff(&pa, &pb, &[]);
    assert_eq!(code, 1, "{report:#}");
    let it = item(&report, "a.bin");
    assert_covers(&it["evidence"]["byte_ranges"][0], first as u64);
    // 200 MiB held, and the 1.7 million segments to align would not fit beside them in
    // 256 MiB: the differing part is explained as one span, and the note says so.
    assert!(
        notes(it).contains("not compared: budget (memory)"),
        "{it:#}"
    );
    assert_eq!(kinds(it), ["random"], "{it:#}");
}

/// Asserts that a byte range starts at the same offset on both sides and covers `at`.
fn assert_covers(range: &Value, at: u64) {
    let start = range["offset_a"].as_u64().expect("offset_a");
    let len = range["len_a"].as_u64().expect("len_a");
    assert_eq!(range["offset_b"].as_u64(), Some(start), "{range:#}");
    assert!(start <= at && at < start + len, "{at} not in {range:#}");
}

/// A zip archive whose `entries` central directory records all point at one local entry
/// holding `data` deflated: every entry expands to all of `data`.
fn overlapping_zip(entries: usize, data: &[u8], name_of_last: &str) -> Vec<u8> {
    let mut deflated = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflated.write_all(data).unwrap();
    let deflated = deflated.finish().unwrap();
    let mut crc = flate2::Crc::new();
    crc.update(data);
    let fixed = |out: &mut Vec<u8>, name: &[u8]| {
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&8u16.to_le_bytes()); // deflate
        out.extend_from_slice(&0u32.to_le_bytes()); // DOS time and date
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(deflated.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra length
    };
    let mut out = b"PK\x03\x04".to_vec();
    fixed(&mut out, b"0");
    out.extend_from_slice(b"0");
    out.extend_from_slice(&deflated);
    let central = out.len();
    for k in 0..entries {
        let name = if k + 1 == entries {
            name_of_last.to_string()
        } else {
            format!("{k}")
        };
        out.extend_from_slice(b"PK\x01\x02");
        out.extend_from_slice(&20u16.to_le_bytes()); // version made by
        fixed(&mut out, name.as_bytes());
        out.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        out.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        out.extend_from_slice(&0u32.to_le_bytes()); // every entry: the one local header
        out.extend_from_slice(name.as_bytes());
    }
    let size = out.len() - central;
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(entries as u16).to_le_bytes());
    out.extend_from_slice(&(entries as u16).to_le_bytes());
    out.extend_from_slice(&(size as u32).to_le_bytes());
    out.extend_from_slice(&(central as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[test]
fn zip_entries_sharing_their_compressed_data_are_a_bomb_and_not_expanded() {
    let dir = scratch("hostile-zip");
    // 15 MiB an entry: under the floor of the ratio limit of one entry (16 MiB), so
    // that only the overlap tells the bomb (10,000 entries: 150 GiB).
    let data = vec![0u8; 15 << 20];
    let (a, b) = (dir.join("a.zip"), dir.join("b.zip"));
    fs::write(&a, overlapping_zip(10_000, &data, "last-a")).unwrap();
    fs::write(&b, overlapping_zip(10_000, &data, "last-b")).unwrap();
    assert!(fs::metadata(&a).unwrap().len() < 1 << 20);
    let (code, report) = diff(&a, &b, &[]);
    assert_eq!(code, 1, "{report:#}");
    let zip = item(&report, "a.zip");
    let notes = notes(zip);
    assert!(notes.contains("side a: entries 0 and 1 overlap"), "{notes}");
    assert!(notes.contains("side b: entries 0 and 1 overlap"), "{notes}");
    assert!(notes.contains("zip bomb"), "{notes}");
}

#[test]
fn a_spent_time_budget_still_reports_every_difference() {
    let dir = scratch("hostile-no-time");
    let (a, b) = (dir.join("a"), dir.join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    for (name, x, y) in [
        (
            "one.txt",
            "built at 2026-11-26T10:00:00Z\n",
            "built at 2031-03-03T23:59:59Z\n",
        ),
        ("two.txt", "seed 8f3a9c\nsame\n", "seed 1b2d7e\nsame\n"),
        ("same.txt", "equal\n", "equal\n"),
    ] {
        fs::write(a.join(name), x).unwrap();
        fs::write(b.join(name), y).unwrap();
    }
    fs::write(a.join("blob.bin"), [0u8, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    fs::write(b.join("blob.bin"), [0u8, 1, 2, 9, 4, 5, 6, 7]).unwrap();
    let (code, report) = diff(&a, &b, &["--max-time", "0"]);
    assert_eq!(code, 1, "{report:#}");
    let paths: Vec<&str> = items(&report)
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["blob.bin", "one.txt", "two.txt"], "{report:#}");
    for path in paths {
        let it = item(&report, path);
        assert_eq!(it["change"], "modified");
        assert!(notes(it).contains("not compared: budget (time)"), "{it:#}");
    }
}

#[test]
fn a_small_memory_budget_compares_files_and_members_without_holding_them() {
    let dir = scratch("hostile-small-memory");
    let mut a = Rng(3).bytes(4 << 20);
    let mut b = a.clone();
    let changes = [100usize, 2 << 20, (4 << 20) - 1];
    for &at in &changes {
        b[at] ^= 0xff;
    }
    let (pa, pb) = (dir.join("a.bin"), dir.join("b.bin"));
    fs::write(&pa, &a).unwrap();
    fs::write(&pb, &b).unwrap();
    let (code, report) = diff(&pa, &pb, &["--max-memory", "1M"]);
    assert_eq!(code, 1, "{report:#}");
    let it = item(&report, "a.bin");
    assert!(
        notes(it).contains("compared as two streams, in place"),
        "{it:#}"
    );
    let ranges = it["evidence"]["byte_ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 3, "{it:#}");
    for (range, &at) in ranges.iter().zip(&changes) {
        assert_covers(range, at as u64);
    }
    // Members of a tar.gz larger than the budget: compared by digest, and said so.
    let tar_gz = |big: &[u8]| {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in [("big", big), ("small", &b"same\n"[..])] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            builder.append_data(&mut h, name, data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    };
    a.truncate(2 << 20);
    b.truncate(2 << 20);
    let (ta, tb) = (dir.join("a.tar.gz"), dir.join("b.tar.gz"));
    fs::write(&ta, tar_gz(&a)).unwrap();
    fs::write(&tb, tar_gz(&b)).unwrap();
    let (code, report) = diff(&ta, &tb, &["--max-memory", "1M"]);
    assert_eq!(code, 1, "{report:#}");
    let big = item(&report, "a.tar.gz!/big");
    assert!(
        notes(big).contains("not compared: budget (memory)"),
        "{big:#}"
    );
    let content = metadata_field(big, "content");
    assert!(
        content["a"]
            .as_str()
            .unwrap()
            .starts_with("2097152 bytes, sha256 "),
        "{big:#}"
    );
    assert_covers(&big["evidence"]["byte_ranges"][0], changes[0] as u64);
    assert_eq!(
        items(&report).len(),
        1,
        "only the big member differs: {report:#}"
    );
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
}

#[test]
fn fifos_and_devices_given_as_inputs_are_compared_by_type_and_never_opened() {
    let dir = scratch("hostile-special");
    let (f1, f2, file) = (dir.join("f1"), dir.join("f2"), dir.join("file"));
    mkfifo(&f1);
    mkfifo(&f2);
    fs::write(&file, "x").unwrap();
    // Opening a FIFO to read it would wait for a writer forever.
    let (code, report) = diff(&f1, &f2, &[]);
    assert_eq!(code, 0, "{report:#}");
    // Reading /dev/zero would never end.
    let zero = Path::new("/dev/zero");
    let (code, report) = diff(zero, zero, &[]);
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = diff(zero, Path::new("/dev/null"), &[]);
    assert_eq!(code, 1, "{report:#}");
    let device = metadata_field(item(&report, "zero"), "device");
    assert_eq!(
        (device["a"].as_str(), device["b"].as_str()),
        (Some("1:5"), Some("1:3"))
    );
    let (code, report) = diff(zero, &file, &[]);
    assert_eq!(code, 1, "{report:#}");
    let kind = metadata_field(item(&report, "zero"), "type");
    assert_eq!(
        (kind["a"].as_str(), kind["b"].as_str()),
        (Some("character device"), Some("file"))
    );
    let (code, report) = diff(&f1, zero, &[]);
    assert_eq!(code, 1, "{report:#}");
    let kind = metadata_field(item(&report, "f1"), "type");
    assert_eq!(
        (kind["a"].as_str(), kind["b"].as_str()),
        (Some("fifo"), Some("character device"))
    );
}

/// Makes a character device `path` with this number; false if not allowed (not root).
fn mknod_char(path: &Path, major: u64, minor: u64) -> bool {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o600),
        makedev(major, minor),
    )
    .is_ok()
}

#[test]
fn trees_that_differ_only_in_special_files_differ() {
    let dir = scratch("hostile-special-trees");
    let (a, b) = (dir.join("a"), dir.join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    mkfifo(&a.join("p"));
    mkfifo(&b.join("p"));
    let (code, report) = diff(&a, &b, &[]);
    assert_eq!(code, 0, "{report:#}");
    // A FIFO against a socket: another type of special file.
    mkfifo(&a.join("s"));
    let _socket = std::os::unix::net::UnixListener::bind(b.join("s")).expect("bind a socket");
    let (code, report) = diff(&a, &b, &[]);
    assert_eq!(code, 1, "{report:#}");
    let kind = metadata_field(item(&report, "s"), "type");
    assert_eq!(
        (kind["a"].as_str(), kind["b"].as_str()),
        (Some("fifo"), Some("socket"))
    );
    // Devices that differ only in their number (making them needs root).
    let (da, db) = (dir.join("da"), dir.join("db"));
    fs::create_dir_all(&da).unwrap();
    fs::create_dir_all(&db).unwrap();
    if !mknod_char(&da.join("null"), 1, 3) {
        eprintln!("skipped the device numbers: mknod needs root");
        return;
    }
    assert!(mknod_char(&db.join("null"), 1, 3));
    let (code, report) = diff(&da, &db, &[]);
    assert_eq!(code, 0, "{report:#}");
    fs::remove_file(db.join("null")).unwrap();
    assert!(mknod_char(&db.join("null"), 1, 5));
    let (code, report) = diff(&da, &db, &[]);
    assert_eq!(code, 1, "{report:#}");
    let it = item(&report, "null");
    assert_eq!(it["kind"], "special");
    let device = metadata_field(it, "device");
    assert_eq!(
        (device["a"].as_str(), device["b"].as_str()),
        (Some("1:3"), Some("1:5"))
    );
}

#[test]
fn check_of_a_step_printing_200k_uuids_is_explained_within_bounds() {
    let graph = r#"[env]
PATH = "/usr/bin:/bin"

[steps.ids]
run = ["python3", "-c", "import uuid; open('ids.txt', 'w').write(''.join(str(uuid.uuid4()) + '\\n' for _ in range(200000)))"]
outputs = ["ids.txt"]
tools = ["python3"]
"#;
    let project = common::project(graph, &[]);
    let args: Vec<&OsStr> = ["check", "--json"].iter().map(OsStr::new).collect();
    let run = guarded(project.path(), &args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", run.stdout));
    let step = &report["steps"][0];
    assert_eq!(step["verdict"], "nondeterministic", "{step:#}");
    let text = step.to_string();
    assert!(
        text.contains("high-entropy (uuid): looks random"),
        "{step:#}"
    );
}
