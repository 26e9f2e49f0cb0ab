//! Who the step is: the user-namespace id maps, the checks of the build user, the
//! ownership of the work directory, and whether the kernel lets us create user
//! namespaces at all. (Its `/etc/passwd` and `/etc/group` are made up in module
//! `generated_etc`.)

use std::fs;
use std::io;
use std::path::Path;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getegid, geteuid, ForkResult};
use serde::{Deserialize, Serialize};

use crate::sandbox::error::SandboxError;
use crate::sandbox::spec::SandboxUser;

/// First host uid/gid of the range a root-run reprobe maps sandbox ids to: id `n` inside
/// is `SHIFT_BASE + n` outside, an unprivileged id that owns nothing on the host.
pub(crate) const SHIFT_BASE: u32 = 3_000_000;

/// How ids inside the sandbox relate to host ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum IdMode {
    /// reprobe runs as root: inside id `n` is host id `base + n` (unprivileged), and the
    /// sandbox's root (used only while building the sandbox) is `base`.
    Shifted {
        /// Host id of the sandbox's uid/gid 0.
        base: u32,
    },
    /// reprobe runs unprivileged: the build user is the caller's euid/egid, nothing else
    /// is mapped, and `setgroups` is denied.
    Caller {
        /// The caller's effective uid.
        uid: u32,
        /// The caller's effective gid.
        gid: u32,
    },
}

impl IdMode {
    /// Picks the mode for the current process and checks the build user fits in it.
    pub(crate) fn for_caller(user: &SandboxUser) -> Result<Self, SandboxError> {
        let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
        if uid != 0 {
            return Ok(IdMode::Caller { uid, gid });
        }
        let mode = IdMode::Shifted { base: SHIFT_BASE };
        let uid_map = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
        let gid_map = fs::read_to_string("/proc/self/gid_map").unwrap_or_default();
        let needed = [
            (&uid_map, "uid", mode.host_id(0), mode.host_id(user.uid)),
            (&gid_map, "gid", mode.host_id(0), mode.host_id(user.gid)),
        ];
        for (map, what, low, high) in needed {
            let mapped = |id| id_is_mapped(&parse_id_map(map), id);
            if !(mapped(low) && mapped(high)) {
                return Err(SandboxError::Unsupported {
                    reason: format!(
                        "reprobe runs as root, but host {what}s {low} and {high} (where the \
                         build user's ids are placed) are not mapped in reprobe's own user \
                         namespace"
                    ),
                    fix: "run reprobe as an ordinary user, or in a namespace mapping the \
                          full id range"
                        .into(),
                });
            }
        }
        Ok(mode)
    }

    /// The host id of sandbox id `inner` (meaningful for `Shifted`; `Caller` has only one).
    pub(crate) fn host_id(self, inner: u32) -> u32 {
        match self {
            IdMode::Shifted { base } => base.saturating_add(inner),
            IdMode::Caller { uid, .. } => uid,
        }
    }

    /// The content of `/proc/PID/uid_map` for a build user with uid `inner`.
    pub(crate) fn uid_map(self, inner: u32) -> String {
        match self {
            IdMode::Shifted { base } => shifted_map(base, inner),
            IdMode::Caller { uid, .. } => format!("{inner} {uid} 1\n"),
        }
    }

    /// The content of `/proc/PID/gid_map` for a build user with gid `inner`.
    pub(crate) fn gid_map(self, inner: u32) -> String {
        match self {
            IdMode::Shifted { base } => shifted_map(base, inner),
            IdMode::Caller { gid, .. } => format!("{inner} {gid} 1\n"),
        }
    }

    /// The (uid, gid) inside the sandbox that builds it: root when shifted, else the user.
    pub(crate) fn setup_ids(self, user: &SandboxUser) -> (u32, u32) {
        match self {
            IdMode::Shifted { .. } => (0, 0),
            IdMode::Caller { .. } => (user.uid, user.gid),
        }
    }
}

/// Map lines for the shifted mode: sandbox root and the build user, each one id wide.
fn shifted_map(base: u32, inner: u32) -> String {
    let root = format!("0 {base} 1\n");
    if inner == 0 {
        root
    } else {
        format!("{root}{inner} {} 1\n", base.saturating_add(inner))
    }
}

/// Parses `/proc/PID/uid_map` text into (inside, outside, count) triples.
fn parse_id_map(text: &str) -> Vec<(u64, u64, u64)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().map(|f| f.parse::<u64>().ok());
            Some((fields.next()??, fields.next()??, fields.next()??))
        })
        .collect()
}

/// Whether `id` (as seen from the namespace the map belongs to) is mapped.
fn id_is_mapped(map: &[(u64, u64, u64)], id: u32) -> bool {
    let id = u64::from(id);
    map.iter()
        .any(|&(inside, _, count)| inside <= id && id < inside + count)
}

/// Rejects users that cannot be written to `/etc/passwd` or mapped.
pub(crate) fn check_user(user: &SandboxUser) -> Result<(), SandboxError> {
    let bad = |msg: String| Err(SandboxError::InvalidSpec(msg));
    for (what, value) in [("user name", &user.name), ("group name", &user.group)] {
        if value.is_empty() || value.contains([':', '\n', '\0', ',']) {
            return bad(format!(
                "{what} {value:?} is empty or contains ':', ',' or a newline"
            ));
        }
    }
    let home = user.home.to_string_lossy();
    if !user.home.is_absolute() || home.contains([':', '\n', '\0']) {
        return bad(format!(
            "home {home:?} is not absolute or contains ':' or a newline"
        ));
    }
    let limit = u32::MAX - SHIFT_BASE - 1;
    if user.uid >= limit || user.gid >= limit {
        return bad(format!(
            "uid {} / gid {} must be below {limit}",
            user.uid, user.gid
        ));
    }
    Ok(())
}

/// Gives the work directory tree to the build user's host ids (shifted mode only), so
/// the step can write there although it is no one on the host.
pub(crate) fn hand_over_workdir(
    dir: &Path,
    ids: IdMode,
    user: &SandboxUser,
) -> Result<(), SandboxError> {
    match ids {
        IdMode::Shifted { .. } => chown_tree(dir, ids.host_id(user.uid), ids.host_id(user.gid)),
        IdMode::Caller { .. } => Ok(()),
    }
}

/// Gives the work directory tree back to the caller after the step (shifted mode only),
/// so what the step produced is owned like everything else reprobe writes.
pub(crate) fn take_back_workdir(dir: &Path, ids: IdMode) -> Result<(), SandboxError> {
    match ids {
        IdMode::Shifted { .. } => chown_tree(dir, geteuid().as_raw(), getegid().as_raw()),
        IdMode::Caller { .. } => Ok(()),
    }
}

/// `chown -hR uid:gid dir`, never following symlinks.
fn chown_tree(dir: &Path, uid: u32, gid: u32) -> Result<(), SandboxError> {
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(|err| {
            let path = err.path().unwrap_or(dir).to_path_buf();
            SandboxError::Io {
                action: "walk the work directory",
                path,
                source: err.into(),
            }
        })?;
        std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid)).map_err(|source| {
            SandboxError::Io {
                action: "change the owner of",
                path: entry.path().to_path_buf(),
                source,
            }
        })?;
    }
    Ok(())
}

/// Reads an integer sysctl; `None` when it does not exist on this kernel.
fn read_sysctl(path: &str) -> Option<i64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Checks the sysctls known to forbid user namespaces, naming the one to change.
pub(crate) fn check_sysctls() -> Result<(), SandboxError> {
    let unsupported = |reason: &str, fix: &str| {
        Err(SandboxError::Unsupported {
            reason: reason.into(),
            fix: fix.into(),
        })
    };
    if read_sysctl("/proc/sys/user/max_user_namespaces") == Some(0) {
        return unsupported(
            "user.max_user_namespaces is 0",
            "enable them with `sysctl -w user.max_user_namespaces=15000`",
        );
    }
    if geteuid().is_root() {
        return Ok(());
    }
    if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
        return unsupported(
            "kernel.unprivileged_userns_clone is 0",
            "enable them with `sysctl -w kernel.unprivileged_userns_clone=1`",
        );
    }
    if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
        return unsupported(
            "kernel.apparmor_restrict_unprivileged_userns is 1",
            "allow them with `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` \
             or an AppArmor profile granting `userns` to reprobe",
        );
    }
    Ok(())
}

/// The namespaces every sandbox creates (the network one unless the step may fetch).
pub(crate) fn namespace_flags(network: bool) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if !network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    flags
}

/// Tries to create all the namespaces in a short-lived child.
pub(crate) fn probe_namespaces() -> Result<(), SandboxError> {
    let flags = namespace_flags(false);
    // SAFETY: the child only calls unshare and _exit, both async-signal-safe, so forking
    // a multi-threaded process is sound here.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = match nix::sched::unshare(flags) {
                Ok(()) => 0,
                Err(errno) => (errno as i32).clamp(1, 255),
            };
            // SAFETY: _exit is async-signal-safe and never returns.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(errno) => return Err(probe_error("fork", errno)),
    };
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
            Ok(WaitStatus::Exited(_, code)) => {
                return Err(probe_error("unshare", Errno::from_raw(code)))
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => return Err(probe_error("waitpid", errno)),
        }
    }
}

/// The error for a failed namespace probe.
fn probe_error(what: &str, errno: Errno) -> SandboxError {
    SandboxError::Unsupported {
        reason: format!(
            "{what} of user, mount, pid, net, uts and ipc namespaces failed: {}",
            io::Error::from(errno)
        ),
        fix: "check the sysctls user.max_user_namespaces, kernel.unprivileged_userns_clone \
              and kernel.apparmor_restrict_unprivileged_userns, and any seccomp policy of \
              the container reprobe runs in"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, name: &str) -> SandboxUser {
        SandboxUser {
            uid,
            gid: 100,
            name: name.into(),
            group: "users".into(),
            home: "/homeless-shelter".into(),
        }
    }

    #[test]
    fn shifted_maps_place_root_and_the_user_above_the_base() {
        let ids = IdMode::Shifted { base: SHIFT_BASE };
        assert_eq!(ids.uid_map(1000), "0 3000000 1\n1000 3001000 1\n");
        assert_eq!(ids.gid_map(100), "0 3000000 1\n100 3000100 1\n");
        assert_eq!(ids.uid_map(0), "0 3000000 1\n");
    }

    #[test]
    fn caller_maps_are_one_line_onto_the_caller() {
        let ids = IdMode::Caller { uid: 1234, gid: 55 };
        assert_eq!(ids.uid_map(1000), "1000 1234 1\n");
        assert_eq!(ids.gid_map(100), "100 55 1\n");
    }

    #[test]
    fn id_maps_are_parsed_and_ranges_checked() {
        let map = parse_id_map("         0          0 4294967295\n");
        assert!(id_is_mapped(&map, 3_001_000));
        let map = parse_id_map("0 1000 1\n1 100000 65536\n");
        assert!(id_is_mapped(&map, 65536));
        assert!(!id_is_mapped(&map, 65537));
        assert!(!id_is_mapped(&map, 3_000_000));
    }

    #[test]
    fn names_that_would_corrupt_passwd_are_rejected() {
        assert!(check_user(&user(1000, "a:b")).is_err());
        assert!(check_user(&user(1000, "a\nb")).is_err());
        assert!(check_user(&user(1000, "")).is_err());
        assert!(check_user(&user(u32::MAX, "big")).is_err());
        assert!(check_user(&user(1000, "builder")).is_ok());
    }
}
