//! Hashing throughput, side by side with coreutils in one run.
//!
//! `cargo bench --bench hash` generates, in a temp dir, one 1 GiB file and a tree of
//! 20,000 files totalling 1 GiB, then times (best of 3, warm page cache):
//! - reprobe's streaming file hash vs `sha256sum FILE`;
//! - reprobe's parallel tree hash (rayon, all cores) vs `find | xargs sha256sum` and
//!   `find | xargs -P2 sha256sum`.
//!
//! Set `REPROBE_BENCH_MIB` to use a smaller size (the default is 1024).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn fill(path: &Path, size: usize, seed: u64) {
    let mut file = fs::File::create(path).expect("create");
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in chunk.chunks_mut(8) {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        let n = left.min(chunk.len());
        file.write_all(&chunk[..n]).expect("write");
        left -= n;
    }
}

fn shell(script: &str, dir: &Path) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("sh runs");
    assert!(status.success(), "{script}");
}

fn mib_per_s(bytes: u64, time: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / time.as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mib: usize = std::env::var("REPROBE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let total = mib << 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big.bin");
    fill(&big, total, 1);
    let tree = dir.path().join("tree");
    let files = 20_000usize;
    for i in 0..files {
        let sub = tree.join(format!("d{:03}", i % 200));
        if i < 200 {
            fs::create_dir_all(&sub).expect("mkdir");
        }
        fill(&sub.join(format!("f{i:05}")), total / files, i as u64 + 7);
    }
    let tree_bytes = (total / files * files) as u64;
    println!(
        "hashing benchmark: {mib} MiB file; {files} files totalling {} MiB; best of 3, warm cache",
        tree_bytes >> 20
    );

    let _ = reprobe::model::hash::hash_file(&big);
    let ours = best_of(3, || {
        reprobe::model::hash::hash_file(&big).expect("hash");
    });
    let theirs = best_of(3, || shell("sha256sum big.bin", dir.path()));
    println!(
        "one file   reprobe {:>8.0} MiB/s   sha256sum {:>8.0} MiB/s   ratio {:.2}x",
        mib_per_s(total as u64, ours),
        mib_per_s(total as u64, theirs),
        theirs.as_secs_f64() / ours.as_secs_f64()
    );

    let outputs = vec!["tree".to_string()];
    let ours = best_of(3, || {
        let entries = reprobe::model::tree::scan_outputs(dir.path(), &outputs, |f| {
            reprobe::model::hash::hash_reader(f)
        })
        .expect("scan");
        let _ = reprobe::model::tree::content_hash(&entries);
    });
    let serial = best_of(3, || {
        shell("find tree -type f -print0 | xargs -0 sha256sum", dir.path())
    });
    let parallel = best_of(3, || {
        shell(
            "find tree -type f -print0 | xargs -0 -P2 -n 1000 sha256sum",
            dir.path(),
        )
    });
    println!(
        "tree       reprobe {:>8.0} MiB/s   find|xargs sha256sum {:>8.0} MiB/s ({:.2}x)   find|xargs -P2 sha256sum {:>8.0} MiB/s ({:.2}x)",
        mib_per_s(tree_bytes, ours),
        mib_per_s(tree_bytes, serial),
        serial.as_secs_f64() / ours.as_secs_f64(),
        mib_per_s(tree_bytes, parallel),
        parallel.as_secs_f64() / ours.as_secs_f64()
    );
}
