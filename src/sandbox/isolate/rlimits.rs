//! The limits set on the step itself: its rlimits (in the step process, just before
//! exec) and the settings of its namespaces that keep its shared memory measurable.

use std::fs;

use nix::sys::resource::{setrlimit, Resource};

use super::failure::SetupFailure;
use crate::sandbox::limits::Limits;

/// Sets the step's rlimits (in the step process, as the build user, just before exec).
pub(crate) fn apply_rlimits(limits: &Limits) -> Result<(), SetupFailure> {
    let set = |resource, value: u64, name: &str| {
        setrlimit(resource, value, value).map_err(SetupFailure::errno("set", name))
    };
    set(Resource::RLIMIT_DATA, limits.memory_bytes, "RLIMIT_DATA")?;
    set(Resource::RLIMIT_FSIZE, limits.disk_bytes, "RLIMIT_FSIZE")?;
    set(Resource::RLIMIT_NPROC, limits.pids, "RLIMIT_NPROC")?;
    set(Resource::RLIMIT_CORE, 0, "RLIMIT_CORE")
}

/// Settings of the step's own namespaces that keep its shared memory where the
/// [`MemoryMeter`](super::memory::MemoryMeter) sees it (init only, after `/proc` is the
/// sandbox's): a SysV segment that no process attaches is destroyed, and no process of
/// the step may create a user namespace (or an ipc one), except the one a build user
/// with uid 0 is put in (`lock_mounts`). A kernel without one of these settings keeps
/// its default.
pub(crate) fn confine_namespaces(build_uid: u32) {
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
