//! Speed of `explain` and `challenge` on large generated manifests.
//!
//! `cargo bench --bench explain` generates, in a temp dir, manifests of a graph of
//! 10,000 steps with 200,000 declared input files (20 per step; each step reads up to
//! two earlier steps), with keys computed by the real walk:
//! - OLD, and NEW after editing a header that 1,000 steps include and one step's env
//!   (1,001 root causes and thousands of cascades, some cut off early);
//! - nine more builds of OLD "from other machines", each with 1% of the steps giving
//!   another output.
//!
//! It then times, best of 3, reading the manifest files and computing the report:
//! explain of OLD -> NEW (target: under 1 s) and challenge of 10 manifests (target: under
//! 2 s); then the same through the real binary, as a user runs it: `reprobe explain OLD
//! NEW` with its terminal output and with `--json`, and `reprobe challenge`, each with
//! stdout to /dev/null. Set `REPROBE_BENCH_STEPS` for another size, and
//! `REPROBE_BENCH_KEEP=DIR` to keep the manifests in DIR.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use reprobe::engine::challenge::{challenge, Labelled};
use reprobe::engine::explain::content::BlobSource;
use reprobe::engine::explain::history::{read_manifest, read_outline};
use reprobe::engine::explain::{explain, BuildRef, ExplainOptions};
use reprobe::model::graph::Command;
use reprobe::model::hash::{Digest, FileHash};
use reprobe::model::inputs::{InputDep, InputFile, StepInputs};
use reprobe::model::manifest::{Host, Manifest, StepRecord, StepStatus, MANIFEST_SCHEMA};
use reprobe::model::tree::{EntryType, TreeEntry};

const FILES_PER_STEP: usize = 20;

/// Best wall time of `runs`, and the process CPU time (user + system, all threads) of
/// that run: on a shared machine the CPU time shows the work when the wall time is
/// inflated by other processes.
fn best_of<F: FnMut()>(runs: usize, mut f: F) -> (Duration, Duration) {
    (0..runs)
        .map(|_| {
            let (start, cpu) = (Instant::now(), cpu_time());
            f();
            (start.elapsed(), cpu_time().saturating_sub(cpu))
        })
        .min()
        .expect("at least one run")
}

fn cpu_time() -> Duration {
    rusage_time(libc::RUSAGE_SELF)
}

/// CPU time (user + system) of the waited-for child processes so far.
fn children_cpu_time() -> Duration {
    rusage_time(libc::RUSAGE_CHILDREN)
}

fn rusage_time(who: libc::c_int) -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF and RUSAGE_CHILDREN
    // are always valid.
    let usage = unsafe {
        libc::getrusage(who, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// What differs between the generated builds.
#[derive(Clone, Copy)]
struct Variant {
    /// The shared header's version.
    header: u8,
    /// Whether step 7 has an extra env var.
    extra_env: bool,
    /// A machine number: 1% of steps give a machine-specific output when non-zero.
    machine: u64,
}

fn file(path: String, content: &[u8]) -> InputFile {
    InputFile {
        path,
        executable: false,
        sha256: FileHash(Digest::of_bytes(content)),
        size: content.len() as u64,
        link: None,
    }
}

fn step_inputs(i: usize, variant: Variant, records: &[StepRecord]) -> StepInputs {
    let mut files: Vec<InputFile> = (0..FILES_PER_STEP - 1)
        .map(|f| {
            file(
                format!("src/m{i:05}/f{f:02}.c"),
                format!("{i}/{f}").as_bytes(),
            )
        })
        .collect();
    let header = if i.is_multiple_of(10) {
        "include/common.h"
    } else {
        "include/other.h"
    };
    let version = if i.is_multiple_of(10) {
        variant.header
    } else {
        0
    };
    files.push(file(header.into(), &[version]));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut env = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
    if i == 7 && variant.extra_env {
        env.insert("DEBUG".into(), "1".into());
    }
    // Steps `i % 100 == 99` are leaves (nothing reads them): the ones that differ
    // between machines, so the other machines' differences do not cascade.
    let mut deps: Vec<usize> = [i.checked_sub(1), (i > 1).then_some(i / 2)]
        .into_iter()
        .flatten()
        .filter(|d| d % 100 != 99)
        .collect();
    deps.sort_unstable();
    deps.dedup();
    StepInputs {
        command: Command::Shell(format!("cc -O2 -c src/m{i:05}/*.c -o m{i:05}.o")),
        env,
        files,
        tools: vec![],
        deps: deps
            .into_iter()
            .map(|d| InputDep {
                step: records[d].name.clone(),
                content_hash: records[d].content_hash.expect("content"),
                derivation_hash: records[d].derivation_hash.expect("derivation"),
            })
            .collect(),
        fixed_output: None,
    }
}

fn record(i: usize, inputs: StepInputs, variant: Variant) -> StepRecord {
    let input_hash = inputs.input_hash();
    // Every 50th step's output ignores its inputs: early cutoff.
    let seed = if i.is_multiple_of(50) {
        Digest::of_bytes(format!("constant {i}").as_bytes())
    } else {
        input_hash.0
    };
    let machine = if variant.machine != 0 && i % 100 == 99 {
        variant.machine
    } else {
        0
    };
    let bytes = Digest::of_bytes(format!("{seed:?}/{machine}").as_bytes());
    let outputs = vec![TreeEntry {
        path: format!("m{i:05}.o"),
        kind: EntryType::File,
        mode: 0o644,
        size: 4096,
        sha256: Some(FileHash(bytes)),
        target: None,
        mtime: 0,
    }];
    StepRecord {
        name: format!("step{i:05}"),
        status: StepStatus::Ran,
        cached: false,
        cache_source: None,
        input_hash: Some(input_hash),
        derivation_hash: Some(inputs.derivation_hash()),
        content_hash: Some(reprobe::model::tree::content_hash(&outputs)),
        inputs: Some(inputs),
        outputs,
        duration_ms: 100 + (i as u64 % 900),
        exit: Some(reprobe::model::manifest::ExitRecord::Exited { code: 0 }),
        findings: Default::default(),
        error: None,
        stderr_tail: None,
        notes: Vec::new(),
    }
}

fn generate(steps: usize, variant: Variant, id: &str) -> Manifest {
    let mut records: Vec<StepRecord> = Vec::with_capacity(steps);
    for i in 0..steps {
        let inputs = step_inputs(i, variant, &records);
        records.push(record(i, inputs, variant));
    }
    Manifest {
        schema: MANIFEST_SCHEMA.into(),
        id: id.into(),
        graph: "reprobe.toml".into(),
        graph_id: None,
        started: "2026-01-01T00:00:00.000Z".into(),
        finished: "2026-01-01T01:00:00.000Z".into(),
        host: Host {
            kernel: "6.18".into(),
            arch: "x86_64".into(),
        },
        variations: BTreeMap::new(),
        steps: records,
    }
}

fn write(dir: &Path, manifest: &Manifest) -> PathBuf {
    let path = dir.join(format!("{}.json", manifest.id));
    std::fs::write(&path, manifest.to_json()).expect("write manifest");
    path
}

fn main() {
    let steps: usize = std::env::var("REPROBE_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    // `REPROBE_BENCH_KEEP=DIR` keeps the generated manifests there, to profile by hand.
    let keep = std::env::var_os("REPROBE_BENCH_KEEP").map(PathBuf::from);
    let manifests_dir: &Path = keep.as_deref().unwrap_or(dir.path());
    let base = Variant {
        header: 1,
        extra_env: false,
        machine: 0,
    };
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", load.trim());
    }
    let started = Instant::now();
    let old = write(manifests_dir, &generate(steps, base, "old"));
    let edited = Variant {
        header: 2,
        extra_env: true,
        ..base
    };
    let new = write(manifests_dir, &generate(steps, edited, "new"));
    let machines: Vec<PathBuf> = (1..10u64)
        .into_par_iter()
        .map(|m| {
            write(
                manifests_dir,
                &generate(
                    steps,
                    Variant { machine: m, ..base },
                    &format!("machine{m}"),
                ),
            )
        })
        .collect();
    let size = std::fs::metadata(&old).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated 11 manifests of {steps} steps, {} input files each ({:.1} MB per manifest) in {:.1}s",
        steps * FILES_PER_STEP,
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    bench_explain(&old, &new);
    bench_challenge(&old, &machines);
    bench_binary(manifests_dir, &old, &new, &machines);
}

/// Runs the real `reprobe` binary in `dir` with stdout to /dev/null, best of 3: wall
/// time and the child's CPU time. The exit code must be `expected`.
fn time_binary(dir: &Path, args: &[&str], expected: i32) -> (Duration, Duration) {
    let mut runs: Vec<(Duration, Duration)> = (0..3)
        .map(|_| {
            let (start, cpu) = (Instant::now(), children_cpu_time());
            let status = std::process::Command::new(env!("CARGO_BIN_EXE_reprobe"))
                .args(args)
                .current_dir(dir)
                .env_remove("REPROBE_STORE")
                .stdout(Stdio::null())
                .status()
                .expect("reprobe runs");
            let wall = start.elapsed();
            assert_eq!(status.code(), Some(expected), "reprobe {args:?}");
            (wall, children_cpu_time().saturating_sub(cpu))
        })
        .collect();
    runs.sort();
    runs[0]
}

fn bench_binary(dir: &Path, old: &Path, new: &Path, theirs: &[PathBuf]) {
    let path = |p: &Path| p.display().to_string();
    let (old, new) = (path(old), path(new));
    for (what, extra) in [("terminal output", None), ("--json", Some("--json"))] {
        let mut args = vec!["explain", old.as_str(), new.as_str()];
        args.extend(extra);
        let (wall, cpu) = time_binary(dir, &args, 0);
        println!(
            "binary: reprobe explain OLD NEW, {what} to /dev/null: {:.3}s wall, {:.3}s CPU (target < 1 s)",
            wall.as_secs_f64(),
            cpu.as_secs_f64()
        );
    }
    let theirs: Vec<String> = theirs.iter().map(|p| path(p)).collect();
    let mut args = vec!["challenge", old.as_str()];
    args.extend(theirs.iter().map(String::as_str));
    // The other machines disagree on 1% of the steps: exit 1.
    let (wall, cpu) = time_binary(dir, &args, 1);
    println!(
        "binary: reprobe challenge of {} manifests, terminal output to /dev/null: {:.3}s wall, {:.3}s CPU (target < 2 s)",
        args.len() - 1,
        wall.as_secs_f64(),
        cpu.as_secs_f64()
    );
}

fn bench_explain(old: &Path, new: &Path) {
    let (read, _) = best_of(3, || {
        read_manifest(old).expect("old");
    });
    let (outline, _) = best_of(3, || {
        read_outline(old).expect("old");
    });
    println!(
        "reading one manifest: {:.3}s; without input trees (challenge): {:.3}s",
        read.as_secs_f64(),
        outline.as_secs_f64()
    );
    let mut summary = String::new();
    let (time, cpu) = best_of(3, || {
        let (a, b) = rayon::join(|| read_manifest(old), || read_manifest(new));
        let (a, b) = (a.expect("old"), b.expect("new"));
        let report = explain(
            &BuildRef::of(&a, "old"),
            &a,
            &BuildRef::of(&b, "new"),
            &b,
            &BlobSource::none(),
            &ExplainOptions::default(),
        )
        .expect("explain");
        summary = format!(
            "{} root causes, {} cascades, {} early cutoffs saving {}; first line: {}",
            report.root_causes.len(),
            report.cascades.len(),
            report.early_cutoff.len(),
            report.saved_by_cutoff,
            report.summary[0]
        );
    });
    println!(
        "explain OLD -> NEW: {:.3}s wall, {:.3}s CPU (target < 1 s): {summary}",
        time.as_secs_f64(),
        cpu.as_secs_f64()
    );
}

fn bench_challenge(mine: &Path, theirs: &[PathBuf]) {
    let mut summary = String::new();
    let paths: Vec<&Path> = std::iter::once(mine)
        .chain(theirs.iter().map(PathBuf::as_path))
        .collect();
    let (time, cpu) = best_of(3, || {
        let manifests: Vec<Labelled> = paths
            .par_iter()
            .map(|p| Labelled {
                label: p.display().to_string(),
                manifest: read_outline(p).expect("manifest"),
            })
            .collect();
        let report = challenge(&manifests, &BlobSource::none());
        summary = format!(
            "{} agree, {} disagree",
            report.agree.len(),
            report.disagree.len()
        );
    });
    println!(
        "challenge of {} manifests: {:.3}s wall, {:.3}s CPU (target < 2 s): {summary}",
        paths.len(),
        time.as_secs_f64(),
        cpu.as_secs_f64()
    );
}
