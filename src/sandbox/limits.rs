//! A step's resource limits (DESIGN.md section 4): memory, disk and processes, how they
//! are enforced, and how a step that ran into one is recognised.
//!
//! Enforcement, on every machine (cgroups are not used yet, see [`Enforcement`]):
//! - **disk**: the work directory, `/tmp` and `/dev/shm` live in *one* tmpfs of `disk`
//!   bytes (and `disk / 4096` inodes) inside the sandbox. The caller's prepared work
//!   directory is copied into it before the step and copied back after it, so the host
//!   directory never grows during the step. `RLIMIT_FSIZE` = `disk` also caps every single
//!   file the step writes, its stdout and stderr logs on the host included.
//! - **memory**: `RLIMIT_DATA` = `memory` on every process of the step (heap, private
//!   writable mappings, thread stacks). It is a per-process limit, and shared mappings and
//!   memfds are not counted (they are bounded by `disk` per file only).
//! - **pids**: `RLIMIT_NPROC` = `pids`. Since Linux 5.14 it is counted per user namespace,
//!   so it counts the processes (and threads) of the build user in this sandbox only.
//! - `RLIMIT_CORE` = 0: no core dumps.
//!
//! Recognition: init samples the tmpfs and the process table while the step runs; a
//! failed step is said to have exceeded its disk limit when the tmpfs was (nearly) full
//! or it died of `SIGXFSZ`, its process limit when the sandbox held (nearly) `pids`
//! processes, and (probably) its memory limit when its largest process came within a
//! quarter of `memory`. Only failed steps are judged.

use std::fmt;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::resource::{setrlimit, Resource};
use serde::{Deserialize, Serialize};

use super::helper::SetupFailure;

/// Default memory limit of a step: 4 GiB per process.
pub const DEFAULT_MEMORY_BYTES: u64 = 4 << 30;

/// Default disk limit of a step: 4 GiB for its work directory, `/tmp` and `/dev/shm`.
pub const DEFAULT_DISK_BYTES: u64 = 4 << 30;

/// Default process limit of a step.
pub const DEFAULT_PIDS: u64 = 4096;

/// Free space (bytes) below which a failed step's tmpfs counts as full.
const FULL_MARGIN_BYTES: u64 = 64 << 10;

/// The limits of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// `RLIMIT_DATA` of every process of the step.
    pub memory_bytes: u64,
    /// Size of the tmpfs holding the work directory, `/tmp` and `/dev/shm`; also the
    /// largest file the step may write (`RLIMIT_FSIZE`).
    pub disk_bytes: u64,
    /// `RLIMIT_NPROC`: processes and threads of the build user in the sandbox.
    pub pids: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            disk_bytes: DEFAULT_DISK_BYTES,
            pids: DEFAULT_PIDS,
        }
    }
}

impl Limits {
    /// Inodes of the step's tmpfs: one per 4 KiB of `disk`, at least 4096, so that empty
    /// files (which take no bytes) cannot exhaust the host's memory either.
    pub fn disk_inodes(&self) -> u64 {
        (self.disk_bytes / 4096).max(4096)
    }

    /// The tmpfs mount options of the step's disk (without the owner options).
    pub(super) fn tmpfs_options(&self) -> String {
        format!(
            "mode=0755,size={},nr_inodes={}",
            self.disk_bytes,
            self.disk_inodes()
        )
    }
}

/// A limit a step ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitExceeded {
    /// The step's tmpfs was full, or a file reached `RLIMIT_FSIZE`.
    Disk {
        /// The limit.
        limit_bytes: u64,
    },
    /// The step's largest process came close to `RLIMIT_DATA`.
    Memory {
        /// The limit.
        limit_bytes: u64,
        /// The largest resident size of any of its processes.
        peak_bytes: u64,
    },
    /// The sandbox held (nearly) `pids` processes.
    Pids {
        /// The limit.
        limit: u64,
    },
}

impl LimitExceeded {
    /// Whether reaching this limit is worth telling about a step that succeeded: a full
    /// disk or process table makes writes and forks fail, which a step may ignore. (The
    /// memory verdict is only a guess from the peak size, made for failed steps.)
    pub fn matters_on_success(&self) -> bool {
        matches!(
            self,
            LimitExceeded::Disk { .. } | LimitExceeded::Pids { .. }
        )
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::Disk { limit_bytes } => write!(
                f,
                "step exceeded its disk limit ({limit_bytes} bytes, {} for its work \
                 directory, /tmp and /dev/shm together); raise `disk` if it needs more",
                format_size(*limit_bytes)
            ),
            LimitExceeded::Memory {
                limit_bytes,
                peak_bytes,
            } => write!(
                f,
                "killed: exceeded its memory limit ({limit_bytes} bytes, {} per process; \
                 its largest process reached {}); raise `memory` if it needs more",
                format_size(*limit_bytes),
                format_size(*peak_bytes)
            ),
            LimitExceeded::Pids { limit } => write!(
                f,
                "step reached its process limit ({limit} processes); raise `pids` if it \
                 needs more"
            ),
        }
    }
}

/// How limits are enforced on this machine, for `reprobe build -v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforcement {
    /// rlimits and a size-limited tmpfs, with the reason cgroup v2 is not used.
    Rlimits {
        /// What was found about cgroup v2.
        cgroup: String,
    },
}

impl Enforcement {
    /// Looks at this process's cgroup v2 (never writing anything).
    ///
    /// reprobe does not create cgroups yet, even where v2 is delegated: a delegated
    /// cgroup that holds reprobe itself cannot get children with controllers (the
    /// "no internal processes" rule) unless reprobe first moves itself into a leaf.
    /// The message says what was found so that a user knows which limits hold.
    pub fn detect() -> Enforcement {
        Enforcement::Rlimits {
            cgroup: describe_cgroup_v2(),
        }
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Enforcement::Rlimits { cgroup } => write!(
                f,
                "rlimits (memory: RLIMIT_DATA per process; pids: RLIMIT_NPROC; file size: \
                 RLIMIT_FSIZE) and one size-limited tmpfs for the work directory, /tmp and \
                 /dev/shm; {cgroup}"
            ),
        }
    }
}

/// What this process's cgroup v2 offers, in words.
fn describe_cgroup_v2() -> String {
    let own = fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("0::").map(str::to_string))
        });
    let Some(own) = own else {
        return "cgroups unused: no cgroup v2 hierarchy".into();
    };
    let Some(mount) = cgroup2_mount() else {
        return "cgroups unused: cgroup v2 is not mounted".into();
    };
    let dir = mount.join(own.trim_start_matches('/'));
    let controllers = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let has = |name: &str| controllers.split_whitespace().any(|c| c == name);
    if !(has("memory") && has("pids")) {
        return format!(
            "cgroups unused: the memory and pids controllers are not delegated to {} \
             (it offers: {})",
            dir.display(),
            if controllers.trim().is_empty() {
                "none"
            } else {
                controllers.trim()
            }
        );
    }
    format!(
        "cgroups unused: {} offers memory and pids, but reprobe does not create cgroups yet",
        dir.display()
    )
}

/// Where the cgroup v2 hierarchy is mounted, from `/proc/self/mountinfo`.
fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        let mount_point = left.split_whitespace().nth(4)?;
        (fstype == "cgroup2").then(|| mount_point.into())
    })
}

/// Sets the step's rlimits (in the step process, as the build user, just before exec).
pub(super) fn apply_rlimits(limits: &Limits) -> Result<(), SetupFailure> {
    let set = |resource, value: u64, name: &str| {
        setrlimit(resource, value, value).map_err(SetupFailure::errno("set", name))
    };
    set(Resource::RLIMIT_DATA, limits.memory_bytes, "RLIMIT_DATA")?;
    set(Resource::RLIMIT_FSIZE, limits.disk_bytes, "RLIMIT_FSIZE")?;
    set(Resource::RLIMIT_NPROC, limits.pids, "RLIMIT_NPROC")?;
    set(Resource::RLIMIT_CORE, 0, "RLIMIT_CORE")
}

/// What init saw of the step's use of its limits while it ran.
pub(super) struct Watch {
    limits: Limits,
    /// The step's tmpfs (`O_PATH`).
    disk: OwnedFd,
    disk_full: bool,
    most_processes: u64,
}

impl Watch {
    /// A watch over the tmpfs `disk`.
    pub(super) fn new(limits: Limits, disk: OwnedFd) -> Watch {
        Watch {
            limits,
            disk,
            disk_full: false,
            most_processes: 0,
        }
    }

    /// Takes one sample of the tmpfs and of the number of processes in the sandbox, and
    /// returns a limit the step has just reached for the first time (init reports it at
    /// once, so that it is known even if the step is then killed at its timeout).
    pub(super) fn sample(&mut self) -> Option<LimitExceeded> {
        let was = self.verdict(None, 0);
        if let Ok(stat) = nix::sys::statfs::fstatfs(&self.disk) {
            let free = stat
                .blocks_available()
                .saturating_mul(stat.block_size() as u64);
            if free < FULL_MARGIN_BYTES || stat.files_free() == 0 {
                self.disk_full = true;
            }
        }
        self.most_processes = self.most_processes.max(count_processes());
        let now = self.verdict(None, 0);
        (now != was).then_some(now).flatten()
    }

    /// The limit a failed step most likely ran into, judged from the samples, how its
    /// main process ended, and the largest resident size of its reaped processes.
    pub(super) fn verdict(&self, killed_by: Option<i32>, peak_rss: u64) -> Option<LimitExceeded> {
        if self.disk_full || killed_by == Some(libc::SIGXFSZ) {
            return Some(LimitExceeded::Disk {
                limit_bytes: self.limits.disk_bytes,
            });
        }
        // init is not one of the step's processes; one more may be starting.
        if self.most_processes + 2 >= self.limits.pids {
            return Some(LimitExceeded::Pids {
                limit: self.limits.pids,
            });
        }
        if peak_rss >= self.limits.memory_bytes / 4 * 3 {
            return Some(LimitExceeded::Memory {
                limit_bytes: self.limits.memory_bytes,
                peak_bytes: peak_rss,
            });
        }
        None
    }
}

/// Processes in the sandbox's pid namespace other than init (its `/proc`).
fn count_processes() -> u64 {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    let count = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count() as u64;
    count.saturating_sub(1)
}

/// The largest resident size (bytes) of any reaped descendant of this process.
pub(super) fn peak_rss_of_children() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|usage| (usage.max_rss().max(0) as u64).saturating_mul(1024))
        .unwrap_or(0)
}

/// Parses a size: bytes ("1048576"), or a number with a unit: `k`, `M`, `G`, `T`
/// (powers of 1024; `KiB`, `MB`, `GiB`… are read the same), e.g. "512M", "1.5G".
/// `None` for zero, anything above `u64::MAX` and anything else (see
/// [`crate::graph::read_size`], which says why).
pub fn parse_size(text: &str) -> Option<u64> {
    crate::graph::read_size(text).ok()
}

/// A size for people: "4 GiB", "512 MiB", "1000 bytes".
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (scale, name) in UNITS {
        if bytes >= scale {
            let value = bytes as f64 / scale as f64;
            return if bytes.is_multiple_of(scale) {
                format!("{} {name}", bytes / scale)
            } else {
                format!("{value:.1} {name}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// Empties `dir` (a host directory reached through a handle): every entry below it is
/// removed, without following symlinks.
pub(super) fn empty_dir(dir: &Path) -> Result<(), SetupFailure> {
    let entries = fs::read_dir(dir).map_err(SetupFailure::io("list", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(SetupFailure::io("list", dir.display()))?;
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let removed = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(SetupFailure::io("remove", path.display()))?;
    }
    Ok(())
}

/// Copies the tree below `src` into the existing directory `dst`: directories, regular
/// files (contents, mode, mtime) and symlinks (as links, never followed); fifos, sockets
/// and devices are skipped. Entries are created in `src`'s listing order (which the
/// `fileorder` variation relies on) and owned by `owner` when given.
pub(super) fn copy_tree(
    src: &Path,
    dst: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), SetupFailure> {
    let mut dirs = Vec::new();
    for entry in walkdir::WalkDir::new(src).min_depth(1).follow_links(false) {
        let entry = entry.map_err(|err| {
            let path = err.path().unwrap_or(src).display().to_string();
            SetupFailure::new("walk", path, err)
        })?;
        let relative = entry.path().strip_prefix(src).map_err(|_| {
            SetupFailure::new("copy", entry.path().display(), "outside the copied tree")
        })?;
        let target = dst.join(relative);
        let meta = entry
            .metadata()
            .map_err(|err| SetupFailure::new("inspect", entry.path().display(), err))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            fs::create_dir(&target).map_err(SetupFailure::io("create", target.display()))?;
            dirs.push((target.clone(), meta));
        } else if kind.is_file() {
            copy_file(entry.path(), &target, &meta)?;
        } else if kind.is_symlink() {
            let link = fs::read_link(entry.path())
                .map_err(SetupFailure::io("read the link", entry.path().display()))?;
            std::os::unix::fs::symlink(&link, &target)
                .map_err(SetupFailure::io("create the link", target.display()))?;
        } else {
            continue;
        }
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::lchown(&target, Some(uid), Some(gid))
                .map_err(SetupFailure::io("change the owner of", target.display()))?;
        }
    }
    // Modes and mtimes of directories last (children change a directory's mtime, and a
    // read-only directory could not take them), deepest first.
    for (dir, meta) in dirs.iter().rev() {
        set_mode_and_mtime(dir, meta)?;
    }
    Ok(())
}

/// Copies one regular file's contents, mode and mtime.
fn copy_file(src: &Path, dst: &Path, meta: &fs::Metadata) -> Result<(), SetupFailure> {
    let mut from = fs::File::open(src).map_err(SetupFailure::io("open", src.display()))?;
    let mut to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .map_err(SetupFailure::io("create", dst.display()))?;
    std::io::copy(&mut from, &mut to).map_err(SetupFailure::io("copy", dst.display()))?;
    drop(to);
    set_mode_and_mtime(dst, meta)
}

/// Gives `path` the permission bits and modification time of `meta`.
fn set_mode_and_mtime(path: &Path, meta: &fs::Metadata) -> Result<(), SetupFailure> {
    use std::os::unix::fs::PermissionsExt;
    let mtime = meta
        .modified()
        .map_err(SetupFailure::io("read the mtime of", path.display()))?;
    let file = fs::File::open(path).map_err(SetupFailure::io("open", path.display()))?;
    file.set_modified(mtime)
        .map_err(SetupFailure::io("set the mtime of", path.display()))?;
    let mode = fs::Permissions::from_mode(meta.permissions().mode() & 0o7777);
    fs::set_permissions(path, mode).map_err(SetupFailure::io("chmod", path.display()))
}

/// Kills every process of the sandbox but init and reaps them all (init only).
pub(super) fn end_all_processes() {
    // SAFETY: plain system call; in init, -1 means every other process of the namespace.
    unsafe { libc::kill(-1, libc::SIGKILL) };
    while matches!(
        nix::sys::wait::waitpid(None, None),
        Ok(_) | Err(Errno::EINTR)
    ) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("4 GiB"), Some(4 << 30));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("64kB"), Some(64 << 10));
        for bad in ["", "G", "-1G", "0", "4X", "nan", "1e30T"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_format_for_people() {
        assert_eq!(format_size(4 << 30), "4 GiB");
        assert_eq!(format_size(3 << 29), "1.5 GiB");
        assert_eq!(format_size(100), "100 bytes");
    }

    #[test]
    fn the_disk_limit_message_names_the_bytes() {
        let text = LimitExceeded::Disk {
            limit_bytes: 1 << 20,
        }
        .to_string();
        assert!(text.starts_with("step exceeded its disk limit (1048576 bytes"));
        let text = LimitExceeded::Memory {
            limit_bytes: 1 << 30,
            peak_bytes: 1 << 30,
        }
        .to_string();
        assert!(text.starts_with("killed: exceeded its memory limit"));
    }

    #[test]
    fn inodes_follow_the_disk_size_with_a_floor() {
        let small = Limits {
            disk_bytes: 1 << 20,
            ..Limits::default()
        };
        assert_eq!(small.disk_inodes(), 4096);
        assert_eq!(Limits::default().disk_inodes(), 1 << 20);
    }
}
