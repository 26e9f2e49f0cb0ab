//! A step's resource limits (docs/design.md section 4): memory, disk and processes, how they
//! are enforced, and how a step that ran into one is recognised.
//!
//! Enforcement, on every machine (no cgroup is created, see [`Enforcement`]):
//! - **disk**: the work directory, `/tmp` and `/dev/shm` live in *one* tmpfs of `disk`
//!   bytes (and `disk / 4096` inodes) inside the sandbox. The caller's prepared work
//!   directory is copied into it before the step and copied back after it, so the host
//!   directory never grows during the step. `RLIMIT_FSIZE` = `disk` also caps every single
//!   file the step writes, its stdout and stderr logs on the host included.
//! - **memory**: what all the step's processes hold together, measured by init from
//!   `/proc` every [`MEMORY_SAMPLE_MS`] at least ([`MemoryMeter`]): their anonymous
//!   memory and the shared memory they map (proportional set size, so a page mapped by
//!   ten processes counts once), memfds they hold without mapping them, and SysV segments
//!   no process attaches. Files of the step's own tmpfs count against `disk` instead.
//!   Past `memory`, init kills every process of the step. So that every shared object is
//!   seen: in the step's own ipc namespace, a SysV segment no process attaches is
//!   destroyed at once (`kernel.shm_rmid_forced`, where reprobe runs as root), and the
//!   step may create no user namespace of its own (where it could mount a tmpfs or make
//!   an ipc namespace outside these rules).
//!   `RLIMIT_DATA` = `memory` also stops a single process's heap at once.
//! - **pids**: `RLIMIT_NPROC` = `pids`. Since Linux 5.14 it is counted per user namespace,
//!   so it counts the processes (and threads) of the build user in this sandbox only.
//! - `RLIMIT_CORE` = 0: no core dumps.
//!
//! Recognition: init samples the tmpfs and the process table while the step runs; a
//! failed step is said to have exceeded its disk limit when the tmpfs was (nearly) full
//! or it died of `SIGXFSZ`, its process limit when the sandbox held (nearly) `pids`
//! processes, and its memory limit when init killed it for it (or, probably, when its
//! largest process came within a quarter of `memory`: a refused allocation).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::resource::{setrlimit, Resource};
use serde::{Deserialize, Serialize};

use super::helper::SetupFailure;

/// Default memory limit of a step: 4 GiB for all its processes together.
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
    /// Memory of all the step's processes together (and `RLIMIT_DATA` of each).
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
    /// The step's processes held more than `memory` together (init killed them), or
    /// its largest process came close to `RLIMIT_DATA`.
    Memory {
        /// The limit.
        limit_bytes: u64,
        /// What was measured: all processes together when `whole_step`, else the largest
        /// resident size of any of them.
        peak_bytes: u64,
        /// Whether init measured the whole step past the limit and killed it (else the
        /// verdict is a guess from the largest process, whose allocation was refused).
        #[serde(default)]
        whole_step: bool,
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
            LimitExceeded::Disk { .. }
                | LimitExceeded::Pids { .. }
                | LimitExceeded::Memory {
                    whole_step: true,
                    ..
                }
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
                whole_step: true,
            } => write!(
                f,
                "killed: exceeded its memory limit ({limit_bytes} bytes, {} for all its \
                 processes together, shared memory included; they held {} when stopped); \
                 raise `memory` if it needs more",
                format_size(*limit_bytes),
                format_size(*peak_bytes)
            ),
            LimitExceeded::Memory {
                limit_bytes,
                peak_bytes,
                whole_step: false,
            } => write!(
                f,
                "killed: exceeded its memory limit ({limit_bytes} bytes, {}; its largest \
                 process reached {} and an allocation was refused); raise `memory` if it \
                 needs more",
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
                "memory: all the step's processes together, anonymous and shared memory and \
                 memfds, measured every {MEMORY_SAMPLE_MS} ms and killed past the limit (a \
                 step may overshoot by what it allocates between two samples; kernel memory \
                 such as page tables and socket buffers is not counted; a step may create \
                 no user or ipc namespace of its own), plus RLIMIT_DATA per process; disk: one size-limited tmpfs for the work directory, /tmp and \
                 /dev/shm, and RLIMIT_FSIZE; pids: RLIMIT_NPROC; {cgroup}"
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

/// Settings of the step's own namespaces that keep its shared memory where the
/// [`MemoryMeter`] sees it (init only, after `/proc` is the sandbox's): a SysV segment
/// that no process attaches is destroyed, and no process of the step may create a user
/// namespace (or an ipc one), except the one a build user with uid 0 is put in
/// (`lock_mounts`). A kernel without one of these settings keeps its default.
pub(super) fn confine_namespaces(build_uid: u32) {
    let nested_users = if build_uid == 0 { "1" } else { "0" };
    let settings = [
        ("/proc/sys/kernel/shm_rmid_forced", "1"),
        ("/proc/sys/user/max_ipc_namespaces", "0"),
        ("/proc/sys/user/max_user_namespaces", nested_users),
    ];
    for (path, value) in settings {
        let _ = fs::write(path, value);
    }
}

/// How often init measures the step's memory at most (more rarely when one measurement
/// costs more than a quarter of this: a step of thousands of processes).
pub const MEMORY_SAMPLE_MS: u64 = 50;

/// Measures what the step's processes hold in memory together, from `/proc`.
///
/// Counted: every process's anonymous memory and the shared memory it maps (SysV
/// segments, shared anonymous mappings, mapped memfds), each as its proportional set
/// size (`smaps_rollup`: a page shared by n processes counts 1/n in each), and memfds a
/// process holds open without mapping them (their size on the shm file system), and
/// SysV segments no process attaches (`/proc/sysvipc/shm`).
/// Shared memory that is a file of the step's own tmpfs is left out when it matters
/// (`disk` bounds it). Not counted: kernel memory (page tables, socket and pipe buffers),
/// and what a step allocates between two measurements.
pub(super) struct MemoryMeter {
    /// The device of the step's tmpfs.
    disk_dev: u64,
    next_due: Instant,
}

impl MemoryMeter {
    /// A meter for a step whose tmpfs is `disk`.
    pub(super) fn new(disk: &OwnedFd) -> MemoryMeter {
        let disk_dev = nix::sys::stat::fstat(disk.as_raw_fd()).map_or(0, |s| s.st_dev);
        MemoryMeter {
            disk_dev,
            next_due: Instant::now(),
        }
    }

    /// The memory the step holds, when a measurement is due; a total above `limit` is
    /// measured again exactly (leaving out the step's own tmpfs files it maps).
    fn measure_if_due(&mut self, limit: u64) -> Option<u64> {
        let started = Instant::now();
        if started < self.next_due {
            return None;
        }
        let mut used = step_memory(None);
        if used > limit {
            used = step_memory(Some(self.disk_dev));
        }
        let cost = started.elapsed();
        self.next_due = Instant::now() + (cost * 4).max(Duration::from_millis(MEMORY_SAMPLE_MS));
        Some(used)
    }
}

/// What the sandbox's processes other than init hold, in bytes (see [`MemoryMeter`]).
/// With `disk_dev`, shared mappings of files on that device are left out.
fn step_memory(disk_dev: Option<u64>) -> u64 {
    let mut total = 0u64;
    let mut memfds: HashMap<(u64, u64), u64> = HashMap::new();
    let pids = sandbox_pids();
    for pid in &pids {
        let Ok(rollup) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
            continue;
        };
        total = total.saturating_add(rollup_bytes(&rollup));
        if let Some(dev) = disk_dev {
            if let Ok(smaps) = fs::read_to_string(format!("/proc/{pid}/smaps")) {
                total = total.saturating_sub(shmem_on_device(&smaps, dev));
            }
        }
        open_memfds(*pid, &mut memfds);
    }
    if !memfds.is_empty() {
        let mapped = mapped_memfd_inodes(&pids);
        total = memfds
            .iter()
            .filter(|((_, ino), _)| !mapped.contains(ino))
            .fold(total, |sum, (_, bytes)| sum.saturating_add(*bytes));
    }
    let detached = fs::read_to_string("/proc/sysvipc/shm").map_or(0, |t| detached_sysv_bytes(&t));
    total.saturating_add(detached)
}

/// The resident bytes of the SysV segments of this ipc namespace that no process
/// attaches (an attached one is counted in its processes' `Pss_Shmem`), from
/// `/proc/sysvipc/shm`. Where `kernel.shm_rmid_forced` could be set, there are none.
fn detached_sysv_bytes(table: &str) -> u64 {
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (Some(nattch), Some(rss)) = (column("nattch"), column("rss")) else {
        return 0;
    };
    lines
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let attached = fields.get(nattch)?.parse::<u64>().ok()?;
            let bytes = fields.get(rss)?.parse::<u64>().ok()?;
            (attached == 0).then_some(bytes)
        })
        .fold(0u64, u64::saturating_add)
}

/// The pids of the sandbox's `/proc` other than init's.
fn sandbox_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != 1)
        .collect()
}

/// Anonymous plus shared memory of one `smaps_rollup`, in bytes (`Pss` where the kernel
/// does not split it).
fn rollup_bytes(rollup: &str) -> u64 {
    let field = |name: &str| {
        rollup.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(':')?;
            value.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    let kib = match (field("Pss_Anon"), field("Pss_Shmem")) {
        (Some(anon), Some(shmem)) => anon + shmem,
        _ => field("Pss").unwrap_or(0),
    };
    kib.saturating_mul(1024)
}

/// The shared memory (`Pss_Shmem`) of the mappings of files on device `dev` in one
/// `smaps`, in bytes.
fn shmem_on_device(smaps: &str, dev: u64) -> u64 {
    let wanted = format!(
        "{:02x}:{:02x}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev)
    );
    let mut on_device = false;
    let mut kib = 0u64;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: range, perms, offset, device, inode, path.
            on_device = fields.nth(2) == Some(wanted.as_str());
        } else if on_device && first == "Pss_Shmem:" {
            kib += fields
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    kib.saturating_mul(1024)
}

/// Adds the memfds process `pid` holds open, by (device, inode), with their size.
fn open_memfds(pid: u32, found: &mut HashMap<(u64, u64), u64>) {
    let dir = format!("/proc/{pid}/fd");
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_memfd = fs::read_link(entry.path()).is_ok_and(|target| {
            target
                .as_os_str()
                .as_encoded_bytes()
                .starts_with(b"/memfd:")
        });
        if !is_memfd {
            continue;
        }
        if let Ok(stat) = nix::sys::stat::stat(&entry.path()) {
            let bytes = (stat.st_blocks as u64).saturating_mul(512);
            found.insert((stat.st_dev, stat.st_ino), bytes);
        }
    }
}

/// The inodes of the memfds any of `pids` maps (counted by `Pss_Shmem` already).
fn mapped_memfd_inodes(pids: &[u32]) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    for pid in pids {
        let Ok(maps) = fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        inodes.extend(memfd_inodes_in_maps(&maps));
    }
    inodes
}

/// The inodes of the memfd mappings in one `maps`.
fn memfd_inodes_in_maps(maps: &str) -> impl Iterator<Item = u64> + '_ {
    maps.lines().filter_map(|line| {
        let mut fields = line.split_whitespace();
        let inode = fields.nth(4)?.parse::<u64>().ok()?;
        fields.next()?.starts_with("/memfd:").then_some(inode)
    })
}

/// What init saw of the step's use of its limits while it ran.
pub(super) struct Watch {
    limits: Limits,
    /// The step's tmpfs (`O_PATH`).
    disk: OwnedFd,
    disk_full: bool,
    most_processes: u64,
    memory: MemoryMeter,
    /// What the step held when init found it over its memory limit.
    memory_exceeded: Option<u64>,
}

impl Watch {
    /// A watch over the tmpfs `disk`.
    pub(super) fn new(limits: Limits, disk: OwnedFd) -> Watch {
        let memory = MemoryMeter::new(&disk);
        Watch {
            limits,
            disk,
            disk_full: false,
            most_processes: 0,
            memory,
            memory_exceeded: None,
        }
    }

    /// Takes one sample of the tmpfs, of the number of processes in the sandbox and (when
    /// due) of their memory, and returns a limit the step has just reached for the first
    /// time (init reports it at once, so that it is known even if the step is then killed
    /// at its timeout).
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
        if self.memory_exceeded.is_none() {
            let limit = self.limits.memory_bytes;
            if let Some(used) = self.memory.measure_if_due(limit).filter(|&u| u > limit) {
                self.memory_exceeded = Some(used);
            }
        }
        let now = self.verdict(None, 0);
        (now != was).then_some(now).flatten()
    }

    /// Whether the step must be stopped now: it holds more memory than its limit.
    pub(super) fn must_stop(&self) -> bool {
        self.memory_exceeded.is_some()
    }

    /// The limit a failed step most likely ran into, judged from the samples, how its
    /// main process ended, and the largest resident size of its reaped processes.
    pub(super) fn verdict(&self, killed_by: Option<i32>, peak_rss: u64) -> Option<LimitExceeded> {
        if let Some(used) = self.memory_exceeded {
            return Some(LimitExceeded::Memory {
                limit_bytes: self.limits.memory_bytes,
                peak_bytes: used,
                whole_step: true,
            });
        }
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
                whole_step: false,
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
/// [`crate::model::graph::read_size`], which says why).
pub fn parse_size(text: &str) -> Option<u64> {
    crate::model::graph::read_size(text).ok()
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
        for whole_step in [true, false] {
            let text = LimitExceeded::Memory {
                limit_bytes: 1 << 30,
                peak_bytes: 1 << 30,
                whole_step,
            }
            .to_string();
            assert!(text.starts_with("killed: exceeded its memory limit (1073741824 bytes"));
        }
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

    #[test]
    fn a_rollup_counts_anonymous_and_shared_memory() {
        let rollup = "55a5225c3000-7ffeff934000 ---p 00000000 00:00 0   [rollup]\n\
                      Rss:               26872 kB\nPss:               24855 kB\n\
                      Pss_Anon:           9952 kB\nPss_File:           4663 kB\n\
                      Pss_Shmem:         10240 kB\n";
        assert_eq!(rollup_bytes(rollup), (9952 + 10240) * 1024);
        // An older kernel without the split: all of Pss.
        assert_eq!(rollup_bytes("Rss: 10 kB\nPss: 7 kB\n"), 7 * 1024);
        assert_eq!(rollup_bytes(""), 0);
    }

    #[test]
    fn shared_files_of_the_steps_own_disk_are_told_apart() {
        let smaps = "7f72cea9b000-7f72cf49b000 rw-s 00000000 00:01 25   /dev/zero (deleted)\n\
                     Pss_Shmem:         10240 kB\n\
                     7f72cea00000-7f72cea9b000 rw-s 00000000 00:2a 7   /build/s/out.bin\n\
                     Pss_Shmem:          2048 kB\n";
        let dev = nix::sys::stat::makedev(0, 0x2a);
        assert_eq!(shmem_on_device(smaps, dev), 2048 * 1024);
        assert_eq!(
            shmem_on_device(smaps, nix::sys::stat::makedev(0, 1)),
            10240 * 1024
        );
    }

    #[test]
    fn mapped_memfds_are_found_by_inode() {
        let maps = "7f0-7f1 rw-s 00000000 00:01 4242   /memfd:pool (deleted)\n\
                    7f1-7f2 r-xp 00000000 08:01 99   /usr/bin/python3\n\
                    7f2-7f3 rw-s 00000000 00:01 25   /dev/zero (deleted)\n";
        assert_eq!(memfd_inodes_in_maps(maps).collect::<Vec<_>>(), [4242]);
    }

    #[test]
    fn a_whole_step_over_its_memory_is_a_finding_even_if_it_succeeded() {
        let over = LimitExceeded::Memory {
            limit_bytes: 1,
            peak_bytes: 2,
            whole_step: true,
        };
        assert!(over.matters_on_success());
    }

    #[test]
    fn detached_sysv_segments_are_counted_from_the_ipc_table() {
        let table = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
                              0          0   600               4194304 16000 16000      0     0     0     0     0 1796337221 1796337221 1796337221               4194304                     0\n\
                              0          1   600               8388608 16000 16000      2     0     0     0     0 1796337221 1796337221 1796337221               8388608                     0\n";
        assert_eq!(detached_sysv_bytes(table), 4194304);
        assert_eq!(detached_sysv_bytes(""), 0);
    }
}
