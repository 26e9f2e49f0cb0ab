//! `check` and sandbox costs, side by side in one run (`cargo bench --bench check`):
//! - a chain of 8 single-threaded CPU-bound steps: `check --no-bisect` against one plain
//!   `build --no-cache` (target: at most 1.3x, since the two builds run concurrently);
//! - 200 trivial steps built with `-j1`: the per-step cost of the sandbox, against the
//!   same commands run directly by `sh` (target: under 10 ms per step).

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
        "chain of 8 CPU-bound steps: build --no-cache {:.2}s, check {:.2}s, ratio {:.2}x (target <= 1.3x)",
        build.as_secs_f64(),
        check.as_secs_f64(),
        check.as_secs_f64() / build.as_secs_f64()
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
        "{steps} trivial steps, -j1: reprobe build {:.2}s, plain sh {:.2}s: sandbox + hashing + store cost {:.1} ms per step (target < 10 ms)",
        sandboxed.as_secs_f64(),
        direct.as_secs_f64(),
        per_step
    );
}
