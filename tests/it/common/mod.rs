//! Helpers shared by the integration tests: run the real binary on real graphs.
#![allow(dead_code)]

pub mod buildgrid;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The reprobe binary under test.
pub fn reprobe() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reprobe"));
    cmd.env_remove("REPROBE_STORE")
        .env_remove("REPROBE_REMOTE")
        .env_remove("REPROBE_REMOTE_TIMEOUT")
        .env("NO_COLOR", "1");
    cmd
}

/// Runs reprobe with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    reprobe()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("reprobe runs")
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The process's exit code.
pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// The repository's corpus directory.
pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

/// A private copy of a corpus example, so tests never write into the repository.
pub fn copy_corpus(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&corpus(name), dir.path());
    dir
}

/// Recursively copies a directory (skipping any `.reprobe` store).
pub fn copy_tree(src: &Path, dest: &Path) {
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.expect("walk corpus");
        let rel = entry.path().strip_prefix(src).expect("below src");
        if rel.components().any(|c| c.as_os_str() == ".reprobe") {
            continue;
        }
        let target = dest.join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).expect("mkdir");
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A temp project holding one graph file with `text` (and any extra files).
pub fn project(text: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("reprobe.toml"), text).expect("write graph");
    for (path, content) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, content).expect("write file");
    }
    dir
}

/// Parses `build --json` output.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

/// The status of a step in a manifest.
pub fn step_status(manifest: &serde_json::Value, step: &str) -> String {
    manifest["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == step)
        .unwrap_or_else(|| panic!("no step {step}"))["status"]
        .as_str()
        .expect("status")
        .to_string()
}

/// A directory steps can see by absolute path. The sandbox hides `/tmp`, `/var/tmp`,
/// `/home`, `/root` and `/run`; when the checkout (and so cargo's temp dir) lives below one
/// of them, as a CI clone in `/tmp` does, a directory in `/var/cache` is used instead.
pub fn sandbox_visible_tmp() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let hidden = ["/tmp", "/var/tmp", "/home", "/root", "/run"];
    if !hidden.iter().any(|h| target.starts_with(h)) {
        return target;
    }
    let dir = PathBuf::from("/var/cache/reprobe-tests");
    fs::create_dir_all(&dir).expect("create /var/cache/reprobe-tests");
    dir
}

/// Runs reprobe in `dir` with stderr on a pseudo-terminal (stdout to a pipe), and returns
/// its exit code and what it wrote to the terminal.
pub fn run_with_stderr_on_terminal(dir: &Path, args: &[&str]) -> (i32, String) {
    use std::io::Read;
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    let mut cmd = reprobe();
    cmd.args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(pty.slave));
    let mut child = cmd.spawn().expect("reprobe runs");
    // Our copy of the terminal's other end must close, so reading ends when the child's does.
    drop(cmd);
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
    });
    let mut master = fs::File::from(pty.master);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("reading the terminal: {e}"),
        }
    }
    let status = child.wait().expect("wait");
    let _ = reader.join();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out).into_owned(),
    )
}
