//! The store under concurrency and interruption: two builds sharing one store, and a
//! build killed in the middle of a step.

mod hostile;
mod reliability;

use crate::common;

use common::*;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// Every blob matches its name and every action entry parses and points at blobs.
fn assert_store_valid(store: &Path) {
    for entry in walkdir::WalkDir::new(store.join("blobs")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let (hash, _) = reprobe::model::hash::hash_file(entry.path()).unwrap();
            assert_eq!(
                hash.to_string(),
                entry.file_name().to_str().unwrap(),
                "corrupt blob {:?}",
                entry.path()
            );
        }
    }
    for entry in walkdir::WalkDir::new(store.join("actions")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let action: reprobe::store::ActionEntry =
                serde_json::from_slice(&fs::read(entry.path()).unwrap())
                    .expect("action entry parses");
            for output in &action.outputs {
                if let Some(hash) = output.sha256 {
                    let hex = hash.to_string();
                    assert!(
                        store.join("blobs").join(&hex[..2]).join(&hex).is_file(),
                        "missing blob for {}",
                        output.path
                    );
                }
            }
        }
    }
    for entry in fs::read_dir(store.join("builds")).unwrap() {
        reprobe::model::manifest::Manifest::read(&entry.unwrap().path()).expect("manifest reads");
    }
}

#[test]
fn two_builds_sharing_one_store_both_succeed_and_leave_it_valid() {
    let dir = copy_corpus("multi-step");
    let store = tempfile::tempdir().unwrap();
    let spawn = || {
        reprobe()
            .args(["build", "-q", "--store"])
            .arg(store.path())
            .arg(dir.path())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    assert_store_valid(store.path());
    let out = reprobe()
        .args(["build", "--json", "--store"])
        .arg(store.path())
        .arg(dir.path())
        .output()
        .unwrap();
    let m = json(&out);
    for step in m["steps"].as_array().unwrap() {
        assert_eq!(step["status"], "cached", "{}", step["name"]);
    }
}

/// Starts `reprobe build` in `dir` and returns once a process with `marker` runs.
fn start_build_until_running(dir: &Path, marker: &str) -> std::process::Child {
    start_until_running(build_in(dir), marker)
}

/// `reprobe build -q` in `dir`, to be started by [`start_until_running`].
fn build_in(dir: &Path) -> std::process::Command {
    let mut command = reprobe();
    command.args(["build", "-q"]).current_dir(dir);
    command
}

/// Starts `command` and returns once a process with `marker` runs.
fn start_until_running(mut command: std::process::Command, marker: &str) -> std::process::Child {
    let child = command.spawn().unwrap();
    let start = Instant::now();
    while processes_with(marker).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the slow step never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Pids of the `__sandbox-server` processes whose parent is `parent`.
fn fork_servers_of(parent: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The parent pid is the second field after the parenthesised command name.
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1));
        if String::from_utf8_lossy(&cmdline).contains("__sandbox-server")
            && ppid == Some(parent.to_string().as_str())
        {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

/// Fails unless every process of `pids` is gone (or a zombie) within 5 seconds.
fn wait_until_gone(pids: &[String]) {
    let start = Instant::now();
    let alive = || {
        pids.iter()
            .filter(|pid| {
                let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                stat.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next())
                    .is_some_and(|state| state != "Z")
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    while !alive().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "outlived reprobe: {:?}",
            alive()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fails unless every process with `marker` is gone within 5 seconds.
fn wait_until_no_process_has(marker: &str) {
    let start = Instant::now();
    while !processes_with(marker).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "step outlived reprobe: {:?}",
            processes_with(marker)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(marker) && !text.contains("reprobe") {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[test]
fn a_build_killed_mid_step_leaves_no_process_and_the_next_build_reuses_what_finished() {
    let marker = "47.123";
    let graph = format!(
        r#"
[steps.fast]
run = "echo done > fast.txt"
outputs = ["fast.txt"]
[steps.slow]
run = "echo partial > slow.txt; sleep {marker}; echo whole >> slow.txt"
deps = ["fast"]
outputs = ["slow.txt"]
timeout = 5
"#
    );
    let dir = project(&graph, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let mut command = build_in(dir.path());
    command.env("TMPDIR", tmp.path());
    let mut child = start_until_running(command, marker);
    let servers = fork_servers_of(child.id());
    assert_eq!(servers.len(), 1, "one fork server per reprobe run");
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until_no_process_has(marker);
    wait_until_gone(&servers);
    assert_store_valid(&dir.path().join(".reprobe"));
    let scratch: Vec<_> = fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(
        scratch.is_empty(),
        "the fork server removes the killed step's temporary directory: {scratch:?}"
    );

    // The next build reuses `fast` and reruns `slow` (which now times out fast, since it
    // is killed at its timeout: no half entry of it may be served).
    let fs_graph = graph.replace(&format!("sleep {marker}; "), "");
    fs::write(dir.path().join("reprobe.toml"), fs_graph).unwrap();
    let out = run_in(dir.path(), &["build", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let m = json(&out);
    assert_eq!(step_status(&m, "fast"), "cached");
    assert_eq!(step_status(&m, "slow"), "ran");
    let leftovers: Vec<_> = fs::read_dir(dir.path().join(".reprobe/tmp"))
        .unwrap()
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files of the killed build were not cleared"
    );
}

#[test]
fn a_killed_fork_server_fails_its_running_step_and_leaves_no_process() {
    let marker = "49.777";
    let dir = project(
        &format!("[steps.slow]\nrun = \"sleep {marker}; echo s > s\"\noutputs = [\"s\"]\n"),
        &[],
    );
    let mut command = build_in(dir.path());
    command.stderr(std::process::Stdio::piped());
    let child = start_until_running(command, marker);
    let servers = fork_servers_of(child.id());
    assert_eq!(servers.len(), 1, "one fork server per reprobe run");
    let server = nix::unistd::Pid::from_raw(servers[0].parse().unwrap());
    nix::sys::signal::kill(server, nix::sys::signal::Signal::SIGKILL).unwrap();
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(20), "reprobe hung");
    assert_eq!(
        out.status.code(),
        Some(3),
        "the step failed, so the build fails"
    );
    assert!(
        stderr(&out).contains("fork server (reprobe __sandbox-server) died while the step ran"),
        "{}",
        stderr(&out)
    );
    wait_until_no_process_has(marker);
    assert_store_valid(&dir.path().join(".reprobe"));
}

#[test]
fn with_the_fork_server_off_no_server_runs() {
    let marker = "49.778";
    let dir = project(
        &format!("[steps.slow]\nrun = \"sleep {marker}; echo s > s\"\noutputs = [\"s\"]\n"),
        &[],
    );
    let mut command = build_in(dir.path());
    command.env("REPROBE_FORK_SERVER", "off");
    let mut child = start_until_running(command, marker);
    let servers = fork_servers_of(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until_no_process_has(marker);
    assert_eq!(
        servers,
        Vec::<String>::new(),
        "REPROBE_FORK_SERVER=off is ignored"
    );
}

#[test]
fn a_step_is_killed_at_its_timeout_with_its_children() {
    let dir = project(
        "[steps.hang]\nrun = \"(sleep 61.5 &) ; sleep 61.5\"\noutputs = [\"o\"]\ntimeout = \"1s\"\n",
        &[],
    );
    let start = Instant::now();
    let out = run_in(dir.path(), &["build"]);
    assert_eq!(code(&out), 3);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        processes_with("61.5").is_empty(),
        "{:?}",
        processes_with("61.5")
    );
}

#[test]
fn ctrl_c_stops_every_step_process_and_leaves_the_store_consistent() {
    let marker = "53.321";
    let dir = project(
        &format!(
            "[steps.quick]\nrun = \"echo q > q\"\noutputs = [\"q\"]\n[steps.slow]\nrun = \"sleep {marker} & sleep {marker}; echo s > s\"\noutputs = [\"s\"]\ndeps = [\"quick\"]\n"
        ),
        &[],
    );
    let mut child = start_build_until_running(dir.path(), marker);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "interrupted builds exit 130");
    wait_until_no_process_has(marker);
    assert_store_valid(&dir.path().join(".reprobe"));
    let graph = fs::read_to_string(dir.path().join("reprobe.toml")).unwrap();
    fs::write(
        dir.path().join("reprobe.toml"),
        graph.replace(&format!("sleep {marker} & sleep {marker}; "), ""),
    )
    .unwrap();
    let m = json(&run_in(dir.path(), &["build", "--json"]));
    assert_eq!(step_status(&m, "quick"), "cached");
    assert_eq!(step_status(&m, "slow"), "ran");
}
