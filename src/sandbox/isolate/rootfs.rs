//! The sandbox's file system and network: a tmpfs root holding read-only binds of the
//! host's top-level directories with the hidden ones covered, a minimal `/dev`, a new
//! `/proc`, a private `/tmp`, the work directory, generated `/etc` files; and `lo` up.
//!
//! Two phases, because in shifted mode the identities differ:
//! 1. [`prepare_host_view`] runs with init's original host identity (root, in a new user
//!    namespace), which can still look up paths below root-only directories: it opens the
//!    work directory, mounts the root tmpfs and covers the hidden directories *at their
//!    host paths* in the new mount namespace.
//! 2. [`build_root`] runs as the sandbox's root (an unprivileged host id, so it can
//!    create files in tmpfs mounted in the namespace) and fills the new root, relative to
//!    it as the current directory; [`enter_root`] pivots into it.
//!
//! The mount operations themselves are in module `mounts`, the step's disk (its tmpfs
//! and the copies in and out) in `disk`, and the tripwire's mounts in `tripwire_mount`.

use std::fs::{self, File};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use nix::unistd::{chdir, fchdir, pivot_root};

use super::disk::{make_disk, StepDisk, DISK_STAGING};
use super::failure::SetupFailure;
use super::mounts::{
    bind, cover, make_dir, mount_tmpfs, open_path, set_mount_attrs, HOST_ATTRS, WRITABLE_ATTRS,
};
use super::protocol::HelperRequest;
use super::tripwire_mount::{bind_tripwire_trees, start_tripwire, TripwireSetup, TRIPWIRE_STAGING};
use crate::sandbox::generated_etc::generated_etc;
use crate::sandbox::observe::layout::Layout;
use crate::sandbox::spec::{SandboxSpec, ALWAYS_HIDDEN};

/// Devices bound from the host into the sandbox's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Top-level host entries the sandbox gets its own version of.
const OWN_TOP_LEVEL: [&str; 4] = ["dev", "proc", "sys", "tmp"];

/// Handles taken in phase 1 that phase 2 needs after the host paths are covered.
pub(crate) struct HostView {
    /// The host work directory (`O_PATH`), bound at the spec's `workdir`.
    workdir: OwnedFd,
    /// The new root tmpfs (`O_PATH`), whose mount point may be covered by then.
    root: OwnedFd,
}

/// Phase 1: private mount propagation, the handles, and the hidden directories covered.
pub(crate) fn prepare_host_view(request: &HelperRequest) -> Result<HostView, SetupFailure> {
    let spec = &request.spec;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(SetupFailure::errno(
        "make mount propagation private on",
        "/",
    ))?;
    let workdir = open_path(&spec.host_workdir)?;
    let owner = owner_options(request);
    let root_options = format!("mode=0755,size=4m{owner}");
    mount_tmpfs(
        &request.root_dir,
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        &root_options,
    )?;
    let root = open_path(&request.root_dir)?;
    let extra = [spec.host_workdir.clone(), request.scratch_dir.clone()];
    for dir in cover_order(&spec.hidden, &extra) {
        cover(&dir, &owner)?;
    }
    Ok(HostView { workdir, root })
}

/// Phase 2: fills the new root (current directory) with everything the step sees. The
/// work directory, `/tmp` and `/dev/shm` are directories of one tmpfs of the step's disk
/// limit; the prepared host work directory is copied into it.
///
/// With `tripwire`, the tripwire file system is mounted and sent to the helper, the work
/// directory is an overlay on it and `/etc`, the homes and the project path are its
/// trees; the returned flag says whether that worked (if not, opens must be observed
/// with seccomp).
pub(crate) fn build_root(
    request: &HelperRequest,
    host: &HostView,
    tripwire: Option<TripwireSetup>,
) -> Result<(StepDisk, bool), SetupFailure> {
    let spec = &request.spec;
    fchdir(host.root.as_raw_fd()).map_err(SetupFailure::errno("chdir to", "the new root"))?;
    bind_host_top_level()?;
    if let Some(offset) = spec.clock_offset_secs {
        place_clock_shim(offset)?;
    }
    let owner = owner_options(request);
    mount_sys(&owner)?;
    if let Some(cpus) = spec.cpus {
        limit_online_cpus(cpus)?;
    }
    let mut disk = make_disk(request, &host.workdir, &owner)?;
    let layout = tripwire.and_then(|setup| start_tripwire(request, setup));
    let staging = Path::new(DISK_STAGING);
    make_dev(&staging.join("shm"), &owner)?;
    mount_proc()?;
    make_dir(Path::new("tmp"))?;
    bind(&staging.join("tmp"), Path::new("tmp"), false)?;
    set_mount_attrs(Path::new("tmp"), false, WRITABLE_ATTRS)?;
    let lower = layout
        .as_ref()
        .and_then(Layout::work_tree)
        .map(|i| Path::new(TRIPWIRE_STAGING).join(i.to_string()));
    let merged = mount_workdir(spec, staging, lower.as_deref(), &owner)?;
    // Without a work tree (opens outside the work directory only), the work directory
    // is an ordinary bind mount; with one, the tripwire is active only on the overlay.
    let active = match (&layout, merged) {
        (Some(layout), Some(merged)) => {
            disk.work = merged;
            bind_tripwire_trees(layout)?;
            true
        }
        (Some(layout), None) if lower.is_none() => {
            bind_tripwire_trees(layout)?;
            true
        }
        _ => false,
    };
    write_etc(spec, active)?;
    if layout.is_some() {
        let tripwire = Path::new(TRIPWIRE_STAGING);
        umount2(tripwire, MntFlags::MNT_DETACH)
            .map_err(SetupFailure::errno("detach", TRIPWIRE_STAGING))?;
        fs::remove_dir(tripwire).map_err(SetupFailure::io("remove", TRIPWIRE_STAGING))?;
    }
    umount2(staging, MntFlags::MNT_DETACH).map_err(SetupFailure::errno(
        "detach",
        "the staging mount of the disk",
    ))?;
    fs::remove_dir(staging).map_err(SetupFailure::io("remove", DISK_STAGING))?;
    Ok((disk, active))
}

/// Writes the clock shim and its offset file into the new root's `/.reprobe` (the root
/// is made read-only before the step starts).
fn place_clock_shim(offset: i64) -> Result<(), SetupFailure> {
    let dir = Path::new(crate::sandbox::clock::SANDBOX_DIR.trim_start_matches('/'));
    make_dir(dir)?;
    let shim = Path::new(crate::sandbox::clock::SANDBOX_SHIM.trim_start_matches('/'));
    fs::write(shim, crate::sandbox::clock::SHIM)
        .map_err(SetupFailure::io("write", shim.display()))?;
    fs::set_permissions(shim, fs::Permissions::from_mode(0o755))
        .map_err(SetupFailure::io("chmod", shim.display()))?;
    let file = dir.join(crate::sandbox::clock::OFFSET_FILE);
    fs::write(&file, format!("{offset}\n")).map_err(SetupFailure::io("write", file.display()))
}

/// Makes the new root read-only, pivots into it, detaches the host root and enters
/// the work directory.
pub(crate) fn enter_root(spec: &SandboxSpec, host: HostView) -> Result<(), SetupFailure> {
    drop(host);
    set_mount_attrs(Path::new("."), false, libc::MOUNT_ATTR_RDONLY)?;
    pivot_root(".", ".").map_err(SetupFailure::errno("pivot_root to", "the new root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(SetupFailure::errno("detach", "the old root"))?;
    chdir("/").map_err(SetupFailure::errno("chdir to", "/"))?;
    chdir(&spec.workdir).map_err(SetupFailure::errno("chdir to", spec.workdir.display()))
}

/// Brings the loopback interface of the new network namespace up.
pub(crate) fn loopback_up() -> Result<(), SetupFailure> {
    let fail = |op| SetupFailure::errno(op, "network interface lo");
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(fail("open a socket to configure"))?;
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we pass.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) };
    Errno::result(rc).map_err(fail("read the flags of"))?;
    // SAFETY: the union field written by SIOCGIFFLAGS.
    unsafe { request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: as above.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &request) };
    Errno::result(rc).map(drop).map_err(fail("bring up"))
}

/// The directories to cover, ancestors first and without ones inside another: the
/// always-hidden ones, the spec's, and `extra` (the host work dir and scratch dir, so
/// the step cannot find its host path).
pub(crate) fn cover_order(hidden: &[PathBuf], extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = ALWAYS_HIDDEN
        .iter()
        .map(PathBuf::from)
        .chain(hidden.iter().cloned())
        .chain(extra.iter().cloned())
        .collect();
    all.sort_by(|a, b| {
        (a.components().count(), a.as_os_str()).cmp(&(b.components().count(), b.as_os_str()))
    });
    let mut kept: Vec<PathBuf> = Vec::new();
    for path in all {
        if !kept.iter().any(|k| path.starts_with(k)) {
            kept.push(path);
        }
    }
    kept
}

/// tmpfs ownership options: the root of each tmpfs belongs to the sandbox's setup user.
fn owner_options(request: &HelperRequest) -> String {
    let (uid, gid) = request.ids.setup_ids(&request.spec.user);
    format!(",uid={uid},gid={gid}")
}

/// Recreates every top-level entry of the host root, read-only: directories and files
/// as recursive binds, symlinks (merged `/usr`) as symlinks.
fn bind_host_top_level() -> Result<(), SetupFailure> {
    let entries = fs::read_dir("/").map_err(SetupFailure::io("list", "/"))?;
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        if OWN_TOP_LEVEL.iter().any(|own| name == *own) {
            continue;
        }
        let host = Path::new("/").join(&name);
        let here = PathBuf::from(&name);
        let meta =
            fs::symlink_metadata(&host).map_err(SetupFailure::io("inspect", host.display()))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&host).map_err(SetupFailure::io("read", host.display()))?;
            symlink(&target, &here)
                .map_err(SetupFailure::io("create the symlink", here.display()))?;
        } else if meta.is_dir() {
            make_dir(&here)?;
            bind(&host, &here, true)?;
            set_mount_attrs(&here, true, HOST_ATTRS)?;
        } else if meta.is_file() {
            File::create(&here).map_err(SetupFailure::io("create", here.display()))?;
            bind(&host, &here, false)?;
            set_mount_attrs(&here, false, HOST_ATTRS)?;
        }
    }
    Ok(())
}

/// A minimal `/dev`: the usual devices bound from the host, the std stream links, and a
/// writable `/dev/shm` (bound from `shm`, on the step's disk); the `/dev` tmpfs itself is
/// read-only.
fn make_dev(shm_source: &Path, owner: &str) -> Result<(), SetupFailure> {
    let dev = Path::new("dev");
    make_dir(dev)?;
    let options = format!("mode=0755,size=64k{owner}");
    mount_tmpfs(dev, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, &options)?;
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        if name == "tty" && !host.exists() {
            continue;
        }
        let here = dev.join(name);
        File::create(&here).map_err(SetupFailure::io("create", here.display()))?;
        bind(&host, &here, false)?;
    }
    let links = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    for (name, target) in links {
        let here = dev.join(name);
        symlink(target, &here).map_err(SetupFailure::io("create the symlink", here.display()))?;
    }
    let shm = dev.join("shm");
    make_dir(&shm)?;
    bind(shm_source, &shm, false)?;
    set_mount_attrs(&shm, false, WRITABLE_ATTRS)?;
    set_mount_attrs(dev, false, libc::MOUNT_ATTR_RDONLY)
}

/// A new read-only sysfs, which shows the new network namespace's interfaces (only `lo`)
/// instead of the host's. Where the kernel refuses one (the host network namespace of a
/// fetch step, or a container masking parts of its `/sys`), the host's is bound
/// read-only with its network interfaces covered.
fn mount_sys(owner: &str) -> Result<(), SetupFailure> {
    let sys = Path::new("sys");
    make_dir(sys)?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if mount(Some("sysfs"), sys, Some("sysfs"), flags, None::<&str>).is_ok() {
        return Ok(());
    }
    bind(Path::new("/sys"), sys, true)?;
    set_mount_attrs(sys, true, HOST_ATTRS)?;
    cover(&sys.join("class/net"), owner)
}

/// With the `cpus` limit, shows the step only the CPUs it may use in the new sysfs's
/// `devices/system/cpu/online`: glibc's `get_nprocs` (Python's `os.cpu_count()`,
/// `getconf _NPROCESSORS_ONLN`) reads that file and ignores the affinity, which alone
/// changes only `nproc` and `sched_getaffinity`. The configured CPUs (`nproc --all`) stay.
/// The list is written to the root tmpfs, bound read-only over the file, and unlinked.
fn limit_online_cpus(cpus: usize) -> Result<(), SetupFailure> {
    let online = Path::new("sys/devices/system/cpu/online");
    if !online.is_file() {
        return Ok(());
    }
    let staging = Path::new(".reprobe-cpu-online");
    let list = format!("{}\n", cpu_list(&first_allowed_cpus(cpus)?));
    fs::write(staging, list).map_err(SetupFailure::io("write", staging.display()))?;
    bind(staging, online, false)?;
    set_mount_attrs(online, false, HOST_ATTRS)?;
    fs::remove_file(staging).map_err(SetupFailure::io("remove", staging.display()))
}

/// The first `cpus` CPUs of this process's affinity: the ones the step is restricted to
/// (the same choice as `restrict_cpus` in `exec.rs`).
fn first_allowed_cpus(cpus: usize) -> Result<Vec<usize>, SetupFailure> {
    use nix::sched::{sched_getaffinity, CpuSet};
    let allowed = sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map_err(SetupFailure::errno("get", "CPU affinity"))?;
    Ok((0..CpuSet::count())
        .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false))
        .take(cpus)
        .collect())
}

/// A sorted CPU list in the kernel's format: `0`, `0-3`, `0-1,4`.
fn cpu_list(cpus: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &cpu in cpus {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == cpu => *end = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    let text: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    text.join(",")
}

/// A new procfs for the new pid namespace (init is its pid 1).
fn mount_proc() -> Result<(), SetupFailure> {
    let proc = Path::new("proc");
    make_dir(proc)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), proc, Some("proc"), flags, None::<&str>)
        .map_err(SetupFailure::errno("mount proc on", "/proc"))
}

/// Mounts the work directory (`work` on the step's disk, staged at `disk`) at the spec's
/// `workdir`, creating the missing directories above it in the new root. When they
/// would have to be created inside a read-only host directory (a workdir `/build/work`
/// on a host that has a `/build`), that directory's nearest existing ancestor is replaced
/// by a tmpfs holding only the path to the work directory.
///
/// With `lower` (the tripwire's work tree) it is an overlay with `work` as its upper
/// layer, and the returned handle is the merged directory; without, or when the kernel
/// refuses the overlay, a bind mount (`None`).
fn mount_workdir(
    spec: &SandboxSpec,
    disk: &Path,
    lower: Option<&Path>,
    owner: &str,
) -> Result<Option<OwnedFd>, SetupFailure> {
    let source = disk.join("work");
    let here = spec.workdir.strip_prefix("/").unwrap_or(&spec.workdir);
    let fail = || {
        SetupFailure::io(
            "create the work directory mount point",
            spec.workdir.display(),
        )
    };
    match fs::create_dir_all(here) {
        Err(err) if err.raw_os_error() == Some(libc::EROFS) => {
            let base = nearest_existing_ancestor(here);
            let options = format!("mode=0755,size=64k{owner}");
            mount_tmpfs(&base, MsFlags::MS_NOSUID | MsFlags::MS_NODEV, &options)?;
            fs::create_dir_all(here).map_err(fail())?;
            set_mount_attrs(&base, false, libc::MOUNT_ATTR_RDONLY)?;
        }
        other => other.map_err(fail())?,
    }
    if let Some(lower) = lower {
        let options = format!(
            "lowerdir={},upperdir={},workdir={},userxattr",
            lower.display(),
            source.display(),
            disk.join("ovl").display()
        );
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        if mount(
            Some("reprobe-work"),
            here,
            Some("overlay"),
            flags,
            Some(options.as_str()),
        )
        .is_ok()
        {
            return open_path(here).map(Some);
        }
    }
    mount(
        Some(&source),
        here,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(SetupFailure::errno(
        "bind-mount the work directory on",
        spec.workdir.display(),
    ))?;
    set_mount_attrs(here, false, WRITABLE_ATTRS)?;
    Ok(None)
}

/// The deepest ancestor of the relative path `path` that exists (never the root itself).
fn nearest_existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .filter(|a| !a.as_os_str().is_empty() && a.exists())
        .map(Path::to_path_buf)
        .next()
        .unwrap_or_else(|| path.to_path_buf())
}

/// Binds the [`generated_etc`] files over the host's. With the tripwire serving `/etc`
/// there is nothing to do: it serves them itself (a bind over it would cost a look-up
/// round trip each).
fn write_etc(spec: &SandboxSpec, tripwire: bool) -> Result<(), SetupFailure> {
    if tripwire {
        return Ok(());
    }
    for (name, contents, required) in generated_etc(spec) {
        let target = Path::new("etc").join(name);
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_file() => {}
            _ if !required => continue,
            _ => {
                let why = "the host has no regular file there to cover";
                return Err(SetupFailure::new("replace", format!("/etc/{name}"), why));
            }
        }
        let staged = PathBuf::from(format!(".reprobe-{name}"));
        let fail = SetupFailure::io("write", format!("/etc/{name}"));
        fs::write(&staged, contents).map_err(fail)?;
        let mode = fs::Permissions::from_mode(0o644);
        fs::set_permissions(&staged, mode).map_err(SetupFailure::io("chmod", staged.display()))?;
        bind(&staged, &target, false)?;
        set_mount_attrs(&target, false, HOST_ATTRS)?;
        fs::remove_file(&staged).map_err(SetupFailure::io("remove", staged.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_come_ancestors_first_without_nested_ones() {
        let hidden = vec![PathBuf::from("/work/proj"), PathBuf::from("/root/proj")];
        let extra = vec![
            PathBuf::from("/work/proj/.reprobe/w"),
            PathBuf::from("/tmp/x"),
        ];
        let order = cover_order(&hidden, &extra);
        let order: Vec<_> = order.iter().map(|p| p.to_str().unwrap_or("?")).collect();
        assert_eq!(
            order,
            ["/home", "/root", "/run", "/tmp", "/var/tmp", "/work/proj"]
        );
    }

    #[test]
    fn duplicate_hidden_dirs_are_covered_once() {
        let hidden = vec![PathBuf::from("/srv/a"), PathBuf::from("/srv/a")];
        let order = cover_order(&hidden, &[]);
        assert_eq!(order.iter().filter(|p| p.ends_with("a")).count(), 1);
    }

    #[test]
    fn cpu_lists_use_the_kernels_ranges() {
        assert_eq!(cpu_list(&[0]), "0");
        assert_eq!(cpu_list(&[0, 1]), "0-1");
        assert_eq!(cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
    }
}
