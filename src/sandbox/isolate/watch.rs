//! What init saw of a step's use of its limits while it ran: samples of its tmpfs, its
//! process count and its memory, and the verdict on which limit a failed step most
//! likely ran into.

use std::fs;
use std::os::fd::OwnedFd;

use super::memory::MemoryMeter;
use crate::sandbox::limits::{LimitExceeded, Limits};

/// Free space (bytes) below which a failed step's tmpfs counts as full.
const FULL_MARGIN_BYTES: u64 = 64 << 10;

/// What init saw of the step's use of its limits while it ran.
pub(crate) struct Watch {
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
    pub(crate) fn new(limits: Limits, disk: OwnedFd) -> Watch {
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
    pub(crate) fn sample(&mut self) -> Option<LimitExceeded> {
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
    pub(crate) fn must_stop(&self) -> bool {
        self.memory_exceeded.is_some()
    }

    /// The limit a failed step most likely ran into, judged from the samples, how its
    /// main process ended, and the largest resident size of its reaped processes.
    pub(crate) fn verdict(&self, killed_by: Option<i32>, peak_rss: u64) -> Option<LimitExceeded> {
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
pub(crate) fn peak_rss_of_children() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|usage| (usage.max_rss().max(0) as u64).saturating_mul(1024))
        .unwrap_or(0)
}
