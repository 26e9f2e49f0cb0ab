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
//!   `/proc` every [`MEMORY_SAMPLE_MS`] at least (module `isolate::memory`): their
//!   anonymous memory and the shared memory they map (proportional set size, so a page
//!   mapped by ten processes counts once), memfds they hold without mapping them, and
//!   SysV segments no process attaches. Files of the step's own tmpfs count against `disk` instead.
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
//!
//! This module holds what a caller sees of limits (the values, the verdicts, how they
//! are enforced in words); setting and sampling them is done inside the sandbox (modules
//! `isolate::rlimits`, `isolate::memory` and `isolate::watch`).

use std::fmt;
use std::fs;

use serde::{Deserialize, Serialize};

/// Default memory limit of a step: 4 GiB for all its processes together.
pub const DEFAULT_MEMORY_BYTES: u64 = 4 << 30;

/// Default disk limit of a step: 4 GiB for its work directory, `/tmp` and `/dev/shm`.
pub const DEFAULT_DISK_BYTES: u64 = 4 << 30;

/// Default process limit of a step.
pub const DEFAULT_PIDS: u64 = 4096;

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
    pub(crate) fn tmpfs_options(&self) -> String {
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

/// How often init measures the step's memory at most (more rarely when one measurement
/// costs more than a quarter of this: a step of thousands of processes).
pub const MEMORY_SAMPLE_MS: u64 = 50;

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
    fn a_whole_step_over_its_memory_is_a_finding_even_if_it_succeeded() {
        let over = LimitExceeded::Memory {
            limit_bytes: 1,
            peak_bytes: 2,
            whole_step: true,
        };
        assert!(over.matters_on_success());
    }
}
