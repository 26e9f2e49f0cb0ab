//! Measures what a step's processes hold in memory together, from the sandbox's `/proc`
//! (init only): the memory limit is enforced on this measurement (docs/design.md
//! section 4).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::sandbox::limits::MEMORY_SAMPLE_MS;

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
pub(crate) struct MemoryMeter {
    /// The device of the step's tmpfs.
    disk_dev: u64,
    next_due: Instant,
}

impl MemoryMeter {
    /// A meter for a step whose tmpfs is `disk`.
    pub(crate) fn new(disk: &OwnedFd) -> MemoryMeter {
        let disk_dev = nix::sys::stat::fstat(disk.as_raw_fd()).map_or(0, |s| s.st_dev);
        MemoryMeter {
            disk_dev,
            next_due: Instant::now(),
        }
    }

    /// The memory the step holds, when a measurement is due; a total above `limit` is
    /// measured again exactly (leaving out the step's own tmpfs files it maps).
    pub(crate) fn measure_if_due(&mut self, limit: u64) -> Option<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn detached_sysv_segments_are_counted_from_the_ipc_table() {
        let table = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
                              0          0   600               4194304 16000 16000      0     0     0     0     0 1796337221 1796337221 1796337221               4194304                     0\n\
                              0          1   600               8388608 16000 16000      2     0     0     0     0 1796337221 1796337221 1796337221               8388608                     0\n";
        assert_eq!(detached_sysv_bytes(table), 4194304);
        assert_eq!(detached_sysv_bytes(""), 0);
    }
}
