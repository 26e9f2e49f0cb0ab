//! Hostile steps: real steps that try to exhaust the machine or escape the sandbox, run
//! with the real binary on temporary graphs. Every test ends with the same
//! checks: the step failed or ended with its build, a canary file the step could see on
//! the host is unchanged, no process of the step survives, every blob of the store still
//! matches its hash, and the next build in the same store works.

use crate::common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Text of the canary file.
const CANARY_TEXT: &str = "canary: the host is untouched\n";

/// One hostile build: the project (in a temp dir, hidden in the sandbox), a canary that
/// the sandbox shows read-only (world-writable on the host, so only the sandbox stands
/// between it and the step), and a marker naming the step's processes.
struct Hostile {
    project: tempfile::TempDir,
    _canary_dir: tempfile::TempDir,
    canary: PathBuf,
    marker: String,
}

impl Hostile {
    /// A project whose graph is `graph`, where `@CANARY@` and `@MARKER@` are replaced.
    fn new(name: &str, graph: &str) -> Hostile {
        let canary_dir = tempfile::Builder::new()
            .prefix("hostile-canary-")
            .tempdir_in(common::sandbox_visible_tmp())
            .expect("canary dir");
        fs::set_permissions(canary_dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let canary = canary_dir.path().join("canary");
        fs::write(&canary, CANARY_TEXT).unwrap();
        fs::set_permissions(&canary, fs::Permissions::from_mode(0o666)).unwrap();
        let marker = format!(
            "reprobe-hostile-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let graph = graph
            .replace("@CANARY@", &canary.to_string_lossy())
            .replace("@MARKER@", &marker);
        let project = project(&graph, &[("in.txt", "input\n")]);
        Hostile {
            project,
            _canary_dir: canary_dir,
            canary,
            marker,
        }
    }

    fn dir(&self) -> &Path {
        self.project.path()
    }

    /// `reprobe build ARGS .` in the project.
    fn build(&self, args: &[&str]) -> Output {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        all.push(".");
        run_in(self.dir(), &all)
    }

    /// The checks every hostile test ends with.
    fn assert_contained(&self) {
        assert_eq!(
            fs::read_to_string(&self.canary).expect("canary still there"),
            CANARY_TEXT,
            "the step changed a host file"
        );
        assert_no_survivors(&self.marker);
        assert_store_intact(&self.dir().join(".reprobe"));
        self.assert_next_build_works();
    }

    /// A plain step in the same store builds and produces its output.
    fn assert_next_build_works(&self) {
        let graph = self.dir().join("next.toml");
        fs::write(
            &graph,
            "[steps.next]\nrun = \"cat in.txt > next.out\"\ninputs = [\"in.txt\"]\noutputs = [\"next.out\"]\n",
        )
        .unwrap();
        let out = run_in(self.dir(), &["build", "--no-cache", "next.toml"]);
        assert_eq!(
            code(&out),
            0,
            "next build: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

/// No process on the machine has `marker` in its command line (after a short grace for
/// the kernel to finish reaping).
fn assert_no_survivors(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let found = processes_with(marker);
        if found.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "survivors: {found:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Host processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(bytes) = fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
            if text.contains(marker) {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// Every blob in the store is named by the sha256 of its content.
fn assert_store_intact(store: &Path) {
    let blobs = store.join("blobs");
    for entry in walkdir::WalkDir::new(&blobs).min_depth(2) {
        let entry = entry.expect("walk blobs");
        if !entry.file_type().is_file() {
            continue;
        }
        let bytes = fs::read(entry.path()).expect("read blob");
        let hash = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            entry.file_name().to_string_lossy(),
            hash,
            "blob {} does not match its hash",
            entry.path().display()
        );
    }
}

/// `reprobe build` failed with exit 3 (a step failed) and said `needle` about the step.
fn assert_failed_with(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(code(out), 3, "{}{err}", stdout(out));
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
}

/// The text of output `name` exported by a successful `build --out`.
fn built_output(h: &Hostile, name: &str) -> String {
    let out_dir = h.dir().join("exported");
    let out = h.build(&["--out", out_dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    fs::read_to_string(out_dir.join(name)).expect("output")
}

/// An escape step's report shows the canary was within reach, every one of its
/// `attempts` blocked, and every one of its `controls` working.
fn assert_only_blocked(report: &str, attempts: usize, controls: usize) {
    assert!(
        report.contains("seen: canary"),
        "canary not in reach:\n{report}"
    );
    let count = |prefix: &str| report.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("blocked: "), attempts, "{report}");
    assert_eq!(count("works: "), controls, "{report}");
    let seen = count("seen: ");
    assert_eq!(
        report.lines().count(),
        attempts + controls + seen,
        "{report}"
    );
}

// ---- resource exhaustion ----------------------------------------------------------

#[test]
fn a_fork_bomb_is_held_at_the_process_limit_and_dies_at_the_timeout() {
    let h = Hostile::new(
        "forkbomb",
        "[steps.bomb]\nrun = \"bash -c ':(){ :|:& };:; sleep 30' @MARKER@\"\noutputs = [\"o\"]\npids = 64\ntimeout = \"4s\"\n",
    );
    let started = Instant::now();
    let out = h.build(&[]);
    assert_failed_with(&out, "timed out after 4s");
    assert_failed_with(&out, "step reached its process limit (64 processes)");
    assert!(started.elapsed() < Duration::from_secs(10));
    h.assert_contained();
}

#[test]
fn a_fork_bomb_that_collapses_fails_its_step() {
    // When fork fails, each shell of this bomb exits, and the whole tree unwinds.
    let h = Hostile::new(
        "collapse",
        "[steps.bomb]\nrun = \"# @MARKER@\\nf() { f | f; }; f\"\noutputs = [\"o\"]\npids = 64\ntimeout = \"20s\"\n",
    );
    let started = Instant::now();
    let out = h.build(&[]);
    assert_eq!(code(&out), 3, "{}{}", stdout(&out), stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(15));
    h.assert_contained();
}

#[test]
fn a_step_filling_its_work_directory_exceeds_its_disk_limit() {
    let h = Hostile::new(
        "diskwork",
        "[steps.fill]\nrun = \"# @MARKER@\\nhead -c 100M /dev/zero > big; exit 1\"\noutputs = [\"o\"]\ndisk = \"8M\"\n",
    );
    let out = h.build(&["--keep-failed"]);
    assert_failed_with(&out, "step exceeded its disk limit (8388608 bytes");
    // What the step wrote came back to the host, and no more than the limit.
    let kept = largest_file_below(&h.dir().join(".reprobe/tmp"));
    assert!(kept <= 8 << 20, "a {kept}-byte file reached the host");
    h.assert_contained();
}

#[test]
fn a_step_filling_tmp_exceeds_its_disk_limit() {
    let h = Hostile::new(
        "disktmp",
        "[steps.fill]\nrun = \"# @MARKER@\\ni=0; while :; do i=$((i+1)); head -c 1M /dev/zero > /tmp/f$i || exit 1; done\"\noutputs = [\"o\"]\ndisk = \"8M\"\n",
    );
    assert_failed_with(&h.build(&[]), "step exceeded its disk limit (8388608 bytes");
    h.assert_contained();
}

#[test]
fn a_step_that_fills_its_disk_and_ignores_the_error_still_gets_the_finding() {
    let h = Hostile::new(
        "diskquiet",
        "[steps.fill]\nrun = \"# @MARKER@\\nhead -c 100M /dev/zero > /tmp/big 2>/dev/null; touch o\"\noutputs = [\"o\"]\ndisk = \"8M\"\n",
    );
    let out = h.build(&["--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("step `fill` succeeded, yet a limit was reached")
            && err.contains("step exceeded its disk limit (8388608 bytes"),
        "{err}"
    );
    let manifest = json(&out);
    let limits = &manifest["steps"][0]["findings"]["limits"];
    assert!(
        limits[0].as_str().is_some_and(|l| l.contains("disk limit")),
        "{manifest}"
    );
    h.assert_contained();
}

#[test]
fn a_step_filling_dev_shm_exceeds_its_disk_limit() {
    let h = Hostile::new(
        "diskshm",
        "[steps.fill]\nrun = \"# @MARKER@\\nhead -c 100M /dev/zero > /dev/shm/big\"\noutputs = [\"o\"]\ndisk = \"8M\"\n",
    );
    assert_failed_with(&h.build(&[]), "step exceeded its disk limit (8388608 bytes");
    h.assert_contained();
}

#[test]
fn a_step_creating_endless_empty_files_exceeds_its_disk_limit() {
    let h = Hostile::new(
        "inodes",
        "[steps.fill]\nrun = \"# @MARKER@\\nseq 6000 | xargs touch\"\noutputs = [\"o\"]\ndisk = \"8M\"\n",
    );
    assert_failed_with(&h.build(&[]), "step exceeded its disk limit (8388608 bytes");
    h.assert_contained();
}

#[test]
fn a_step_flooding_its_log_is_cut_at_the_disk_limit() {
    let h = Hostile::new(
        "logflood",
        "[steps.flood]\nrun = \"yes @MARKER@\"\noutputs = [\"o\"]\ndisk = \"8M\"\n",
    );
    let out = h.build(&["--keep-failed"]);
    assert_failed_with(&out, "step exceeded its disk limit (8388608 bytes");
    let kept = largest_file_below(&h.dir().join(".reprobe/tmp"));
    assert!(kept <= 8 << 20, "a {kept}-byte log reached the host");
    h.assert_contained();
}

#[test]
fn a_step_allocating_without_bound_is_stopped_by_its_memory_limit() {
    let h = Hostile::new(
        "memory",
        "[steps.hog]\nrun = \"perl -e 'my @a; push @a, q(x) x 1048576 while 1' @MARKER@\"\noutputs = [\"o\"]\nmemory = \"64M\"\n",
    );
    assert_failed_with(
        &h.build(&[]),
        "killed: exceeded its memory limit (67108864 bytes",
    );
    h.assert_contained();
}

/// What a step held past its memory limit of 64 MiB is reported as (init measured all
/// its processes together and killed them).
const WHOLE_STEP_MEMORY: &str =
    "killed: exceeded its memory limit (67108864 bytes, 64 MiB for all its processes together";

/// A step with `memory = "64M"` and `disk = "8M"` running the python3 `script` (1 GiB of
/// memory the per-process `RLIMIT_DATA` does not count) fails at its memory limit.
fn assert_stopped_at_memory_limit(name: &str, script: &str) {
    let graph = format!(
        "[steps.hog]\nrun = \"\"\"python3 -c '{script}' @MARKER@ && touch o\"\"\"\n\
         outputs = [\"o\"]\nmemory = \"64M\"\ndisk = \"8M\"\ntimeout = 300\n"
    );
    let h = Hostile::new(name, &graph);
    assert_failed_with(&h.build(&[]), WHOLE_STEP_MEMORY);
    h.assert_contained();
}

#[test]
fn shared_anonymous_memory_is_held_to_the_memory_limit() {
    assert_stopped_at_memory_limit(
        "mmap",
        r#"
import mmap
size = 1 << 30
m = mmap.mmap(-1, size)
for i in range(0, size, 4096):
    m[i] = 1
"#,
    );
}

#[test]
fn sysv_shared_memory_is_held_to_the_memory_limit() {
    assert_stopped_at_memory_limit(
        "sysvshm",
        r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
size = 1 << 30
segment = libc.shmget(0, ctypes.c_size_t(size), 0o1600)
assert segment >= 0, ctypes.get_errno()
address = libc.shmat(segment, None, 0)
for i in range(0, size, 4096):
    ctypes.c_char.from_address(address + i).value = b"x"
"#,
    );
}

#[test]
fn memfds_are_held_to_the_memory_limit() {
    // Each memfd stays under RLIMIT_FSIZE (the 8 MiB disk limit); 128 of them are 1 GiB,
    // held open and never mapped.
    assert_stopped_at_memory_limit(
        "memfd",
        r#"
import os
held = []
for n in range(128):
    fd = os.memfd_create("hog")
    os.write(fd, b"x" * (8 << 20))
    held.append(fd)
"#,
    );
}

#[test]
fn detached_sysv_segments_are_held_to_the_memory_limit_in_an_unprivileged_run() {
    // Without root, reprobe cannot make the step's ipc namespace destroy detached
    // segments (`kernel.shm_rmid_forced`): init counts them from /proc/sysvipc/shm.
    // As root, this runs reprobe as `nobody` (with setpriv) to be in that mode.
    let script = r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
size = 16 << 20
for n in range(64):
    segment = libc.shmget(0, ctypes.c_size_t(size), 0o1600)
    assert segment >= 0, ctypes.get_errno()
    address = libc.shmat(segment, None, 0)
    ctypes.memset(ctypes.c_void_p(address), 1, size)
    libc.shmdt(ctypes.c_void_p(address))
"#;
    let graph = format!(
        "[steps.hog]\nrun = \"\"\"python3 -c '{script}' && touch o\"\"\"\noutputs = [\"o\"]\n\
         memory = \"64M\"\ndisk = \"8M\"\ntimeout = 300\n"
    );
    let project = project(&graph, &[]);
    let out = if nix::unistd::geteuid().is_root() {
        let Some(out) = run_as_nobody(project.path(), &["build", "."]) else {
            eprintln!("skipped: setpriv is not installed");
            return;
        };
        out
    } else {
        run_in(project.path(), &["build", "."])
    };
    assert_failed_with(&out, WHOLE_STEP_MEMORY);
}

/// Runs a copy of reprobe as `nobody` (uid and gid 65534) in `dir`, which is handed
/// over to that user; `None` without setpriv.
fn run_as_nobody(dir: &Path, args: &[&str]) -> Option<Output> {
    let nobody = 65534;
    let binary = dir.join("reprobe-copy");
    fs::copy(env!("CARGO_BIN_EXE_reprobe"), &binary).unwrap();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        std::os::unix::fs::lchown(entry.path(), Some(nobody), Some(nobody)).unwrap();
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    let id = nobody.to_string();
    std::process::Command::new("setpriv")
        .args(["--reuid", &id, "--regid", &id, "--clear-groups"])
        .arg(&binary)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("REPROBE_STORE")
        .output()
        .ok()
}

#[test]
fn a_step_cannot_mount_a_tmpfs_of_its_own_outside_its_limits() {
    // A tmpfs mounted in a user namespace of the step's own would be memory beyond both
    // the disk and the memory limit: the step may create no user namespace.
    let h = Hostile::new(
        "ownns",
        "[steps.ns]\nrun = \"unshare -Urm sh -c 'mount -t tmpfs none /tmp && echo mounted' > o 2>&1 || echo refused >> o # @MARKER@\"\noutputs = [\"o\"]\n",
    );
    let text = built_output(&h, "o");
    assert!(text.ends_with("refused\n"), "{text}");
    assert!(!text.contains("mounted"), "{text}");
    h.assert_contained();
}

#[test]
fn a_flood_of_dns_queries_gives_a_bounded_manifest() {
    // 20,000 distinct names, each a real query to a resolver address: every one is
    // observed, the first 100 are recorded with their names, the rest only counted.
    let h = Hostile::new(
        "dnsflood",
        r#"[steps.flood]
run = """python3 -c '
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20000):
    labels = b"".join(bytes([len(p)]) + p for p in (b"host%d" % i, b"example"))
    query = struct.pack(">6H", i & 0xffff, 0x0100, 1, 0, 0, 0) + labels + b"\\0" + struct.pack(">2H", 1, 1)
    try:
        s.sendto(query, ("127.0.0.53", 53))
    except OSError:
        pass
' @MARKER@ && touch o"""
outputs = ["o"]
"#,
    );
    let out = h.build(&["--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        out.stdout.len() < 256 << 10,
        "a manifest of {} bytes",
        out.stdout.len()
    );
    let manifest = json(&out);
    let findings = &manifest["steps"][0]["findings"];
    let network = findings["network"].as_array().expect("network");
    assert_eq!(network.len(), 100);
    assert_eq!(network[0]["dns_name"], "host0.example");
    assert_eq!(findings["network_omitted"], 20_000 - 100);
    let warnings = stderr(&out);
    assert!(
        warnings.contains("step `flood` made 19900 more distinct network attempts"),
        "{warnings}"
    );
    h.assert_contained();
}

#[test]
fn a_step_ignoring_sigterm_is_killed_at_its_timeout() {
    let h = Hostile::new(
        "sigterm",
        "[steps.stubborn]\nrun = \"trap '' TERM INT HUP; sh -c 'trap \\\"\\\" TERM; while :; do sleep 1; done' @MARKER@\"\noutputs = [\"o\"]\ntimeout = \"1s\"\n",
    );
    let started = Instant::now();
    assert_failed_with(&h.build(&[]), "timed out after 1s");
    assert!(started.elapsed() < Duration::from_secs(10));
    h.assert_contained();
}

#[test]
fn a_daemonizing_step_does_not_outlive_its_build() {
    let h = Hostile::new(
        "daemon",
        r#"[steps.daemon]
run = """
forever='trap "" TERM HUP INT; while :; do sleep 1; done'
setsid sh -c "$forever" @MARKER@-setsid </dev/null >/dev/null 2>&1 &
( ( sh -c "$forever" @MARKER@-double & ) & )
nohup sh -c "$forever" @MARKER@-nohup >/dev/null 2>&1 &
sleep 0.3
ps -eo args | grep -c '^sh -c .*@MARKER@-' > o
"""
outputs = ["o"]
"#,
    );
    let started = built_output(&h, "o");
    assert_eq!(started.trim(), "3", "the daemons did not start");
    h.assert_contained();
}

// ---- escapes ----------------------------------------------------------------------

/// A step that copies the canary's text to `o` as "seen: …" (proving the host file is
/// within reach), tries each attempt, writes "blocked: WHAT" or "ESCAPED: WHAT" lines to
/// `o`, runs each control (a harmless use of the same tool, which must work: "works:
/// WHAT" or "broken: WHAT"), and always succeeds. `WHAT` must not contain a single quote.
fn escape_graph(attempts: &[(&str, &str)], controls: &[(&str, &str)]) -> String {
    let mut script =
        String::from("# @MARKER@\n: > o\nsed 's/^/seen: /' @CANARY@ >> o 2>/dev/null || true\n");
    for (what, command) in attempts {
        script.push_str(&format!(
            "if ( {command} ) >/dev/null 2>&1; then echo 'ESCAPED: {what}' >> o; else echo 'blocked: {what}' >> o; fi\n"
        ));
    }
    for (what, command) in controls {
        script.push_str(&format!(
            "if ( {command} ) >/dev/null 2>&1; then echo 'works: {what}' >> o; else echo 'broken: {what}' >> o; fi\n"
        ));
    }
    format!("[steps.escape]\nrun = '''\n{script}'''\noutputs = [\"o\"]\n")
}

/// Runs an escape step (see [`escape_graph`]) and checks its report and the host.
fn assert_escapes_blocked(name: &str, attempts: &[(&str, &str)], controls: &[(&str, &str)]) {
    let h = Hostile::new(name, &escape_graph(attempts, controls));
    let report = built_output(&h, "o");
    assert_only_blocked(&report, attempts.len(), controls.len());
    assert!(!h.canary.with_file_name("new").exists());
    h.assert_contained();
}

#[test]
fn writes_through_proc_self_root_fail() {
    assert_escapes_blocked(
        "procroot",
        &[
            (
                "write via /proc/self/root",
                "echo pwned > /proc/self/root@CANARY@",
            ),
            (
                "write via /proc/1/root",
                "echo pwned > /proc/1/root@CANARY@",
            ),
            (
                "write via /proc/self/cwd/..",
                "echo pwned > /proc/self/cwd/../../pwned",
            ),
            (
                "create next to the canary",
                "touch /proc/self/root$(dirname @CANARY@)/new",
            ),
        ],
        &[("write in the work dir", "echo ok > /proc/self/cwd/mine")],
    );
}

#[test]
fn a_symlink_to_a_host_path_cannot_be_written_through() {
    assert_escapes_blocked(
        "symlinkwrite",
        &[
            ("link and write", "ln -s @CANARY@ link && echo pwned > link"),
            (
                "link a dir and write",
                "ln -s $(dirname @CANARY@) dirlink && touch dirlink/new",
            ),
            ("append through the link", "echo pwned >> link"),
        ],
        &[("read through the link", "grep -q canary link")],
    );
}

#[test]
fn symlink_outputs_are_collected_as_links_and_never_followed() {
    let h = Hostile::new(
        "symlinkout",
        r#"[steps.links]
run = """
# @MARKER@
ln -s /etc/shadow shadow
ln -s .. up
ln -s loop-b loop-a
ln -s loop-a loop-b
ln -s @CANARY@ canary
mkdir d && ln -s ../../.. d/climb
"""
outputs = ["shadow", "up", "loop-a", "loop-b", "canary", "d"]
"#,
    );
    let out_dir = h.dir().join("exported");
    let out = h.build(&["--json", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let manifest: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let outputs = manifest["steps"][0]["outputs"].as_array().expect("outputs");
    for name in ["shadow", "up", "loop-a", "loop-b", "canary", "d/climb"] {
        let entry = outputs
            .iter()
            .find(|e| e["path"] == name)
            .unwrap_or_else(|| panic!("{name} missing in {outputs:?}"));
        assert_eq!(entry["type"], "symlink", "{name}: {entry}");
        let exported = out_dir.join(name);
        let meta = fs::symlink_metadata(&exported).expect("exported");
        assert!(meta.file_type().is_symlink(), "{name} exported as a copy");
    }
    // Nothing of the host's files reached the store.
    for host_file in [Path::new("/etc/shadow"), h.canary.as_path()] {
        if let Ok(bytes) = fs::read(host_file) {
            let hash = hex::encode(Sha256::digest(&bytes));
            let blob = h.dir().join(".reprobe/blobs").join(&hash[..2]).join(&hash);
            assert!(
                !blob.exists(),
                "{} was copied into the store",
                host_file.display()
            );
        }
    }
    h.assert_contained();
}

#[test]
fn mount_fails_inside_the_step() {
    assert_escapes_blocked(
        "mount",
        &[
            ("mount a tmpfs", "mount -t tmpfs none /tmp"),
            ("remount / read-write", "mount -o remount,rw /"),
            (
                "bind the canary dir",
                "mkdir -p m && mount --bind $(dirname @CANARY@) m",
            ),
            (
                "remount the canary mount read-write",
                "mount -o remount,rw,bind $(dirname @CANARY@)",
            ),
            ("unmount the root", "umount -l /"),
            ("write the canary after all that", "echo pwned > @CANARY@"),
        ],
        &[],
    );
}

#[test]
fn ptrace_of_init_and_of_host_processes_fails() {
    let host_pid = std::process::id();
    let strace_host =
        format!("test -d /proc/{host_pid} && timeout 5 strace -p {host_pid} -e trace=none");
    assert_escapes_blocked(
        "ptrace",
        &[
            (
                "strace the sandbox init",
                "timeout 5 strace -p 1 -e trace=none",
            ),
            (
                "gdb the sandbox init",
                "timeout 5 gdb -batch -p 1 -ex 'call (int)getpid()'",
            ),
            ("strace the test process by its host pid", &strace_host),
            ("read the memory of init", "head -c 1 /proc/1/mem"),
        ],
        &[(
            "strace a child of the step",
            "timeout 5 strace -f -e trace=none true",
        )],
    );
}

#[test]
fn chroot_fails_inside_the_step() {
    assert_escapes_blocked(
        "chroot",
        &[
            ("chroot /", "chroot / /bin/true"),
            ("chroot /proc/1/root", "chroot /proc/1/root /bin/true"),
            (
                "chroot into the work dir",
                "mkdir -p r && chroot r /bin/true",
            ),
        ],
        &[],
    );
}

#[test]
fn the_callers_terminal_is_unreachable() {
    // TIOCSTI (0x5412) pushes input into a terminal.
    let attempts = [
        ("open /dev/tty", "exec 3<>/dev/tty"),
        (
            "TIOCSTI on /dev/tty",
            "perl -e 'open(my $t, q(+<), q(/dev/tty)) or exit 1; ioctl($t, 0x5412, q(x)) or exit 1'",
        ),
        (
            "TIOCSTI on an inherited fd",
            "perl -e 'for my $fd (0, 1, 2) { open(my $t, q(+<&=), $fd) or next; exit 0 if ioctl($t, 0x5412, q(x)) } exit 1'",
        ),
        ("a terminal on stdin", "test -t 0"),
        ("a terminal on stdout or stderr", "test -t 1 || test -t 2"),
    ];
    let h = Hostile::new("tty", &escape_graph(&attempts, &[]));
    // Under `script`, reprobe runs with a pseudo-terminal as its controlling terminal and
    // as its stdin, stdout and stderr, as it would from an interactive shell.
    let exported = h.dir().join("exported");
    let command = format!(
        "{} build --out {} .",
        env!("CARGO_BIN_EXE_reprobe"),
        exported.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(h.dir())
        .env_remove("REPROBE_STORE")
        .output()
        .expect("`script` (util-linux) runs");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report = fs::read_to_string(exported.join("o")).expect("output");
    assert_only_blocked(&report, attempts.len(), 0);
    h.assert_contained();
}

/// The size of the largest regular file below `dir` (0 if none).
fn largest_file_below(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}
