//! Hostile links and special files, through the real binary: a step that leaves a
//! symlink in its work directory and declares an output beyond it (`d -> /etc`, output
//! `d/shadow`), inputs that are links out of the project, a declared input directory
//! that is such a link, and FIFOs or sockets among the inputs. Each test checksums a
//! canary tree outside the project before and after, and looks for the canary's secret
//! in everything the build wrote (the store, `--out`, `check --keep`): nothing outside
//! the project or the work directory may be read into either.

use crate::common;

use common::*;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Longest a command of these tests may take: past it, it counts as hung.
const HANG: Duration = Duration::from_secs(60);

/// A tree of host files outside the project, holding a secret that must never reach
/// anything the build writes.
struct Canary {
    dir: tempfile::TempDir,
    secret: String,
}

impl Canary {
    /// A canary below `/tmp` (where a step's link can point although the sandbox hides
    /// it): `secret`, `sub/secret` and `.bashrc`, all holding the secret.
    fn new() -> Canary {
        let dir = tempfile::Builder::new()
            .prefix("reprobe-canary-")
            .tempdir_in("/tmp")
            .expect("canary dir");
        let secret = format!(
            "canary-secret-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        fs::create_dir(dir.path().join("sub")).unwrap();
        for name in ["secret", "sub/secret", ".bashrc"] {
            fs::write(dir.path().join(name), format!("{secret}\n")).unwrap();
        }
        Canary { dir, secret }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A checksum of every path, type, mode and content below the canary.
    fn checksum(&self) -> String {
        tree_checksum(self.path())
    }

    /// Fails when the secret is in any file below `dir` (links are not followed).
    fn assert_absent_below(&self, dir: &Path) {
        for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
            if !entry.file_type().is_file() {
                continue;
            }
            let bytes = fs::read(entry.path()).unwrap_or_default();
            assert!(
                !contains(&bytes, self.secret.as_bytes()),
                "the canary's secret leaked into {}",
                entry.path().display()
            );
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// sha256 over every entry below `dir`: its path, type, permission bits and content
/// (a link's target), in path order.
fn tree_checksum(dir: &Path) -> String {
    let mut hasher = Sha256::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("walk canary");
        let meta = entry.path().symlink_metadata().expect("lstat");
        hasher.update(entry.path().to_string_lossy().as_bytes());
        hasher.update(format!("{:o}", meta.permissions().mode()).as_bytes());
        if meta.file_type().is_symlink() {
            hasher.update(
                fs::read_link(entry.path())
                    .unwrap()
                    .as_os_str()
                    .as_encoded_bytes(),
            );
        } else if meta.is_file() {
            hasher.update(fs::read(entry.path()).unwrap());
        }
    }
    hex::encode(hasher.finalize())
}

/// Runs reprobe with `args` in `dir`, killed (and the test failed) past [`HANG`].
fn run_guarded(dir: &Path, args: &[&str]) -> Output {
    let child = reprobe()
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("reprobe runs");
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(HANG) {
        Ok(output) => output.expect("reprobe output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("reprobe {args:?} did not finish within {HANG:?}");
        }
    }
}

/// The blob a file's bytes would be stored as, if the store had them.
fn blob_of(store: &Path, bytes: &[u8]) -> PathBuf {
    let hash = hex::encode(Sha256::digest(bytes));
    store.join("blobs").join(&hash[..2]).join(&hash)
}

/// Fails if a readable host file's bytes are anywhere in the store.
fn assert_not_stored(store: &Path, host_file: &Path) {
    if let Ok(bytes) = fs::read(host_file) {
        assert!(
            !blob_of(store, &bytes).exists(),
            "{} was copied into the store",
            host_file.display()
        );
    }
}

fn assert_failed_with(out: &Output, exit: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(code(out), exit, "{}{err}", stdout(out));
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
}

/// A graph with one step `s` running `run` and declaring `outputs`.
fn one_step(run: &str, outputs: &[&str]) -> String {
    let outputs: Vec<String> = outputs.iter().map(|o| format!("{o:?}")).collect();
    format!(
        "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.s]\nrun = {run:?}\noutputs = [{}]\n",
        outputs.join(", ")
    )
}

// ---- outputs beyond a symlink -------------------------------------------------------

/// Builds a step that links `link` to `target` and declares `output` below the link:
/// the step fails naming the output and the link, and nothing of the target is read.
fn assert_output_through_link_refused(link: &str, target: &str, output: &str, canary: &Canary) {
    let before = canary.checksum();
    let run = format!("mkdir -p $(dirname {link}) && ln -s {target} {link}");
    let project = project(&one_step(&run, &[output]), &[]);
    let out_dir = project.path().join("exported");
    let out = run_guarded(
        project.path(),
        &[
            "build",
            "--no-cache",
            ".",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    let shown_link = link.trim_start_matches("./");
    assert_failed_with(
        &out,
        3,
        &format!(
            "step `s` failed: output `{output}` goes through the symlink {shown_link} -> {target}; \
             outputs must be inside the work directory"
        ),
    );
    assert!(!out_dir.exists(), "--out wrote {}", out_dir.display());
    canary.assert_absent_below(project.path());
    assert_not_stored(&project.path().join(".reprobe"), Path::new("/etc/shadow"));
    assert_not_stored(&project.path().join(".reprobe"), Path::new("/root/.bashrc"));
    assert_eq!(canary.checksum(), before, "the canary changed");
}

#[test]
fn an_output_below_a_link_to_etc_is_refused() {
    let canary = Canary::new();
    assert_output_through_link_refused("d", "/etc", "d/shadow", &canary);
}

#[test]
fn an_output_below_a_link_to_root_is_refused() {
    let canary = Canary::new();
    assert_output_through_link_refused("r", "/root", "r/.bashrc", &canary);
}

#[test]
fn outputs_below_links_into_tmp_are_refused_at_any_depth() {
    let canary = Canary::new();
    let target = canary.path().to_str().unwrap().to_string();
    assert_output_through_link_refused("c", &target, "c/secret", &canary);
    assert_output_through_link_refused("a/b/c", &target, "a/b/c/sub/secret", &canary);
    // A link in the middle whose target is inside the work directory is no way out
    // either: only the output's own last component may be a link.
    assert_output_through_link_refused("./up", ".", "up/x", &canary);
}

#[test]
fn check_keep_refuses_outputs_below_a_link() {
    let canary = Canary::new();
    let before = canary.checksum();
    let run = format!("ln -s {} c", canary.path().display());
    let project = project(&one_step(&run, &["c/secret"]), &[]);
    let keep = project.path().join("kept");
    let out = run_guarded(
        project.path(),
        &["check", ".", "--keep", keep.to_str().unwrap()],
    );
    // `check` reports the failure in its table, on stdout.
    let report = stdout(&out);
    assert_eq!(code(&out), 3, "{report}{}", stderr(&out));
    assert!(
        report.contains("failed in every build: output `c/secret` goes through the symlink c -> "),
        "{report}"
    );
    canary.assert_absent_below(project.path());
    assert_eq!(canary.checksum(), before, "the canary changed");
}

#[test]
fn a_dependent_step_never_gets_what_lies_beyond_a_link() {
    let canary = Canary::new();
    let before = canary.checksum();
    let graph = format!(
        "[env]\nPATH = \"/usr/bin:/bin\"\n\
         [steps.leak]\nrun = \"ln -s {} c\"\noutputs = [\"c/secret\"]\n\
         [steps.use]\nrun = \"cat c/secret > o\"\ndeps = [\"leak\"]\noutputs = [\"o\"]\n",
        canary.path().display()
    );
    let project = project(&graph, &[]);
    let out = run_guarded(project.path(), &["build", "--json", "."]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let manifest = json(&out);
    assert_eq!(step_status(&manifest, "leak"), "failed");
    assert_eq!(step_status(&manifest, "use"), "skipped");
    canary.assert_absent_below(project.path());
    assert_eq!(canary.checksum(), before, "the canary changed");
}

#[test]
fn a_link_that_is_the_output_is_kept_as_a_link() {
    let canary = Canary::new();
    let run = format!(
        "ln -s {0} c && mkdir d && ln -s {0}/secret d/s",
        canary.path().display()
    );
    let project = project(&one_step(&run, &["c", "d"]), &[]);
    let out_dir = project.path().join("exported");
    let out = run_guarded(
        project.path(),
        &["build", ".", "--out", out_dir.to_str().unwrap()],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for link in ["c", "d/s"] {
        let meta = fs::symlink_metadata(out_dir.join(link)).expect("exported");
        assert!(meta.file_type().is_symlink(), "{link} exported as a copy");
    }
    canary.assert_absent_below(project.path());
}

// ---- inputs that are links ----------------------------------------------------------

#[test]
fn input_links_out_of_the_project_are_copied_as_links() {
    let canary = Canary::new();
    let before = canary.checksum();
    let graph = "[env]\nPATH = \"/usr/bin:/bin\"\n[steps.s]\n\
                 run = \"for f in indir/*; do if test -L $f; then echo $f is a link to $(readlink $f); else echo $f: $(cat $f); fi; done > o\"\n\
                 inputs = [\"indir\"]\noutputs = [\"o\"]\n";
    let project = project(graph, &[("indir/plain", "plain\n"), ("real.txt", "real\n")]);
    let indir = project.path().join("indir");
    symlink(canary.path().join("secret"), indir.join("secret")).unwrap();
    symlink("/etc/shadow", indir.join("shadow")).unwrap();
    symlink("../real.txt", indir.join("inside")).unwrap();
    let out_dir = project.path().join("exported");
    let out = run_guarded(
        project.path(),
        &["build", ".", "--out", out_dir.to_str().unwrap()],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = fs::read_to_string(out_dir.join("o")).unwrap();
    // A link inside the project is the file it names; links out stay links.
    assert_eq!(
        report,
        format!(
            "indir/inside: real\nindir/plain: plain\nindir/secret is a link to {}\n\
             indir/shadow is a link to /etc/shadow\n",
            canary.path().join("secret").display()
        )
    );
    canary.assert_absent_below(project.path());
    assert_not_stored(&project.path().join(".reprobe"), Path::new("/etc/shadow"));
    assert_eq!(canary.checksum(), before, "the canary changed");
}

#[test]
fn an_input_directory_that_links_out_of_the_project_is_refused() {
    let canary = Canary::new();
    let before = canary.checksum();
    let graph = one_step("cat indir/secret > o", &["o"])
        .replace("outputs", "inputs = [\"indir\"]\noutputs");
    let project = project(&graph, &[]);
    symlink(canary.path(), project.path().join("indir")).unwrap();
    let out = run_guarded(project.path(), &["build", "."]);
    assert_failed_with(
        &out,
        2,
        &format!(
            "goes through the symlink indir -> {}, which leads out of the project",
            canary.path().display()
        ),
    );
    canary.assert_absent_below(project.path());
    assert_eq!(canary.checksum(), before, "the canary changed");
}

// ---- special files among the inputs -------------------------------------------------

/// A project whose step declares `inputs`, with `dir/a` and a special file at
/// `dir/special` made by `make`.
fn assert_special_input_refused(inputs: &str, kind: &str, make: impl Fn(&Path)) {
    let canary = Canary::new();
    let before = canary.checksum();
    let graph = one_step("cat dir/a > o", &["o"])
        .replace("outputs", &format!("inputs = [{inputs:?}]\noutputs"));
    let project = project(&graph, &[("dir/a", "a\n")]);
    make(&project.path().join("dir/special"));
    for command in ["build", "check"] {
        let out = run_guarded(project.path(), &[command, "."]);
        assert_failed_with(
            &out,
            2,
            &format!("`dir/special`, {kind}, not a regular file"),
        );
    }
    assert_eq!(canary.checksum(), before, "the canary changed");
}

fn make_fifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

#[test]
fn a_fifo_in_an_input_directory_is_refused_without_hanging() {
    assert_special_input_refused("dir", "a FIFO", make_fifo);
}

#[test]
fn a_fifo_matched_by_a_glob_is_refused_without_hanging() {
    assert_special_input_refused("dir/*", "a FIFO", make_fifo);
}

#[test]
fn a_socket_among_the_inputs_is_refused() {
    assert_special_input_refused("dir", "a socket", |path| {
        let listener = std::os::unix::net::UnixListener::bind(path).expect("bind");
        // The socket file stays after the listener is gone.
        drop(listener);
    });
}

#[test]
fn a_device_among_the_inputs_is_refused_when_one_can_be_made() {
    let probe = tempfile::tempdir().unwrap();
    let made = Command::new("mknod")
        .arg(probe.path().join("null"))
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("skipped: mknod is not permitted here (needs root)");
        return;
    }
    assert_special_input_refused("dir", "a character device", |path| {
        let status = Command::new("mknod")
            .arg(path)
            .args(["c", "1", "3"])
            .status()
            .expect("mknod");
        assert!(status.success());
    });
}
