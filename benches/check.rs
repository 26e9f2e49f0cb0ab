//! `check` and sandbox costs, side by side in one run (`cargo bench --bench check`):
//! - a chain of 8 single-threaded CPU-bound steps: `check --no-bisect` against one plain
//!   `build --no-cache` (target: at most 1.3x, since the two builds run concurrently);
//! - a graph with parallel branches (4 chains of 2 CPU-bound steps, joined by one step):
//!   `check --no-bisect` against one `build --no-cache`, both with every core (target: at
//!   most 2.2x: twice the work, plus little);
//! - bisection: `check` of a one-step graph whose difference (a file mode, from the umask)
//!   no known value explains, with and without `--no-bisect` (only that step is re-run);
//! - 200 trivial steps built with `-j1`: the per-step cost of the sandbox, against the
//!   same commands run directly by `sh` (target: under 10 ms per step).
//!
//! Each line starts with the load average, since the numbers mean little on a busy machine.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn reprobe(args: &[&str], dir: &Path) -> Duration {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_reprobe"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("reprobe runs");
    let elapsed = start.elapsed();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "reprobe {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().expect("one run")
}

fn chain_graph(steps: usize) -> String {
    let mut text = String::from("[env]\nPATH = \"/usr/bin:/bin\"\n");
    for i in 0..steps {
        let _ = write!(
            text,
            "\n[steps.s{i}]\nrun = \"head -c 150000000 /dev/zero | sha256sum > out{i}.txt\"\noutputs = [\"out{i}.txt\"]\n"
        );
        if i > 0 {
            let _ = writeln!(text, "deps = [\"s{}\"]", i - 1);
        }
    }
    text
}

/// `branches` independent chains of two CPU-bound steps, and one step joining them.
fn branches_graph(branches: usize) -> String {
    let mut text = String::from("[env]\nPATH = \"/usr/bin:/bin\"\n");
    let work = "head -c 150000000 /dev/zero | sha256sum";
    let mut tails = Vec::new();
    for b in 0..branches {
        let _ = write!(
            text,
            "\n[steps.b{b}a]\nrun = \"{work} > a{b}.txt\"\noutputs = [\"a{b}.txt\"]\n\n[steps.b{b}b]\nrun = \"cat a{b}.txt > b{b}.txt; {work} >> b{b}.txt\"\ndeps = [\"b{b}a\"]\noutputs = [\"b{b}.txt\"]\n"
        );
        tails.push(format!("\"b{b}b\""));
    }
    let _ = write!(
        text,
        "\n[steps.join]\nrun = \"cat b*.txt > all.txt\"\ndeps = [{}]\noutputs = [\"all.txt\"]\n",
        tails.join(", ")
    );
    text
}

/// One CPU-bound step whose output also holds a file mode that the umask decides: a
/// difference no known value explains, so `check` bisects it.
fn umask_graph() -> String {
    String::from(
        "[env]\nPATH = \"/usr/bin:/bin\"\n\n[steps.mode]\nrun = \"head -c 150000000 /dev/zero | sha256sum > out.txt; echo x > f; stat -c %a f >> out.txt\"\noutputs = [\"out.txt\"]\n",
    )
}

/// The load average over the last minute, for the record.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn trivial_graph(steps: usize) -> String {
    let mut text = String::from("[env]\nPATH = \"/usr/bin:/bin\"\n");
    for i in 0..steps {
        let _ = write!(
            text,
            "\n[steps.t{i}]\nrun = \"echo {i} > t{i}.txt\"\noutputs = [\"t{i}.txt\"]\n"
        );
    }
    text
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let chain = tempfile::tempdir().expect("temp dir");
    std::fs::write(chain.path().join("reprobe.toml"), chain_graph(8)).expect("graph");
    let build = best_of(3, || reprobe(&["build", "--no-cache", "-q"], chain.path()));
    let check = best_of(3, || reprobe(&["check", "--no-bisect", "-q"], chain.path()));
    println!(
        "[load {}] chain of 8 CPU-bound steps: build --no-cache {:.2}s, check {:.2}s, ratio {:.2}x (target <= 1.3x)",
        load(),
        build.as_secs_f64(),
        check.as_secs_f64(),
        check.as_secs_f64() / build.as_secs_f64()
    );

    let branches = tempfile::tempdir().expect("temp dir");
    std::fs::write(branches.path().join("reprobe.toml"), branches_graph(4)).expect("graph");
    let build = best_of(3, || {
        reprobe(&["build", "--no-cache", "-q"], branches.path())
    });
    let check = best_of(3, || {
        reprobe(&["check", "--no-bisect", "-q"], branches.path())
    });
    println!(
        "[load {}] 4 parallel branches of 2 CPU-bound steps + a join: build --no-cache {:.2}s, check {:.2}s, ratio {:.2}x (target <= 2.2x)",
        load(),
        build.as_secs_f64(),
        check.as_secs_f64(),
        check.as_secs_f64() / build.as_secs_f64()
    );

    let umask = tempfile::tempdir().expect("temp dir");
    std::fs::write(umask.path().join("reprobe.toml"), umask_graph()).expect("graph");
    let plain = best_of(3, || reprobe(&["check", "--no-bisect", "-q"], umask.path()));
    let bisected = best_of(3, || reprobe(&["check", "-q"], umask.path()));
    println!(
        "[load {}] one step differing by the umask: check --no-bisect {:.2}s, check with bisection {:.2}s ({} re-runs of the step), ratio {:.2}x",
        load(),
        plain.as_secs_f64(),
        bisected.as_secs_f64(),
        bisection_runs(umask.path()),
        bisected.as_secs_f64() / plain.as_secs_f64()
    );

    let trivial = tempfile::tempdir().expect("temp dir");
    let steps = 200;
    std::fs::write(trivial.path().join("reprobe.toml"), trivial_graph(steps)).expect("graph");
    let sandboxed = best_of(3, || {
        reprobe(&["build", "--no-cache", "-q", "-j1"], trivial.path())
    });
    let direct = best_of(3, || {
        let start = Instant::now();
        for i in 0..steps {
            let status = Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("echo {i} > t{i}.txt"))
                .current_dir(trivial.path())
                .status()
                .expect("sh runs");
            assert!(status.success());
        }
        start.elapsed()
    });
    let per_step = (sandboxed.as_secs_f64() - direct.as_secs_f64()) / steps as f64 * 1000.0;
    println!(
        "[load {}] {steps} trivial steps, -j1: reprobe build {:.2}s, plain sh {:.2}s: sandbox + hashing + store cost {:.1} ms per step (target < 10 ms)",
        load(),
        sandboxed.as_secs_f64(),
        direct.as_secs_f64(),
        per_step
    );
}

/// How many times `check` re-ran the step to bisect (from its report's note).
fn bisection_runs(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_reprobe"))
        .args(["check", "--json"])
        .current_dir(dir)
        .output()
        .expect("reprobe runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    report["steps"][0]["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str())
        .find_map(|n| n.strip_prefix("bisection: "))
        .and_then(|n| n.split_whitespace().next())
        .unwrap_or("?")
        .to_string()
}
