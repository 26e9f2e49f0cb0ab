//! The store and the scratch directory never act through links planted in them, a
//! second user can run `check` after a first, and whatever sits where a blob belongs (a
//! FIFO, a directory, corrupt bytes) is removed, reported and rebuilt, never served and
//! never a hang.
//!
//! Nothing outside the store may change: each test builds a canary tree (files,
//! sub-directories, modes) where a planted link points, and compares its checksum after
//! every command. The tests that matter for other users run the real binary both as root
//! and as an unprivileged user (`reprobe-test2`, created when missing), through
//! `setpriv`; without root, that half is skipped and says so.

use crate::common;

use common::*;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tests that plant things in `/dev/shm` run one at a time.
static SHM: Mutex<()> = Mutex::new(());

/// Longest a command may take before it counts as hung (generous: a guard, not a
/// measurement).
const HANG_GUARD: Duration = Duration::from_secs(60);

const GRAPH: &str = r#"
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

/// Who runs a command.
#[derive(Clone, Copy, Debug)]
enum As {
    Root,
    User(u32, u32),
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The unprivileged test user (created if missing), or `None` when not root.
fn test_user() -> Option<As> {
    if !is_root() {
        eprintln!("not root: the unprivileged half of this test is skipped");
        return None;
    }
    let ids = |flag: &str| -> Option<u32> {
        let out = Command::new("id")
            .args([flag, "reprobe-test2"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if ids("-u").is_none() {
        // Another test may create it at the same moment: its failure is fine if the
        // user exists afterwards.
        let _ = Command::new("useradd")
            .args(["-m", "reprobe-test2"])
            .output();
    }
    Some(As::User(
        ids("-u").expect("user reprobe-test2"),
        ids("-g").expect("group of reprobe-test2"),
    ))
}

/// The users a test runs as: root (when root) and the unprivileged test user.
fn runners() -> Vec<As> {
    let mut out = Vec::new();
    if is_root() {
        out.push(As::Root);
    }
    out.extend(test_user());
    if out.is_empty() {
        // Not root: run as ourselves.
        // SAFETY: getuid/getgid cannot fail.
        out.push(As::User(unsafe { libc::geteuid() }, unsafe {
            libc::getegid()
        }));
    }
    out
}

fn command(who: As) -> Command {
    let bin = env!("CARGO_BIN_EXE_reprobe");
    let mut cmd = match who {
        As::User(uid, gid) if is_root() => {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(bin);
            cmd
        }
        _ => Command::new(bin),
    };
    cmd.env_remove("REPROBE_STORE").env("NO_COLOR", "1");
    cmd
}

/// Runs reprobe as `who` in `dir`; a run longer than [`HANG_GUARD`] is killed and fails
/// the test.
fn run(who: As, dir: &Path, args: &[&str]) -> Output {
    let mut child = command(who)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("reprobe runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`reprobe {}` hung (killed after {HANG_GUARD:?})",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

fn chown_tree(path: &Path, who: As) {
    if let As::User(uid, gid) = who {
        if !is_root() {
            return;
        }
        for entry in walkdir::WalkDir::new(path) {
            let entry = entry.expect("walk");
            std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid)).expect("chown");
        }
    }
}

/// A directory everyone may enter, holding what the test makes.
fn open_area() -> tempfile::TempDir {
    let area = tempfile::tempdir().expect("temp dir");
    fs::set_permissions(area.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    area
}

/// A project with [`GRAPH`] in `area/name`, owned by `who`.
fn project_in(area: &Path, name: &str, who: As) -> PathBuf {
    let dir = area.join(name);
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("reprobe.toml"), GRAPH).expect("graph");
    fs::write(dir.join("extra.txt"), "one\n").expect("extra");
    chown_tree(&dir, who);
    dir
}

/// A tree that must never change: files, sub-directories (one 0700, one read-only),
/// and entries named as a dead process's temporaries would be.
fn canary(area: &Path, name: &str, who: As) -> PathBuf {
    let dir = area.join(name);
    for sub in ["private/deeper", "plain", "999999999-0-gen/work", "tmp/x"] {
        fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    fs::write(dir.join("private/deeper/secret"), "s\n").expect("write");
    fs::write(dir.join("plain/file"), "f\n").expect("write");
    fs::write(dir.join("999999999-0-gen/work/out"), "o\n").expect("write");
    fs::write(dir.join("999999999-1.part"), "p\n").expect("write");
    fs::write(dir.join("tmp/x/y"), "y\n").expect("write");
    fs::set_permissions(dir.join("private"), fs::Permissions::from_mode(0o700)).expect("chmod");
    fs::set_permissions(dir.join("plain/file"), fs::Permissions::from_mode(0o400)).expect("chmod");
    fs::set_permissions(dir.join("plain"), fs::Permissions::from_mode(0o555)).expect("chmod");
    chown_tree(&dir, who);
    dir
}

/// Every entry below `dir` (links not followed): path, type, mode, owner, content.
fn checksum(dir: &Path) -> String {
    let mut lines = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("walk canary");
        let meta = entry.path().symlink_metadata().expect("lstat");
        let rel = entry.path().strip_prefix(dir).expect("below");
        let content = if meta.file_type().is_file() {
            hex::encode(Sha256::digest(fs::read(entry.path()).expect("read")))
        } else if meta.file_type().is_symlink() {
            fs::read_link(entry.path())
                .expect("readlink")
                .display()
                .to_string()
        } else {
            String::new()
        };
        lines.push(format!(
            "{} {:o} {} {}",
            rel.display(),
            meta.mode(),
            meta.uid(),
            content
        ));
    }
    lines.join("\n")
}

fn plant_link(target: &Path, at: &Path) {
    if at.symlink_metadata().is_ok() {
        let _ = fs::remove_file(at).or_else(|_| fs::remove_dir_all(at));
    }
    std::os::unix::fs::symlink(target, at).expect("plant link");
}

fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(output), stderr(output)))
}

fn step<'a>(manifest: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    manifest["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}"))
}

fn blob_of(store: &Path, manifest: &serde_json::Value, name: &str) -> (String, PathBuf) {
    let hash = step(manifest, name)["outputs"][0]["sha256"]
        .as_str()
        .expect("sha256")
        .to_string();
    let path = store.join("blobs").join(&hash[..2]).join(&hash);
    (hash, path)
}

fn build_json(who: As, dir: &Path) -> (Output, serde_json::Value) {
    let out = run(who, dir, &["build", "--json", "."]);
    let manifest = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, manifest)
}

fn replace_with_fifo(path: &Path) {
    fs::remove_file(path).expect("remove blob");
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
}

// ---------------------------------------------------------------------------------------
// 1. Links in the store.

#[test]
fn no_command_deletes_through_a_link_planted_at_the_store_tmp() {
    for who in runners() {
        let area = open_area();
        let victim = canary(area.path(), "victim", who);
        let before = checksum(&victim);
        let commands: [&[&str]; 5] = [
            &["store", "verify", "."],
            &["store", "gc", "--grace", "0", "."],
            &["store", "gc", "--dry-run", "--grace", "0", "."],
            &["build", "."],
            &["explain", "."],
        ];
        for (i, args) in commands.iter().enumerate() {
            let dir = project_in(area.path(), &format!("p{i}"), who);
            let out = run(who, &dir, &["build", "-q", "."]);
            assert_eq!(code(&out), 0, "{who:?}: {}", stderr(&out));
            let tmp = dir.join(".reprobe/tmp");
            fs::remove_dir_all(&tmp).expect("remove tmp");
            plant_link(&victim, &tmp);
            let out = run(who, &dir, args);
            assert_eq!(
                checksum(&victim),
                before,
                "{who:?} `{}` changed what the link points at",
                args.join(" ")
            );
            assert_eq!(
                code(&out),
                2,
                "{who:?} `{}`: {}{}",
                args.join(" "),
                stdout(&out),
                stderr(&out)
            );
            let err = stderr(&out);
            assert!(
                err.contains(".reprobe/tmp is a symbolic link")
                    && err.contains("remove the link")
                    && err.contains("--store DIR"),
                "{who:?} `{}`: {err}",
                args.join(" ")
            );
            assert!(tmp.symlink_metadata().unwrap().file_type().is_symlink());
        }
    }
}

#[test]
fn a_default_store_that_is_a_link_is_refused_and_an_explicit_one_is_followed() {
    for who in runners() {
        let area = open_area();
        // What `.reprobe -> /` would offer: a tmp/ full of entries.
        let victim = canary(area.path(), "victim", who);
        let before = checksum(&victim);
        let dir = project_in(area.path(), "p", who);
        plant_link(&victim, &dir.join(".reprobe"));
        for args in [
            &["build", "."][..],
            &["check", "."][..],
            &["store", "verify", "."][..],
            &["store", "gc", "--grace", "0", "."][..],
        ] {
            let out = run(who, &dir, args);
            assert_eq!(
                checksum(&victim),
                before,
                "{who:?} {args:?} changed the link's target"
            );
            assert_eq!(code(&out), 2, "{who:?} {args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(".reprobe is a symbolic link"),
                "{who:?} {args:?}: {}",
                stderr(&out)
            );
        }
        // Named explicitly, the link is followed (once, to open the store).
        let real = area.path().join("real-store");
        fs::create_dir(&real).expect("mkdir");
        chown_tree(&real, who);
        let link = area.path().join("store-link");
        plant_link(&real, &link);
        let store_arg = link.display().to_string();
        let out = run(who, &dir, &["build", "-q", "--store", &store_arg, "."]);
        assert_eq!(code(&out), 0, "{who:?}: {}", stderr(&out));
        assert!(real.join("VERSION").is_file());
        let out = run(who, &dir, &["store", "verify", "--store", &store_arg]);
        assert_eq!(code(&out), 0, "{who:?}: {}{}", stdout(&out), stderr(&out));
    }
}

#[test]
fn a_link_where_a_blob_shard_belongs_fails_the_step_naming_it() {
    let who = runners()[0];
    let area = open_area();
    let victim = canary(area.path(), "victim", who);
    let before = checksum(&victim);
    let dir = project_in(area.path(), "p", who);
    let (out, manifest) = build_json(who, &dir);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (hash, _) = blob_of(&dir.join(".reprobe"), &manifest, "gen");
    let shard = dir.join(".reprobe/blobs").join(&hash[..2]);
    fs::remove_dir_all(&shard).expect("remove shard");
    plant_link(&victim, &shard);
    let out = run(who, &dir, &["build", "--no-cache", "."]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("is a symbolic link") && stderr(&out).contains("remove the link"),
        "{}",
        stderr(&out)
    );
    let out = run(who, &dir, &["store", "gc", "--grace", "0", "."]);
    assert!(code(&out) <= 1, "{}", stderr(&out));
    assert_eq!(checksum(&victim), before);
}

#[test]
fn gc_dry_run_changes_nothing_at_all() {
    let who = runners()[0];
    let area = open_area();
    let dir = project_in(area.path(), "p", who);
    let (out, manifest) = build_json(who, &dir);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let store = dir.join(".reprobe");
    // Something for every kind of removal: a dead process's temporaries, an
    // unreferenced blob, a broken action entry, a FIFO where a blob belongs.
    fs::write(dir.join("extra.txt"), "two\n").expect("write");
    let out = run(who, &dir, &["build", "-q", "."]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    fs::create_dir_all(store.join("tmp/999999999-0-x/work")).expect("mkdir");
    fs::write(store.join("tmp/999999999-1.part"), "p").expect("write");
    fs::remove_file(
        store
            .join("builds")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .expect("drop a manifest");
    let (_, gen_blob) = blob_of(&store, &manifest, "gen");
    replace_with_fifo(&gen_blob);
    chown_tree(&store, who);
    let before = checksum(&store);
    let out = run(
        who,
        &dir,
        &["store", "gc", "--dry-run", "--grace", "0", "--json", "."],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json_of(&out);
    assert!(
        report["removed_temporaries"].as_u64().unwrap() >= 2,
        "{report}"
    );
    assert!(report["removed_blobs"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(checksum(&store), before, "gc --dry-run changed the store");
}

// ---------------------------------------------------------------------------------------
// 2. The scratch directory in /dev/shm.

fn shm_is_tmpfs() -> bool {
    nix::sys::statfs::statfs("/dev/shm")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

fn uid_of(who: As) -> u32 {
    match who {
        As::Root => 0,
        As::User(uid, _) => uid,
    }
}

#[test]
fn check_works_for_a_second_user_after_root() {
    let _shm = SHM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(user) = test_user() else {
        return;
    };
    let area = open_area();
    let first = project_in(area.path(), "first", As::Root);
    let out = run(As::Root, &first, &["check", "."]);
    assert_eq!(code(&out), 0, "root: {}{}", stdout(&out), stderr(&out));
    let second = project_in(area.path(), "second", user);
    let out = run(user, &second, &["check", "."]);
    assert_eq!(
        code(&out),
        0,
        "second user: {}{}",
        stdout(&out),
        stderr(&out)
    );
    if shm_is_tmpfs() {
        let own = PathBuf::from(format!("/dev/shm/reprobe-{}", uid_of(user)));
        let meta = own
            .symlink_metadata()
            .expect("the user's scratch directory");
        assert!(meta.is_dir());
        assert_eq!((meta.uid(), meta.mode() & 0o777), (uid_of(user), 0o700));
    }
}

#[test]
fn a_link_planted_at_the_scratch_path_is_never_followed() {
    let _shm = SHM.lock().unwrap_or_else(|e| e.into_inner());
    if !shm_is_tmpfs() {
        eprintln!("/dev/shm is no tmpfs: no scratch directory there, nothing to test");
        return;
    }
    let who = test_user().unwrap_or_else(|| runners()[0]);
    let area = open_area();
    let victim = canary(area.path(), "victim", who);
    let before = checksum(&victim);
    let scratch = PathBuf::from(format!("/dev/shm/reprobe-{}", uid_of(who)));
    let saved = area.path().join("saved-scratch");
    if scratch.symlink_metadata().is_ok() && fs::rename(&scratch, &saved).is_err() {
        let _ = fs::remove_dir_all(&scratch);
    }
    plant_link(&victim, &scratch);
    let dir = project_in(area.path(), "p", who);
    let out = run(who, &dir, &["check", "-v", "."]);
    let planted_still = scratch
        .symlink_metadata()
        .map(|m| m.file_type().is_symlink());
    let _ = fs::remove_file(&scratch);
    if saved.exists() {
        let _ = fs::rename(&saved, &scratch);
    }
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("is a symbolic link: not used"),
        "-v says the scratch path was refused: {}",
        stderr(&out)
    );
    assert!(
        planted_still.unwrap_or(false),
        "the planted link was replaced"
    );
    assert_eq!(checksum(&victim), before, "the link's target changed");
}

#[test]
fn another_users_directory_at_the_scratch_path_is_not_used() {
    let _shm = SHM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(user) = test_user() else {
        return;
    };
    if !shm_is_tmpfs() {
        return;
    }
    let scratch = PathBuf::from(format!("/dev/shm/reprobe-{}", uid_of(user)));
    let area = open_area();
    let saved = area.path().join("saved-scratch");
    if scratch.symlink_metadata().is_ok() && fs::rename(&scratch, &saved).is_err() {
        let _ = fs::remove_dir_all(&scratch);
    }
    // Root's directory, open to all: someone else's, never to be used.
    fs::create_dir(&scratch).expect("mkdir");
    fs::set_permissions(&scratch, fs::Permissions::from_mode(0o777)).expect("chmod");
    let inside = canary(&scratch, "planted", As::Root);
    let before = checksum(&scratch);
    let dir = project_in(area.path(), "p", user);
    let out = run(user, &dir, &["check", "-v", "."]);
    let after = checksum(&scratch);
    let _ = fs::remove_dir_all(&inside);
    let _ = fs::remove_dir(&scratch);
    if saved.exists() {
        let _ = fs::rename(&saved, &scratch);
    }
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("not used"), "{}", stderr(&out));
    assert_eq!(after, before, "another user's directory was written to");
}

#[test]
fn leftovers_in_the_scratch_directory_are_removed_by_handle_never_followed() {
    let _shm = SHM.lock().unwrap_or_else(|e| e.into_inner());
    if !shm_is_tmpfs() {
        return;
    }
    let who = test_user().unwrap_or_else(|| runners()[0]);
    let area = open_area();
    let victim = canary(area.path(), "victim", who);
    let before = checksum(&victim);
    let dir = project_in(area.path(), "p", who);
    let out = run(who, &dir, &["check", "."]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A dead process's entry that is a link to a tree with 0700 directories: removing
    // the leftover removes the link, and chmods nothing where it points.
    let scratch = PathBuf::from(format!("/dev/shm/reprobe-{}", uid_of(who)));
    let planted = scratch.join("999999999-0-x");
    plant_link(&victim, &planted);
    if let As::User(uid, gid) = who {
        std::os::unix::fs::lchown(&planted, Some(uid), Some(gid)).expect("chown link");
    }
    let out = run(who, &dir, &["check", "."]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        planted.symlink_metadata().is_err(),
        "the leftover link is removed"
    );
    assert_eq!(checksum(&victim), before, "the link's target changed");
}

// ---------------------------------------------------------------------------------------
// 3 and 4. A FIFO or a directory where a blob belongs.

#[test]
fn a_fifo_where_a_blob_belongs_hangs_nothing_and_is_rebuilt() {
    for who in runners() {
        let area = open_area();
        let dir = project_in(area.path(), "p", who);
        let store = dir.join(".reprobe");
        let (out, first) = build_json(who, &dir);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let (hash, blob) = blob_of(&store, &first, "gen");
        // In a build: `use` runs again and needs gen's blob.
        replace_with_fifo(&blob);
        chown_tree(&store, who);
        fs::write(dir.join("extra.txt"), "two\n").expect("write");
        let (out, second) = build_json(who, &dir);
        assert_eq!(code(&out), 0, "{who:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&hash) && stderr(&out).contains("FIFO"),
            "{}",
            stderr(&out)
        );
        assert_eq!(step(&second, "gen")["status"], "ran");
        assert!(
            blob.symlink_metadata().unwrap().is_file(),
            "the blob was written anew"
        );
        let out = run(who, &dir, &["store", "verify", "."]);
        assert_eq!(code(&out), 0, "{who:?}: {}{}", stdout(&out), stderr(&out));
        // In verify: reported, removed by handle, and the next build repairs it.
        replace_with_fifo(&blob);
        chown_tree(&store, who);
        let out = run(who, &dir, &["store", "verify", "."]);
        assert_eq!(code(&out), 1, "{who:?}: {}{}", stdout(&out), stderr(&out));
        assert!(
            stdout(&out).contains("corrupt-blob") && stdout(&out).contains("FIFO"),
            "{}",
            stdout(&out)
        );
        assert!(blob.symlink_metadata().is_err(), "the FIFO was removed");
        let out = run(who, &dir, &["build", "-q", "."]);
        assert_eq!(code(&out), 0, "{who:?}: {}", stderr(&out));
        let out = run(who, &dir, &["store", "verify", "."]);
        assert_eq!(code(&out), 0, "{who:?}: {}{}", stdout(&out), stderr(&out));
    }
}

#[test]
fn a_directory_where_a_blob_belongs_is_removed_and_the_step_rebuilt() {
    for who in runners() {
        let area = open_area();
        let dir = project_in(area.path(), "p", who);
        let store = dir.join(".reprobe");
        let (out, first) = build_json(who, &dir);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let (hash, blob) = blob_of(&store, &first, "gen");
        fs::remove_file(&blob).expect("remove blob");
        fs::create_dir_all(blob.join("sub")).expect("mkdir");
        fs::write(blob.join("sub/f"), "x").expect("write");
        fs::set_permissions(blob.join("sub"), fs::Permissions::from_mode(0o500)).expect("chmod");
        chown_tree(&store, who);
        fs::write(dir.join("extra.txt"), "two\n").expect("write");
        let (out, second) = build_json(who, &dir);
        assert_eq!(code(&out), 0, "{who:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&hash)
                && stderr(&out).contains("a directory where a blob belongs"),
            "{}",
            stderr(&out)
        );
        assert_eq!(step(&second, "gen")["status"], "ran");
        assert!(blob.symlink_metadata().unwrap().is_file());
        let out = run(who, &dir, &["build", "--json", "."]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(step(&json_of(&out), "gen")["status"], "cached");
        let out = run(who, &dir, &["store", "verify", "."]);
        assert_eq!(code(&out), 0, "{who:?}: {}{}", stdout(&out), stderr(&out));
    }
}

// ---------------------------------------------------------------------------------------
// 5 and 6. A step re-run for a corrupt blob says so; verify passes after the repair.

fn flip_a_byte(path: &Path) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut bytes = fs::read(path).expect("read");
    bytes[0] ^= 0x20;
    fs::write(path, bytes).expect("write");
}

#[test]
fn a_dep_re_run_for_a_corrupt_blob_is_recorded_as_ran_with_a_note_and_a_warning() {
    let who = runners()[0];
    let area = open_area();
    let dir = project_in(area.path(), "p", who);
    let store = dir.join(".reprobe");
    let (out, first) = build_json(who, &dir);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (hash, blob) = blob_of(&store, &first, "gen");
    flip_a_byte(&blob);
    fs::write(dir.join("extra.txt"), "two\n").expect("write");
    let (out, second) = build_json(who, &dir);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let gen = step(&second, "gen");
    assert_eq!(gen["status"], "ran", "{gen}");
    assert_eq!(gen["cached"], false, "{gen}");
    let notes = gen["notes"].to_string();
    assert!(notes.contains(&hash) && notes.contains("`use`"), "{notes}");
    let warning = stderr(&out);
    assert!(
        warning.contains("warning: step `gen`") && warning.contains(&hash),
        "{warning}"
    );
    let out = run(who, &dir, &["store", "verify", "."]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn verify_passes_after_a_build_repaired_a_corrupt_blob_of_a_step_that_is_not_reproducible() {
    let who = runners()[0];
    let area = open_area();
    let dir = project_in(area.path(), "p", who);
    fs::write(
        dir.join("reprobe.toml"),
        GRAPH.replace("printf 'hello from gen\\n'", "date +%N"),
    )
    .expect("graph");
    let store = dir.join(".reprobe");
    let (out, first) = build_json(who, &dir);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (_, blob) = blob_of(&store, &first, "gen");
    flip_a_byte(&blob);
    fs::write(dir.join("extra.txt"), "two\n").expect("write");
    // gen runs again and makes other content: `use` fails, saying to build again...
    let (out, second) = build_json(who, &dir);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("run the build again"),
        "{}",
        stderr(&out)
    );
    let gen = step(&second, "gen");
    assert_eq!(
        gen["status"], "ran",
        "the manifest records what gen produced: {gen}"
    );
    assert_ne!(gen["content_hash"], step(&first, "gen")["content_hash"]);
    // ...which works, and leaves a store that verifies: the first build's manifest
    // naming the removed blob is history, not damage.
    let out = run(who, &dir, &["build", "-q", "."]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(who, &dir, &["store", "verify", "."]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("removed earlier as corrupt"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_corrupt_blob_found_by_verify_does_not_survive_gc_and_verify_says_what_to_do() {
    let who = runners()[0];
    let area = open_area();
    let dir = project_in(area.path(), "p", who);
    let store = dir.join(".reprobe");
    let (out, first) = build_json(who, &dir);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // An input file's blob: no build ever reads it back, so nothing else repairs it.
    let hash = step(&first, "use")["inputs"]["files"][0]["sha256"]
        .as_str()
        .expect("input hash")
        .to_string();
    let blob = store.join("blobs").join(&hash[..2]).join(&hash);
    flip_a_byte(&blob);
    let out = run(who, &dir, &["store", "verify", "."]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let line = stdout(&out)
        .lines()
        .find(|l| l.contains(&hash) && l.contains("corrupt-blob"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("reprobe build"),
        "verify says what to do: {line}"
    );
    let out = run(who, &dir, &["store", "gc", "--grace", "0", "."]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    if let Ok(bytes) = fs::read(&blob) {
        assert_eq!(
            hex::encode(Sha256::digest(bytes)),
            hash,
            "the corrupt blob survived gc"
        );
    }
    let out = run(who, &dir, &["store", "verify", "."]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
}
