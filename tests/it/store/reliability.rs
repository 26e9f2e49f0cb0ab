//! Crashes and concurrency lose nothing: `store verify` and `store gc`, builds and checks
//! killed with SIGKILL at many points, four builds on one store, a flipped byte in a
//! blob, and manifests of other schema versions.
//!
//! The kill loop runs `REPROBE_KILL_POINTS` points (default 15 for `build`, a third of
//! that for `check`). A long run:
//! `REPROBE_KILL_POINTS=200 cargo test --release --test reliability_store kill -- --nocapture`
//! The points are random (one in each equal slice of the build's duration); the seed is
//! printed, and `REPROBE_KILL_SEED` replays it.

use crate::common;

use common::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

fn store_cmd(store: &Path, args: &[&str]) -> Output {
    reprobe()
        .args(args)
        .arg("--store")
        .arg(store)
        .output()
        .expect("reprobe runs")
}

fn verify(store: &Path) -> Output {
    store_cmd(store, &["store", "verify"])
}

fn assert_verifies(store: &Path) {
    let out = verify(store);
    assert_eq!(
        code(&out),
        0,
        "store verify failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

fn build_json(dir: &Path, store: &Path) -> (i32, serde_json::Value, String) {
    let out = reprobe()
        .args(["build", "--json", "--store"])
        .arg(store)
        .arg(dir)
        .output()
        .expect("reprobe runs");
    let manifest = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (code(&out), manifest, stderr(&out))
}

fn steps(manifest: &serde_json::Value) -> Vec<serde_json::Value> {
    manifest["steps"].as_array().cloned().unwrap_or_default()
}

/// The input hashes that have an action entry in the store.
fn action_keys(store: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(store.join("actions"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect()
}

/// Processes whose command line holds `marker` (reprobe's own excluded).
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(marker) && !text.contains("reprobe") {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

fn wait_until_gone(marker: &str) {
    let start = Instant::now();
    while !processes_with(marker).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "step processes outlived reprobe: {:?}",
            processes_with(marker)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn flip_a_byte(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(path).unwrap();
    bytes[0] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

fn blob_path(store: &Path, hash: &str) -> std::path::PathBuf {
    store.join("blobs").join(&hash[..2]).join(hash)
}

fn output_hash(manifest: &serde_json::Value, step: &str) -> String {
    let step = steps(manifest)
        .into_iter()
        .find(|s| s["name"] == step)
        .unwrap_or_else(|| panic!("no step {step}"));
    step["outputs"][0]["sha256"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------
// store verify / store gc

#[test]
fn verify_passes_after_a_build_and_reports_counts_as_json() {
    let dir = copy_corpus("multi-step");
    let store = dir.path().join(".reprobe");
    let (status, _, err) = build_json(dir.path(), &store);
    assert_eq!(status, 0, "{err}");
    let out = store_cmd(&store, &["store", "verify", "--json"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let report = json(&out);
    assert_eq!(report["schema"], "reprobe/store-verify/1");
    assert_eq!(report["ok"], true);
    assert_eq!(report["actions"], 7);
    assert_eq!(report["manifests"], 1);
    // Without --store, the store beside the graph is meant.
    let out = run_in(dir.path(), &["store", "verify"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(": ok"), "{}", stdout(&out));
}

#[test]
fn verify_names_a_corrupt_blob_and_the_entries_that_need_it() {
    let dir = copy_corpus("multi-step");
    let store = dir.path().join(".reprobe");
    let (_, manifest, _) = build_json(dir.path(), &store);
    let hash = output_hash(&manifest, "words");
    flip_a_byte(&blob_path(&store, &hash));
    let out = verify(&store);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("blobs/{}/{hash}: corrupt-blob", &hash[..2])),
        "{text}"
    );
    assert!(
        text.contains("missing-blob") && text.contains("which is corrupt"),
        "{text}"
    );
    assert!(
        text.contains("builds/"),
        "the manifest is named too: {text}"
    );
}

#[test]
fn verify_of_a_directory_that_is_no_store_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = verify(&dir.path().join("nothing"));
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("not a reprobe store"),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("nothing").exists(),
        "verify must not create a store"
    );
}

#[test]
fn a_store_of_another_layout_version_is_refused_naming_both_versions() {
    let dir = copy_corpus("multi-step");
    let store = dir.path().join(".reprobe");
    build_json(dir.path(), &store);
    fs::write(store.join("VERSION"), "reprobe-store/9\n").unwrap();
    for out in [verify(&store), run_in(dir.path(), &["build", "-q"])] {
        assert_eq!(code(&out), 2);
        let err = stderr(&out);
        assert!(
            err.contains("reprobe-store/9") && err.contains("reprobe-store/1"),
            "{err}"
        );
    }
}

#[test]
fn manifests_of_a_newer_or_older_schema_are_reported_naming_both_versions() {
    let dir = copy_corpus("multi-step");
    let store = dir.path().join(".reprobe");
    build_json(dir.path(), &store);
    for (file, version) in [
        ("29990101T000000.000Z-future.json", "reprobe/manifest/2"),
        ("19990101T000000.000Z-past.json", "reprobe/manifest/0"),
    ] {
        fs::write(
            store.join("builds").join(file),
            format!(r#"{{"schema": "{version}", "id": "x", "steps": []}}"#),
        )
        .unwrap();
    }
    let out = verify(&store);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    for version in ["reprobe/manifest/2", "reprobe/manifest/0"] {
        let line = text
            .lines()
            .find(|l| l.contains(version))
            .unwrap_or_else(|| panic!("{version} not named: {text}"));
        assert!(line.contains("bad-manifest"), "{line}");
        assert!(line.contains("reprobe/manifest/1"), "{line}");
    }
}

#[test]
fn gc_keeps_everything_a_cache_or_manifest_references() {
    let dir = copy_corpus("multi-step");
    let store = dir.path().join(".reprobe");
    build_json(dir.path(), &store);
    let out = store_cmd(&store, &["store", "gc", "--grace", "0", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["schema"], "reprobe/store-gc/1");
    assert_eq!(report["removed_blobs"], 0);
    assert_eq!(report["removed_actions"], 0);
    assert_verifies(&store);
    let (_, manifest, _) = build_json(dir.path(), &store);
    assert!(steps(&manifest).iter().all(|s| s["status"] == "cached"));
}

#[test]
fn gc_with_keep_builds_drops_an_older_build_and_the_newest_stays_cached() {
    let dir = copy_corpus("multi-step");
    let store = dir.path().join(".reprobe");
    build_json(dir.path(), &store);
    let words = dir.path().join("src/words.txt");
    let mut text = fs::read_to_string(&words).unwrap();
    text.push_str("zebra\n");
    fs::write(&words, text).unwrap();
    let (status, _, err) = build_json(dir.path(), &store);
    assert_eq!(status, 0, "{err}");
    let before = action_keys(&store).len();
    let out = store_cmd(
        &store,
        &[
            "store",
            "gc",
            "--grace",
            "0",
            "--keep-builds",
            "1",
            "--json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["removed_manifests"], 1);
    assert!(report["removed_blobs"].as_u64().unwrap() > 0, "{report}");
    assert!(action_keys(&store).len() < before);
    assert_verifies(&store);
    let (_, manifest, _) = build_json(dir.path(), &store);
    for step in steps(&manifest) {
        assert_eq!(step["status"], "cached", "{}", step["name"]);
    }
}

#[test]
fn gc_spares_unreferenced_blobs_younger_than_the_grace_period() {
    let dir = copy_corpus("multi-step");
    let store = dir.path().join(".reprobe");
    build_json(dir.path(), &store);
    let before = walkdir::WalkDir::new(store.join("blobs"))
        .into_iter()
        .count();
    // Every manifest and entry gone: all blobs unreferenced, but all are young.
    let out = store_cmd(&store, &["store", "gc", "--keep-builds", "0", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["removed_blobs"], 0, "{report}");
    let after = walkdir::WalkDir::new(store.join("blobs"))
        .into_iter()
        .count();
    assert_eq!(before, after);
}

#[test]
fn gc_rejects_a_grace_that_is_no_duration() {
    let store = tempfile::tempdir().unwrap();
    let out = store_cmd(store.path(), &["store", "gc", "--grace", "soon"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--grace"), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------
// A corrupted blob is detected on read and rebuilt, never served.

#[test]
fn a_flipped_byte_in_a_cached_dep_output_is_detected_and_the_dep_rebuilt() {
    let graph = r#"
[env]
PATH = "/usr/bin:/bin"
[steps.gen]
run = "printf 'hello from gen\n' > gen.txt"
outputs = ["gen.txt"]
[steps.use]
run = "cat gen.txt extra.txt > result.txt"
inputs = ["extra.txt"]
deps = ["gen"]
outputs = ["result.txt"]
"#;
    let dir = project(graph, &[("extra.txt", "one\n")]);
    let store = dir.path().join(".reprobe");
    let (status, first, err) = build_json(dir.path(), &store);
    assert_eq!(status, 0, "{err}");
    let gen_blob = blob_path(&store, &output_hash(&first, "gen"));
    flip_a_byte(&gen_blob);
    // `use` must run again (its input changed) while `gen` is a cache hit whose blob
    // is now corrupt.
    fs::write(dir.path().join("extra.txt"), "two\n").unwrap();
    let out_dir = dir.path().join("out");
    let out = reprobe()
        .args(["build", "--json", "--out"])
        .arg(&out_dir)
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let second = json(&out);
    assert_eq!(step_status(&second, "use"), "ran");
    assert_eq!(
        fs::read_to_string(out_dir.join("result.txt")).unwrap(),
        "hello from gen\ntwo\n",
        "the corrupt bytes were served"
    );
    assert_eq!(
        output_hash(&second, "gen"),
        output_hash(&first, "gen"),
        "gen keeps its content hash"
    );
    assert!(gen_blob.is_file(), "the blob was stored again");
    assert_verifies(&store);
}

#[test]
fn a_flipped_byte_in_a_final_output_is_never_exported() {
    let dir = project(
        "[steps.gen]\nrun = \"echo hello > gen.txt\"\noutputs = [\"gen.txt\"]\n",
        &[],
    );
    let store = dir.path().join(".reprobe");
    let (_, first, _) = build_json(dir.path(), &store);
    flip_a_byte(&blob_path(&store, &output_hash(&first, "gen")));
    let out_dir = dir.path().join("out");
    let out = reprobe()
        .args(["build", "--json", "--out"])
        .arg(&out_dir)
        .arg(dir.path())
        .output()
        .unwrap();
    // The flipped byte is found before the hit is taken: the step runs again in this
    // build, and what is exported is the rebuilt, intact output.
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(step_status(&json(&out), "gen"), "ran");
    assert_eq!(
        fs::read_to_string(out_dir.join("gen.txt")).unwrap(),
        "hello\n"
    );
    assert_verifies(&store);
    let (status, again, err) = build_json(dir.path(), &store);
    assert_eq!(status, 0, "{err}");
    assert_eq!(step_status(&again, "gen"), "cached");
}

// ---------------------------------------------------------------------------------------
// Four builds on one store at once.

#[test]
fn four_builds_of_overlapping_graphs_on_one_store_all_succeed() {
    let shared = r#"
[env]
PATH = "/usr/bin:/bin"
[steps.common]
run = "sleep 0.2; sort src.txt > common.txt"
inputs = ["src.txt"]
outputs = ["common.txt"]
[steps.shared]
run = "tr a-z A-Z < common.txt > shared.txt"
deps = ["common"]
outputs = ["shared.txt"]
"#;
    let projects: Vec<tempfile::TempDir> = (0..4)
        .map(|i| {
            let own = format!(
                "[steps.own]\nrun = \"cat shared.txt > own.txt; echo {i} >> own.txt\"\ndeps = [\"shared\"]\noutputs = [\"own.txt\"]\n"
            );
            project(&format!("{shared}{own}"), &[("src.txt", "b\na\nc\n")])
        })
        .collect();
    let store = tempfile::tempdir().unwrap();
    let children: Vec<_> = projects
        .iter()
        .map(|p| {
            reprobe()
                .args(["build", "--json", "--store"])
                .arg(store.path())
                .arg(p.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut shared_hashes = BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let manifest = json(&out);
        shared_hashes.insert(output_hash(&manifest, "shared"));
    }
    assert_eq!(shared_hashes.len(), 1, "shared steps agree on their output");
    assert_verifies(store.path());
    for p in &projects {
        let (status, manifest, err) = build_json(p.path(), store.path());
        assert_eq!(status, 0, "{err}");
        for step in steps(&manifest) {
            assert_eq!(step["status"], "cached", "{}", step["name"]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The kill loop.

/// Kill points to try: `REPROBE_KILL_POINTS`, or `default`.
fn kill_points(default: usize) -> usize {
    std::env::var("REPROBE_KILL_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default)
}

/// The seed of the kill points: `REPROBE_KILL_SEED`, or the clock.
fn kill_seed() -> u64 {
    std::env::var("REPROBE_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// SplitMix64: a small seeded generator, so a failing kill loop can be replayed.
struct SplitMix(u64);

impl SplitMix {
    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A six-step graph (a chain, a diamond and an independent step); every command
/// carries `marker` in its sleep, so its processes can be found in /proc.
fn kill_graph(marker: &str) -> String {
    let step = |name: &str, deps: &[&str], inputs: &[&str]| {
        let cats: String = deps.iter().map(|d| format!(" {d}.txt")).collect();
        let ins: String = inputs.iter().map(|i| format!(" {i}")).collect();
        format!(
            "[steps.{name}]\nrun = \"sleep {marker}; cat /dev/null{cats}{ins} > {name}.txt; echo {name} >> {name}.txt\"\ndeps = {deps:?}\ninputs = {inputs:?}\noutputs = [\"{name}.txt\"]\n"
        )
    };
    [
        "[env]\nPATH = \"/usr/bin:/bin\"\n".to_string(),
        step("a", &[], &["src.txt"]),
        step("b", &["a"], &[]),
        step("c", &["a"], &[]),
        step("d", &["b", "c"], &[]),
        step("e", &[], &["src.txt"]),
        step("f", &["d", "e"], &[]),
    ]
    .join("\n")
}

/// What one kill point found.
#[derive(Default)]
struct KillTally {
    points: usize,
    whole_entries: usize,
    reused: usize,
}

/// Runs `command` on a fresh store, SIGKILLs it after `delay`, and checks the store,
/// the processes, and the next build. Returns the entries written whole and reused.
fn kill_once(
    dir: &Path,
    command: &str,
    delay: Duration,
    marker: &str,
    reference: &[String],
) -> (usize, usize) {
    let store = tempfile::tempdir().unwrap();
    let mut child = reprobe()
        .args([command, "-q", "-j", "2", "--store"])
        .arg(store.path())
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
    wait_until_gone(marker);
    assert_valid_or_unborn(store.path(), &format!("{command} killed after {delay:?}"));
    let whole = action_keys(store.path());
    let (status, manifest, err) = build_json(dir, store.path());
    assert_eq!(
        status, 0,
        "build after a killed {command} ({delay:?}): {err}"
    );
    let mut reused = 0;
    for step in steps(&manifest) {
        let key = step["input_hash"].as_str().unwrap_or_default().to_string();
        if whole.contains(&key) {
            assert_eq!(
                step["status"], "cached",
                "{command} killed after {delay:?}: step {} had a whole entry but ran again",
                step["name"]
            );
            reused += 1;
        }
    }
    let hashes: Vec<String> = steps(&manifest)
        .iter()
        .map(|s| s["content_hash"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        hashes, reference,
        "{command} killed after {delay:?}: outputs differ"
    );
    assert_verifies(store.path());
    (whole.len(), reused)
}

/// `store verify` passes, or the kill came before the store was made: then it holds
/// no entry at all (its VERSION file is written last when a store is opened), at most
/// the half-written temporary of VERSION itself in `tmp/`, which the next open clears.
fn assert_valid_or_unborn(store: &Path, what: &str) {
    if !store.join("VERSION").exists() {
        let entries: Vec<_> = walkdir::WalkDir::new(store)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .filter(|e| !e.path().starts_with(store.join("tmp")))
            .map(|e| e.path().display().to_string())
            .collect();
        assert!(
            entries.is_empty(),
            "{what}: a store without VERSION holds {entries:?}"
        );
        return;
    }
    let out = verify(store);
    assert_eq!(
        code(&out),
        0,
        "{what}: store verify failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

fn kill_loop(command: &str, points: usize, marker: &str) -> KillTally {
    let dir = project(&kill_graph(marker), &[("src.txt", "kill loop\n")]);
    let reference_store = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let (status, manifest, err) = build_json(dir.path(), reference_store.path());
    assert_eq!(status, 0, "{err}");
    let reference: Vec<String> = steps(&manifest)
        .iter()
        .map(|s| s["content_hash"].as_str().unwrap().to_string())
        .collect();
    // Spread the kill points over a little more than one whole build (a check takes
    // longer still; its later points fall in its second round).
    let span = start
        .elapsed()
        .mul_f64(if command == "check" { 2.5 } else { 1.2 });
    let mut tally = KillTally::default();
    let seed = kill_seed();
    eprintln!("kill loop ({command}): seed {seed} (REPROBE_KILL_SEED={seed} replays it)");
    let mut random = SplitMix(seed);
    for i in 0..points {
        // One random point in each of `points` equal slices of the span: random, yet
        // spread over the whole build.
        let delay = span.mul_f64((i as f64 + random.unit()) / points.max(1) as f64);
        let (whole, reused) = kill_once(dir.path(), command, delay, marker, &reference);
        tally.points += 1;
        tally.whole_entries += whole;
        tally.reused += reused;
    }
    eprintln!(
        "kill loop ({command}): {} kill points over {span:?}; {} action entries written whole before a kill, {} reused, 0 lost",
        tally.points, tally.whole_entries, tally.reused
    );
    tally
}

#[test]
fn killing_a_build_at_many_points_loses_nothing() {
    let tally = kill_loop("build", kill_points(15), "0.1371");
    assert_eq!(tally.whole_entries, tally.reused);
    assert!(
        tally.whole_entries > 0,
        "no kill point fell after a step finished"
    );
}

#[test]
fn killing_a_check_at_many_points_leaves_the_store_valid() {
    let points = kill_points(15).div_ceil(3);
    let tally = kill_loop("check", points, "0.1372");
    assert_eq!(tally.whole_entries, tally.reused);
}
