//! Hostile archives for the diff engine, through `reprobe diff`: `../` and absolute
//! member names, device files, hard links and symlinks to outside, thousands of nested
//! levels, decompression bombs, garbage after a gzip stream. Each must give a finding
//! (exit 0 or 1, JSON on stdout), never a crash, a hang or a file written anywhere: the
//! diff engine works in memory, so neither the working directory nor the temporary
//! directory may gain a file.
//!
//! Hostile graph files and `build.ninja` files for the parsers, through `reprobe build`
//! and `reprobe import ninja` (the second half of this file): numbers too large for any
//! limit, variables that double forty times, FIFOs where files belong, symlinked outputs,
//! self-loops and cycles 100,000 steps long. Each must end in a clean refusal (exit 2,
//! naming the file, the line or step where there is one, and the problem) or a correct
//! result, within a hang guard: a child still running after 60 s is killed and fails.

use crate::common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Most time one hostile comparison may take.
const DEADLINE: Duration = Duration::from_secs(120);

/// A place to run one comparison: the inputs in `inputs/`, an empty working directory
/// `cwd/sub/` (so `../` lands in `cwd/`), and an empty `tmp/` as TMPDIR.
struct Arena {
    root: tempfile::TempDir,
}

impl Arena {
    fn new() -> Arena {
        let root = tempfile::tempdir().unwrap();
        for sub in ["inputs", "cwd/sub", "tmp"] {
            std::fs::create_dir_all(root.path().join(sub)).unwrap();
        }
        Arena { root }
    }

    fn input(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.root.path().join("inputs").join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Runs `reprobe diff --json A B` (plus `extra` flags) and checks the rules.
    fn diff(&self, a: &Path, b: &Path, extra: &[&str]) -> Output {
        let out = run_with_deadline(
            reprobe()
                .args(["diff", "--json"])
                .args(extra)
                .arg(a)
                .arg(b)
                .current_dir(self.root.path().join("cwd/sub"))
                .env("TMPDIR", self.root.path().join("tmp")),
        );
        let status = code(&out);
        assert!(
            status == 0 || status == 1,
            "exit {status} (a crash?): {}",
            stderr(&out)
        );
        let report = json(&out);
        assert_eq!(report["schema"], "reprobe/report/1");
        assert_eq!(
            self.files_below("cwd"),
            Vec::<PathBuf>::new(),
            "written in cwd"
        );
        assert_eq!(
            self.files_below("tmp"),
            Vec::<PathBuf>::new(),
            "written in TMPDIR"
        );
        out
    }

    fn files_below(&self, sub: &str) -> Vec<PathBuf> {
        walkdir::WalkDir::new(self.root.path().join(sub))
            .min_depth(1)
            .into_iter()
            .flatten()
            .filter(|e| !e.file_type().is_dir())
            .map(|e| e.into_path())
            .collect()
    }
}

fn run_with_deadline(cmd: &mut std::process::Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("reprobe diff did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One raw tar member: any name, any type, no checks by the tar crate's builder.
struct Raw<'a> {
    name: &'a [u8],
    kind: tar::EntryType,
    link: &'a [u8],
    data: &'a [u8],
}

fn raw(name: &'static str, data: &'static [u8]) -> Raw<'static> {
    Raw {
        name: name.as_bytes(),
        kind: tar::EntryType::Regular,
        link: b"",
        data,
    }
}

fn raw_tar(members: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut h = tar::Header::new_ustar();
        {
            let old = h.as_old_mut();
            old.name[..m.name.len()].copy_from_slice(m.name);
            old.linkname[..m.link.len()].copy_from_slice(m.link);
        }
        h.set_entry_type(m.kind);
        h.set_size(m.data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        if matches!(m.kind, tar::EntryType::Char | tar::EntryType::Block) {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(m.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn gzip(data: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Asserts that the report mentions `needle` somewhere (a path, a note, a field).
fn mentions(out: &Output, needle: &str) {
    assert!(
        stdout(out).contains(needle),
        "`{needle}` not in the report:\n{}",
        &stdout(out)[..stdout(out).len().min(4000)]
    );
}

#[test]
fn tar_members_named_with_dotdot_are_compared_in_memory_and_never_extracted() {
    let arena = Arena::new();
    let members = |text: &'static [u8]| {
        raw_tar(&[
            raw("../evil.txt", text),
            raw("../../evil2.txt", text),
            raw("a/../../evil3.txt", text),
        ])
    };
    let a = arena.input("a.tar", &members(b"one\n"));
    let b = arena.input("b.tar", &members(b"two\n"));
    let out = arena.diff(&a, &b, &[]);
    assert_eq!(code(&out), 1);
    mentions(&out, "evil.txt");
    assert!(!arena.root.path().join("evil.txt").exists());
}

#[test]
fn tar_members_with_absolute_names_are_compared_in_memory() {
    let arena = Arena::new();
    let target = format!("/tmp/reprobe-hostile-{}.txt", std::process::id());
    let name: &'static str = Box::leak(target.clone().into_boxed_str());
    let a = arena.input(
        "a.tar",
        &raw_tar(&[raw(name, b"one\n"), raw("/etc/passwd", b"x")]),
    );
    let b = arena.input(
        "b.tar",
        &raw_tar(&[raw(name, b"two\n"), raw("/etc/passwd", b"y")]),
    );
    let out = arena.diff(&a, &b, &[]);
    assert_eq!(code(&out), 1);
    mentions(&out, "etc/passwd");
    assert!(!Path::new(&target).exists(), "{target} was written");
}

#[test]
fn tar_device_files_and_fifos_are_reported_as_special_members() {
    let arena = Arena::new();
    let devices = |extra: &'static str| {
        raw_tar(&[
            Raw {
                name: b"dev/null",
                kind: tar::EntryType::Char,
                link: b"",
                data: b"",
            },
            Raw {
                name: b"dev/sda",
                kind: tar::EntryType::Block,
                link: b"",
                data: b"",
            },
            Raw {
                name: b"fifo",
                kind: tar::EntryType::Fifo,
                link: b"",
                data: b"",
            },
            raw(extra, b"x"),
        ])
    };
    let a = arena.input("a.tar", &devices("only-a"));
    let b = arena.input("b.tar", &devices("only-b"));
    let out = arena.diff(&a, &b, &[]);
    assert_eq!(code(&out), 1);
    mentions(&out, "only-a");
}

#[test]
fn hard_links_and_symlinks_pointing_outside_are_never_followed() {
    let arena = Arena::new();
    let links = |target: &'static [u8]| {
        raw_tar(&[
            Raw {
                name: b"hard",
                kind: tar::EntryType::Link,
                link: target,
                data: b"",
            },
            Raw {
                name: b"soft",
                kind: tar::EntryType::Symlink,
                link: target,
                data: b"",
            },
            Raw {
                name: b"up",
                kind: tar::EntryType::Link,
                link: b"../../../../etc/shadow",
                data: b"",
            },
        ])
    };
    let a = arena.input("a.tar", &links(b"/etc/shadow"));
    let b = arena.input("b.tar", &links(b"/etc/passwd"));
    let out = arena.diff(&a, &b, &[]);
    assert_eq!(code(&out), 1);
    assert!(
        !stdout(&out).contains("root:"),
        "a host file's content reached the report"
    );
}

/// A gzip stream of `data` in stored (uncompressed) deflate blocks, written by hand:
/// ten thousand levels of it are built in well under a second.
fn stored_gzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65535 * 5 + 32);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = chunk.len() as u16;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Ten thousand gzip streams, one inside the other, around `payload`.
fn nested_gzip(payload: &[u8]) -> Vec<u8> {
    let mut data = payload.to_vec();
    for _ in 0..10_000 {
        data = stored_gzip(&data);
    }
    data
}

#[test]
fn hand_made_stored_gzip_decodes() {
    use std::io::Read;
    let mut out = Vec::new();
    let data = vec![7u8; 200_000];
    flate2::read::GzDecoder::new(&stored_gzip(&data)[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, data);
}

#[test]
fn ten_thousand_nested_gzip_levels_stop_at_the_depth_limit() {
    let arena = Arena::new();
    let a = arena.input("a.gz", &nested_gzip(b"one\n"));
    let b = arena.input("b.gz", &nested_gzip(b"two\n"));
    let out = arena.diff(&a, &b, &[]);
    assert_eq!(code(&out), 1);
    mentions(&out, "nesting depth limit");
}

#[test]
fn ten_thousand_nested_levels_with_a_huge_max_depth_do_not_overflow_the_stack() {
    let arena = Arena::new();
    let a = arena.input("a.gz", &nested_gzip(b"one\n"));
    let b = arena.input("b.gz", &nested_gzip(b"two\n"));
    let out = arena.diff(&a, &b, &["--max-depth", "1000000"]);
    assert_eq!(code(&out), 1);
    mentions(&out, "nesting depth limit");
}

#[test]
fn five_hundred_nested_tar_levels_are_bounded() {
    let arena = Arena::new();
    let nest = |payload: &'static [u8]| {
        let mut data = payload.to_vec();
        for _ in 0..500 {
            let inner: &'static [u8] = Box::leak(data.into_boxed_slice());
            data = raw_tar(&[raw("inner.tar", inner)]);
        }
        data
    };
    let a = arena.input("a.tar", &nest(b"one\n"));
    let b = arena.input("b.tar", &nest(b"two\n"));
    for extra in [&[][..], &["--max-depth", "1000000"][..]] {
        let out = arena.diff(&a, &b, extra);
        assert_eq!(code(&out), 1);
        mentions(&out, "nesting depth limit");
    }
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9));
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn a_zip_bomb_is_a_finding_not_an_exhausted_machine() {
    let arena = Arena::new();
    let zeros = vec![0u8; 256 << 20];
    let mut ones = zeros.clone();
    ones[0] = 1;
    let a = arena.input("a.zip", &zip_of(&[("bomb", &zeros), ("../evil", b"x")]));
    let b = arena.input("b.zip", &zip_of(&[("bomb", &ones), ("../evil", b"y")]));
    let out = arena.diff(&a, &b, &[]);
    assert_eq!(code(&out), 1);
    mentions(&out, "decompression bomb");
}

#[test]
fn a_gzip_bomb_is_stopped_by_the_ratio_limit() {
    let arena = Arena::new();
    let zeros = vec![0u8; 256 << 20];
    let mut ones = zeros.clone();
    ones[zeros.len() - 1] = 1;
    let a = arena.input("a.gz", &gzip(&zeros, flate2::Compression::best()));
    let b = arena.input("b.gz", &gzip(&ones, flate2::Compression::best()));
    let out = arena.diff(&a, &b, &[]);
    assert_eq!(code(&out), 1);
    mentions(&out, "decompression bomb");
}

#[test]
fn garbage_after_a_gzip_stream_is_noted() {
    let arena = Arena::new();
    let mut a = gzip(b"same content\n", flate2::Compression::default());
    let mut b = a.clone();
    a.extend_from_slice(b"GARBAGE\x00\x01trailing bytes");
    b.extend_from_slice(b"\x1f\x8bnot really a second member");
    let a = arena.input("a.gz", &a);
    let b = arena.input("b.gz", &b);
    let out = arena.diff(&a, &b, &[]);
    assert_eq!(code(&out), 1);
    // The stream is read whole and compared (its content is the same); what follows it
    // is garbage, not a corrupt stream.
    mentions(&out, "side a: 23 bytes of garbage after the gzip stream");
    mentions(&out, "side b: 28 bytes of garbage after the gzip stream");
    let report = stdout(&out);
    assert!(!report.contains("invalid gzip header"), "{report}");
    assert!(!report.contains("corrupt or truncated"), "{report}");
    assert!(
        !report.contains("a.gz!"),
        "the equal contents are no item: {report}"
    );
}

#[test]
fn truncated_and_lying_archives_give_findings() {
    let arena = Arena::new();
    let full = raw_tar(&[raw("a.txt", b"hello world\n"), raw("b.txt", b"more\n")]);
    // A header that claims 8 GiB of content.
    let mut liar = raw_tar(&[raw("big", b"")]);
    liar[124..136].copy_from_slice(b"77777777777\0");
    let h = tar::Header::from_byte_slice(&liar[..512]);
    let mut fixed = h.clone();
    fixed.set_cksum();
    liar[..512].copy_from_slice(fixed.as_bytes());
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("cut.tar", full.clone(), full[..700].to_vec()),
        ("liar.tar", liar.clone(), full.clone()),
        ("cut.gz", gzip(&full, flate2::Compression::fast()), {
            let g = gzip(&full, flate2::Compression::fast());
            g[..g.len() / 2].to_vec()
        }),
        ("cut.zip", zip_of(&[("x", b"abc")]), {
            let z = zip_of(&[("x", b"abd")]);
            z[..z.len() - 10].to_vec()
        }),
        (
            "cut.a",
            b"!<arch>\nfoo.o/          0           0     0     644     99999     `\nxx".to_vec(),
            b"!<arch>\n".to_vec(),
        ),
    ];
    for (name, a_bytes, b_bytes) in cases {
        let a = arena.input(&format!("a-{name}"), &a_bytes);
        let b = arena.input(&format!("b-{name}"), &b_bytes);
        let out = arena.diff(&a, &b, &[]);
        assert_eq!(code(&out), 1, "{name}");
    }
}

#[test]
fn ar_members_named_with_dotdot_are_compared_in_memory() {
    let arena = Arena::new();
    let archive = |data: &[u8]| {
        let mut builder = ar::Builder::new(Vec::new());
        let header = ar::Header::new(b"../evil.o".to_vec(), data.len() as u64);
        builder.append(&header, data).unwrap();
        builder.into_inner().unwrap()
    };
    let a = arena.input("a.a", &archive(b"one"));
    let b = arena.input("b.a", &archive(b"two"));
    let out = arena.diff(&a, &b, &[]);
    assert_eq!(code(&out), 1);
    mentions(&out, "evil.o");
}

// ---- Hostile graph files and build.ninja files ----

/// A child still running after this long is killed and its test fails: a hang, not a
/// slow answer (every case here finishes in well under a second).
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Runs `cmd` (stdin empty, output captured) under [`HANG_GUARD`].
fn run_guarded(cmd: &mut std::process::Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (done, finished) = std::sync::mpsc::channel();
    // The output is read while the child runs, so a large one cannot block it.
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match finished.recv_timeout(HANG_GUARD) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!("reprobe hung: still running after {HANG_GUARD:?}, killed");
        }
    }
}

/// `reprobe ARGS` in `dir`, under the hang guard.
fn reprobe_in(dir: &Path, args: &[&str]) -> Output {
    run_guarded(reprobe().args(args).current_dir(dir))
}

/// Asserts a clean refusal: exit 2, no panic, and every `needle` in the message.
fn refused(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(code(out), 2, "expected exit 2, got {}: {err}", code(out));
    assert!(!err.contains("panicked"), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` not in: {err}");
    }
}

/// A graph of one step `a` with `extra` lines in it.
fn one_step_graph(extra: &str) -> String {
    format!("[steps.a]\nrun = \"true\"\noutputs = [\"a\"]\n{extra}\n")
}

#[test]
fn numbers_too_large_for_any_limit_are_refused_naming_the_step_and_the_key() {
    let max = "18446744073709551615";
    let cases = [
        // The value that panicked: 2^64 seconds does not fit in a Duration.
        (
            "timeout = \"18446744073709551616s\"".to_string(),
            "is longer than any timeout",
        ),
        (
            format!("timeout = \"{max}h\""),
            "is longer than any timeout",
        ),
        (
            format!("timeout = \"{}m\"", "9".repeat(60)),
            "is longer than any timeout",
        ),
        (
            format!("timeout = \"{max}.5m\""),
            "is longer than any timeout",
        ),
        ("timeout = 0".to_string(), "`timeout = 0` is zero"),
        ("timeout = \"0.0000000001s\"".to_string(), "is zero"),
        ("timeout = -1".to_string(), "a timeout is whole seconds"),
        (
            "memory = \"16777216T\"".to_string(),
            "is more than the largest limit",
        ),
        (
            "disk = \"18446744073709551616\"".to_string(),
            "is more than the largest limit",
        ),
        (
            format!("disk = \"{}G\"", "1".repeat(40)),
            "is more than the largest limit",
        ),
        ("memory = \"0.5\"".to_string(), "is zero"),
        (
            "memory = -1".to_string(),
            "a size is a whole number of bytes",
        ),
        (
            "pids = 9223372036854775807".to_string(),
            "is more processes than Linux",
        ),
        // Beyond TOML's integers: the TOML reader says so, with the line.
        (format!("pids = {max}0"), "line 4"),
        (format!("timeout = {max}"), "line 4"),
    ];
    for (line, needle) in cases {
        let dir = project(&one_step_graph(&line), &[]);
        let out = reprobe_in(dir.path(), &["build"]);
        refused(&out, &["reprobe.toml", "step `a`", needle]);
    }
}

/// A build file of one edge, and the first line of every graph `import` writes.
const ONE_EDGE: &str = "rule r\n  command = touch $out\nbuild o: r\n";
const MARK: &str = "# Generated by `reprobe import ninja`";

/// The names in a directory, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn import_never_writes_through_a_symlinked_graph_file() {
    // The victim even looks like a generated graph: without --force it was overwritten
    // through the link too, since only its first line was looked at.
    let victim_text = format!("{MARK} from elsewhere.\nsecret = 1\n");
    for force in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let build = dir.path().join("b");
        std::fs::create_dir(&build).unwrap();
        std::fs::write(dir.path().join("victim.toml"), &victim_text).unwrap();
        std::os::unix::fs::symlink("../victim.toml", build.join("reprobe.toml")).unwrap();
        std::fs::write(build.join("build.ninja"), ONE_EDGE).unwrap();
        let mut args = vec!["import", "ninja", "b/build.ninja"];
        if force {
            args.push("--force");
        }
        let out = reprobe_in(dir.path(), &args);
        let victim = std::fs::read_to_string(dir.path().join("victim.toml")).unwrap();
        assert_eq!(victim, victim_text, "the link's target was written");
        let link = std::fs::symlink_metadata(build.join("reprobe.toml")).unwrap();
        if force {
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            assert!(link.file_type().is_file(), "the link itself is replaced");
            let graph = std::fs::read_to_string(build.join("reprobe.toml")).unwrap();
            assert!(
                graph.starts_with(MARK) && graph.contains("[steps.o]"),
                "{graph}"
            );
        } else {
            refused(&out, &["reprobe.toml", "is a symbolic link", "--force"]);
            assert!(link.file_type().is_symlink());
        }
        // No temporary file is left beside the graph.
        assert_eq!(names_in(&build), ["build.ninja", "reprobe.toml"]);
    }
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
}

#[test]
fn fifos_named_by_build_files_are_refused_not_read() {
    for statement in ["include", "subninja"] {
        let dir = tempfile::tempdir().unwrap();
        mkfifo(&dir.path().join("inc.ninja"));
        let text = format!("{statement} inc.ninja\n{ONE_EDGE}");
        std::fs::write(dir.path().join("build.ninja"), text).unwrap();
        let out = reprobe_in(dir.path(), &["import", "ninja", "build.ninja"]);
        refused(
            &out,
            &["build.ninja:1: loading 'inc.ninja': is a FIFO, not a regular file"],
        );
    }
    // The build file itself, through `import` and through `build --ninja`.
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("build.ninja"));
    for args in [
        &["import", "ninja", "build.ninja"][..],
        &["build", "--ninja", "build.ninja"],
    ] {
        let out = reprobe_in(dir.path(), args);
        refused(&out, &["build.ninja: cannot read: is a FIFO"]);
    }
    // A depfile that is a FIFO is no depfile: the import goes on without it.
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("o.d"));
    let text = "rule r\n  command = touch $out\n  depfile = $out.d\nbuild o: r\n";
    std::fs::write(dir.path().join("build.ninja"), text).unwrap();
    let out = reprobe_in(dir.path(), &["import", "ninja", "build.ninja"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A FIFO where the graph is to be written is not replaced, even with --force.
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("reprobe.toml"));
    std::fs::write(dir.path().join("build.ninja"), ONE_EDGE).unwrap();
    let out = reprobe_in(dir.path(), &["import", "ninja", "--force", "build.ninja"]);
    refused(&out, &["reprobe.toml: is a FIFO, not a graph file"]);
}

#[test]
fn fifos_and_devices_in_graph_files_are_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("g")).unwrap();
    mkfifo(&dir.path().join("g/reprobe.toml"));
    let out = reprobe_in(dir.path(), &["build", "g"]);
    refused(
        &out,
        &["g/reprobe.toml: cannot read the graph file: is a FIFO, not a regular file"],
    );
    // Inputs: a FIFO named, one inside a directory input, a link to a device in a glob.
    for (input, needle) in [
        ("ff", "input `ff` is a FIFO, not a regular file"),
        ("d", "input `d` takes in `d/ff`, a FIFO"),
        ("z/*", "input `z/*` takes in `z/zero`, a character device"),
    ] {
        let dir = project(
            &format!(
                "[steps.a]\nrun = \"cat {input} > a\"\ninputs = [\"{input}\"]\noutputs = [\"a\"]\n"
            ),
            &[],
        );
        mkfifo(&dir.path().join("ff"));
        std::fs::create_dir(dir.path().join("d")).unwrap();
        mkfifo(&dir.path().join("d/ff"));
        std::fs::create_dir(dir.path().join("z")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("z/zero")).unwrap();
        let out = reprobe_in(dir.path(), &["build"]);
        refused(&out, &["reprobe.toml", "step `a`", needle]);
    }
}

#[test]
fn forty_doublings_of_a_variable_are_refused_naming_the_variable_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("v0 = xxxxxxxx\n");
    for i in 1..=40 {
        text.push_str(&format!("v{i} = $v{}$v{}\n", i - 1, i - 1));
    }
    text.push_str("rule r\n  command = echo $v40 > $out\nbuild o: r\n");
    std::fs::write(dir.path().join("build.ninja"), text).unwrap();
    for args in [
        &["import", "ninja", "build.ninja"][..],
        &["build", "--ninja", "build.ninja"],
    ] {
        let out = reprobe_in(dir.path(), args);
        // 8 bytes doubled 23 times is 64 MiB: `v24` (line 25) would pass it.
        refused(
            &out,
            &[
                "build.ninja:25: variable 'v24' would be longer than 64 MiB",
                "$v23",
            ],
        );
    }
}

/// Writes `text` as `build.ninja` in a new directory and imports it.
fn import_text(text: &str) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("build.ninja"), text).unwrap();
    let out = reprobe_in(dir.path(), &["import", "ninja", "build.ninja"]);
    (dir, out)
}

#[test]
fn an_edge_that_needs_itself_is_a_cycle_as_in_ninja() {
    let rule = "rule r\n  command = touch $out\n";
    // What `ninja` itself says of each (Ninja 1.11).
    let cycles = [
        (
            "build a: r a\ndefault a\n",
            "build.ninja:3: dependency cycle: a -> a",
        ),
        (
            "build a: r | a\ndefault a\n",
            "build.ninja:3: dependency cycle: a -> a",
        ),
        (
            "build a: r || a\ndefault a\n",
            "build.ninja:3: dependency cycle: a -> a",
        ),
        (
            "build a: r a\nbuild all: phony a\n",
            "build.ninja:3: dependency cycle: a -> a",
        ),
        (
            "build a: r b\nbuild b: r c\nbuild c: r a\nbuild all: phony a\ndefault all\n",
            "build.ninja:5: dependency cycle: a -> b -> c -> a",
        ),
        (
            "build a: phony b\nbuild b: phony a\nbuild o: r a\ndefault o\n",
            "build.ninja:4: dependency cycle: a -> b -> a",
        ),
    ];
    for (edges, message) in cycles {
        let (_dir, out) = import_text(&format!("{rule}{edges}"));
        refused(&out, &[message]);
    }
    // Ninja drops a phony alias's mention of itself (old CMake wrote those), and a
    // validation that needs the edge it validates is no cycle.
    for edges in [
        "build a: phony a\nbuild o: r a\ndefault o\n",
        "build o: r |@ v\nbuild v: r o\ndefault o\n",
    ] {
        let (_dir, out) = import_text(&format!("{rule}{edges}"));
        assert_eq!(code(&out), 0, "{edges}: {}", stderr(&out));
    }
}

/// Asserts a short message (a cycle of 100,000 steps once printed a megabyte, and a
/// 5 MB line was quoted whole).
fn short_message(out: &Output) {
    assert!(stderr(out).len() < 4096, "{} bytes", stderr(out).len());
}

#[test]
fn a_cycle_of_100000_steps_is_found_and_shown_shortened() {
    let n = 100_000;
    let mut graph = String::new();
    for i in 0..n {
        let next = (i + 1) % n;
        graph.push_str(&format!(
            "[steps.s{i}]\nrun = \"true\"\noutputs = [\"o{i}\"]\ndeps = [\"s{next}\"]\n"
        ));
    }
    let dir = project(&graph, &[]);
    let out = reprobe_in(dir.path(), &["build"]);
    refused(
        &out,
        &[
            "reprobe.toml: step `s0`: dependency cycle of 100000 steps: s0 -> s1 -> ",
            " -> s9 -> ... (99989 more) ... -> s99999 -> s0",
        ],
    );
    short_message(&out);

    let mut ninja = String::from("rule r\n  command = touch $out\n");
    for i in 0..n {
        ninja.push_str(&format!("build s{i}: r s{}\n", (i + 1) % n));
    }
    ninja.push_str("build all: phony s0\ndefault all\n");
    let (_dir, out) = import_text(&ninja);
    refused(
        &out,
        &[
            "build.ninja:100002: dependency cycle of 100000 files: s0 -> s1 -> ",
            " -> s9 -> ... (99989 more) ... -> s99999 -> s0",
        ],
    );
    short_message(&out);
}

#[test]
fn long_and_doubling_chains_of_phony_targets_import() {
    let rule = "rule r\n  command = touch $out\n";
    // 100,000 phony edges in a chain (expanded by recursion, they overflowed the stack),
    // and 40 phony edges each naming the one before twice (2^40 paths, undeduplicated).
    let long = (1..100_000)
        .map(|i| format!("build p{i}: phony p{}\n", i - 1))
        .collect::<String>();
    let doubling = (1..40)
        .map(|i| format!("build p{i}: phony p{} p{}\n", i - 1, i - 1))
        .collect::<String>();
    for (chain, last) in [(long, 99_999), (doubling, 39)] {
        let text = format!("{rule}build p0: phony src\n{chain}build o: r p{last}\ndefault o\n");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("src"), "").unwrap();
        std::fs::write(dir.path().join("build.ninja"), text).unwrap();
        let out = reprobe_in(dir.path(), &["import", "ninja", "build.ninja"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let graph = std::fs::read_to_string(dir.path().join("reprobe.toml")).unwrap();
        assert!(graph.contains("inputs = [\"src\"]"), "{graph}");
    }
}

#[test]
fn very_long_lines_and_names_make_short_messages() {
    let long = "x".repeat(5_000_000);
    let graphs = [
        // A syntax error at the end of a 5 MB line: the line was quoted whole, twice.
        (
            format!("[steps.a]\nrun = \"{long}\" junk\n"),
            "line 2, column 5000010",
        ),
        (
            format!("[steps.\"{long}/\"]\nrun = \"x\"\noutputs = [\"a\"]\n"),
            "xxx/`: step name is not allowed",
        ),
    ];
    for (graph, needle) in graphs {
        let dir = project(&graph, &[]);
        let out = reprobe_in(dir.path(), &["build"]);
        refused(&out, &["reprobe.toml", needle]);
        short_message(&out);
        assert!(stderr(&out).contains("bytes left out") || needle.starts_with("line"));
    }
    let rule = "rule r\n  command = x\nbuild o: r\n";
    let ninjas = [
        (
            format!("{rule}default {long}\n"),
            "build.ninja:4: unknown target 'xxx",
        ),
        (
            format!("{rule}build {long}: r\nbuild {long}: r\n"),
            "build.ninja:5: multiple rules generate xxx",
        ),
        (
            format!("{rule}{long}\n"),
            "build.ninja:4: expected '=', got newline",
        ),
        (
            format!("{rule}x {long}\n"),
            "build.ninja:4: expected '=', got 'xxx",
        ),
    ];
    for (text, needle) in ninjas {
        let (_dir, out) = import_text(&text);
        refused(&out, &[needle]);
        short_message(&out);
    }
}

#[test]
fn statements_with_100000_outputs_or_bindings_import() {
    let rule = "rule r\n  command = touch $out\n";
    let n = 100_000;
    // Outputs were deduplicated, and their directories compared, pairwise; bindings were
    // looked up by a scan for every path: minutes each.
    let outputs: String = (0..n).map(|i| format!(" d{i}/o{i}")).collect();
    let paths: String = (0..n).map(|i| format!(" $v{i}")).collect();
    let bindings: String = (0..n).map(|i| format!("  v{i} = p{i}\n")).collect();
    for (text, steps) in [
        (format!("{rule}build{outputs}: r\n"), "1 steps"),
        (format!("{rule}build o: r{paths}\n{bindings}"), "1 steps"),
    ] {
        let (_dir, out) = import_text(&text);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(stdout(&out).contains(steps), "{}", stdout(&out));
    }
}

#[test]
fn build_files_that_include_each_other_many_times_over_stop() {
    // f0 includes f1 twice, f1 includes f2 twice, ...: 2^41 reads of f41.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..41 {
        let next = format!("include f{}.ninja\n", i + 1);
        std::fs::write(dir.path().join(format!("f{i}.ninja")), next.repeat(2)).unwrap();
    }
    std::fs::write(dir.path().join("f41.ninja"), "").unwrap();
    let text = format!("include f0.ninja\n{ONE_EDGE}");
    std::fs::write(dir.path().join("build.ninja"), text).unwrap();
    let out = reprobe_in(dir.path(), &["import", "ninja", "build.ninja"]);
    refused(
        &out,
        &["f39.ninja:1: more than 250000 include and subninja statements followed in all"],
    );
}
