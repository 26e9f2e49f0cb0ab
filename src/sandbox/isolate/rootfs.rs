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

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::socket::{
    sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use nix::unistd::{chdir, fchdir, pivot_root};

use super::helper::{HelperRequest, SetupFailure};
use super::tripwire::{Layout, TreeKind};
use super::{ids, limits, SandboxSpec, ALWAYS_HIDDEN};

/// Devices bound from the host into the sandbox's `/dev`.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Top-level host entries the sandbox gets its own version of.
const OWN_TOP_LEVEL: [&str; 4] = ["dev", "proc", "sys", "tmp"];

/// Handles taken in phase 1 that phase 2 needs after the host paths are covered.
pub(super) struct HostView {
    /// The host work directory (`O_PATH`), bound at the spec's `workdir`.
    workdir: OwnedFd,
    /// The new root tmpfs (`O_PATH`), whose mount point may be covered by then.
    root: OwnedFd,
}

/// Phase 1: private mount propagation, the handles, and the hidden directories covered.
pub(super) fn prepare_host_view(request: &HelperRequest) -> Result<HostView, SetupFailure> {
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

/// Name of the staging mount point of the step's disk tmpfs in the new root.
const DISK_STAGING: &str = ".reprobe-disk";

/// Handles on the step's disk that init keeps after entering the new root.
pub(super) struct StepDisk {
    /// The host work directory (`O_PATH`), where the work directory is copied back.
    pub host_workdir: OwnedFd,
    /// The work directory in the tmpfs (`O_PATH`).
    pub work: OwnedFd,
    /// The root of the tmpfs (`O_PATH`), sampled for free space.
    pub root: OwnedFd,
}

/// Phase 2: fills the new root (current directory) with everything the step sees. The
/// work directory, `/tmp` and `/dev/shm` are directories of one tmpfs of the step's disk
/// limit; the prepared host work directory is copied into it.
///
/// With `tripwire`, the tripwire file system is mounted and sent to the helper, the work
/// directory is an overlay on it and `/etc`, the homes and the project path are its
/// trees; the returned flag says whether that worked (if not, opens must be observed
/// with seccomp).
pub(super) fn build_root(
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
    let mut disk = make_disk(request, host, &owner)?;
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

/// Name of the staging mount point of the tripwire file system in the new root.
const TRIPWIRE_STAGING: &str = ".reprobe-tripwire";

/// What init needs to mount the tripwire: the FUSE device (opened inside the step's
/// user namespace), the socket to the helper, and the layout.
pub(super) struct TripwireSetup {
    pub device: OwnedFd,
    pub socket: RawFd,
    pub layout: Layout,
}

/// Opens `/dev/fuse` (in phase 1: the device's permissions are the host's).
pub(super) fn open_fuse_device() -> Option<OwnedFd> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/fuse")
        .ok()?;
    Some(file.into())
}

/// Mounts the tripwire file system at [`TRIPWIRE_STAGING`] and sends its device to the
/// helper, which serves it from then on. `None` (nothing mounted) when either fails.
fn start_tripwire(request: &HelperRequest, setup: TripwireSetup) -> Option<Layout> {
    let (uid, gid) = request.ids.setup_ids(&request.spec.user);
    let options = format!(
        "fd={},rootmode=40000,user_id={uid},group_id={gid},allow_other,default_permissions",
        setup.device.as_raw_fd()
    );
    let target = Path::new(TRIPWIRE_STAGING);
    make_dir(target).ok()?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    if mount(
        Some("reprobe"),
        target,
        Some("fuse"),
        flags,
        Some(options.as_str()),
    )
    .is_err()
    {
        let _ = fs::remove_dir(target);
        return None;
    }
    let fds = [setup.device.as_raw_fd()];
    let message = [io::IoSlice::new(b"f")];
    let rights = [ControlMessage::ScmRights(&fds)];
    if sendmsg::<()>(setup.socket, &message, &rights, MsgFlags::empty(), None).is_err() {
        let _ = umount2(target, MntFlags::MNT_DETACH);
        let _ = fs::remove_dir(target);
        return None;
    }
    Some(setup.layout)
}

/// Binds the tripwire's trees over `/etc`, the home directories and the project path
/// (where the new root has them), then the most read `/etc` entries from the host over
/// the `/etc` tree.
fn bind_tripwire_trees(layout: &Layout) -> Result<(), SetupFailure> {
    for (index, tree) in layout.trees.iter().enumerate() {
        if tree.kind == TreeKind::Work {
            continue;
        }
        let here = tree.inside.strip_prefix("/").unwrap_or(&tree.inside);
        if !here.is_dir() {
            continue;
        }
        bind(
            &Path::new(TRIPWIRE_STAGING).join(index.to_string()),
            here,
            false,
        )?;
        set_mount_attrs(here, false, HOST_ATTRS)?;
        if tree.kind == TreeKind::Etc {
            bind_allowed_etc(here)?;
        }
    }
    Ok(())
}

/// The allow-listed `/etc` entries nearly every process reads (the loader's cache at each
/// exec; `cc`, `c++`, `awk` are alternatives; the C library reads the locale aliases at
/// each `setlocale`, which `gcc` and its passes all call): bound from the host over the tripwire's
/// `/etc`, so they are read without reaching reprobe. The others are served by the
/// mirror when a step reads them (binding each costs a look-up round trip per step).
const ETC_BOUND: [&str; 3] = ["ld.so.cache", "alternatives", "locale.alias"];

/// Binds each [`ETC_BOUND`] host file or directory (not symlinks: the tree shows those
/// as they are) over the tripwire's `/etc` at `etc`.
fn bind_allowed_etc(etc: &Path) -> Result<(), SetupFailure> {
    for name in ETC_BOUND {
        let host = Path::new("/etc").join(name);
        let Ok(meta) = fs::symlink_metadata(&host) else {
            continue;
        };
        if !meta.is_file() && !meta.is_dir() {
            continue;
        }
        let here = etc.join(name);
        bind(&host, &here, meta.is_dir())?;
        set_mount_attrs(&here, meta.is_dir(), HOST_ATTRS)?;
    }
    Ok(())
}

/// Mounts the step's disk tmpfs at [`DISK_STAGING`] with `tmp`, `shm` and `work` in it,
/// and copies the prepared host work directory into `work`, owned by the build user.
fn make_disk(
    request: &HelperRequest,
    host: &HostView,
    owner: &str,
) -> Result<StepDisk, SetupFailure> {
    let spec = &request.spec;
    let staging = Path::new(DISK_STAGING);
    make_dir(staging)?;
    let options = format!("{}{owner}", spec.limits.tmpfs_options());
    mount_tmpfs(staging, MsFlags::MS_NOSUID | MsFlags::MS_NODEV, &options)?;
    let dirs = [
        ("tmp", 0o1777),
        ("shm", 0o1777),
        ("work", 0o755),
        ("ovl", 0o700),
    ];
    for (name, mode) in dirs {
        let dir = staging.join(name);
        make_dir(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
            .map_err(SetupFailure::io("chmod", dir.display()))?;
    }
    let work = staging.join("work");
    let (uid, gid) = (spec.user.uid, spec.user.gid);
    std::os::unix::fs::lchown(&work, Some(uid), Some(gid))
        .map_err(SetupFailure::io("change the owner of", work.display()))?;
    let source = fd_path(&host.workdir);
    limits::copy_tree(&source, &work, Some((uid, gid)))?;
    let host_workdir = host
        .workdir
        .try_clone()
        .map_err(SetupFailure::io("duplicate", "the work directory handle"))?;
    Ok(StepDisk {
        host_workdir,
        work: open_path(&work)?,
        root: open_path(staging)?,
    })
}

/// After the step (and every process of it) ended: replaces the host work directory's
/// contents with the tmpfs work directory's, owned by the build user.
pub(super) fn copy_back(spec: &SandboxSpec, disk: &StepDisk) -> Result<(), SetupFailure> {
    let host = fd_path(&disk.host_workdir);
    limits::empty_dir(&host)?;
    limits::copy_tree(
        &fd_path(&disk.work),
        &host,
        Some((spec.user.uid, spec.user.gid)),
    )
}

/// The `/proc/self/fd/N` path of a handle.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Attributes of the writable mounts: nosuid, nodev.
const WRITABLE_ATTRS: u64 = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;

/// Makes the new root read-only, pivots into it, detaches the host root and enters
/// the work directory.
pub(super) fn enter_root(spec: &SandboxSpec, host: HostView) -> Result<(), SetupFailure> {
    drop(host);
    set_mount_attrs(Path::new("."), false, libc::MOUNT_ATTR_RDONLY)?;
    pivot_root(".", ".").map_err(SetupFailure::errno("pivot_root to", "the new root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(SetupFailure::errno("detach", "the old root"))?;
    chdir("/").map_err(SetupFailure::errno("chdir to", "/"))?;
    chdir(&spec.workdir).map_err(SetupFailure::errno("chdir to", spec.workdir.display()))
}

/// Brings the loopback interface of the new network namespace up.
pub(super) fn loopback_up() -> Result<(), SetupFailure> {
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
pub(super) fn cover_order(hidden: &[PathBuf], extra: &[PathBuf]) -> Vec<PathBuf> {
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

/// Opens a directory as an `O_PATH` handle.
fn open_path(path: &Path) -> Result<OwnedFd, SetupFailure> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(SetupFailure::io("open", path.display()))?;
    Ok(file.into())
}

/// Covers a host directory with an empty read-only tmpfs. Paths that do not exist or
/// cannot be reached even by init's host identity are invisible already and skipped.
fn cover(dir: &Path, owner: &str) -> Result<(), SetupFailure> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(SetupFailure::new("hide", dir.display(), "not a directory")),
        Err(err) if unreachable(&err) => return Ok(()),
        Err(err) => return Err(SetupFailure::io("hide", dir.display())(err)),
    }
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_tmpfs(dir, flags, &format!("mode=0555,size=4k{owner}"))
}

/// Errors meaning "this path cannot be reached at all".
fn unreachable(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::PermissionDenied
    )
}

/// Mounts a fresh tmpfs on `target`.
fn mount_tmpfs(target: &Path, flags: MsFlags, options: &str) -> Result<(), SetupFailure> {
    mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(options))
        .map_err(SetupFailure::errno("mount tmpfs on", target.display()))
}

/// Bind-mounts `source` on `target` (recursively if asked).
fn bind(source: &Path, target: &Path, recursive: bool) -> Result<(), SetupFailure> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(source), target, None::<&str>, flags, None::<&str>).map_err(|errno| {
        SetupFailure::errno(
            "bind-mount",
            format!("{} on {}", source.display(), target.display()),
        )(errno)
    })
}

/// `mount_setattr(2)`: sets mount attributes, on every sub-mount too if `recursive`.
fn set_mount_attrs(path: &Path, recursive: bool, attrs: u64) -> Result<(), SetupFailure> {
    let fail = SetupFailure::errno(
        "set mount attributes (read-only, nosuid, nodev) on",
        path.display(),
    );
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| SetupFailure::new("set mount attributes on", path.display(), "NUL byte"))?;
    let attr = libc::mount_attr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: the path and attr pointers are valid for the call; size matches the struct.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            flags as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(rc).map(drop).map_err(fail)
}

/// Read-only, nosuid and nodev: what every host bind gets.
const HOST_ATTRS: u64 = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;

/// Creates a directory in the new root.
fn make_dir(path: &Path) -> Result<(), SetupFailure> {
    fs::create_dir(path).map_err(SetupFailure::io("create the directory", path.display()))
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

/// The `/etc` files the sandbox makes up: (name, contents, whether the host must have a
/// file there to cover). The build user's passwd and group, and hosts and hostname
/// matching the sandbox's host name.
pub(super) fn generated_etc(spec: &SandboxSpec) -> [(&'static str, String, bool); 4] {
    [
        ("passwd", ids::passwd(&spec.user), true),
        ("group", ids::group(&spec.user), true),
        ("hosts", hosts(&spec.hostname), false),
        ("hostname", format!("{}\n", spec.hostname), false),
    ]
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

/// The sandbox's `/etc/hosts`: loopback names and its own host name.
fn hosts(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    )
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
    fn hosts_names_loopback_and_the_sandbox_host() {
        let text = hosts("builder-a");
        assert!(text.contains("127.0.0.1\tlocalhost\n"));
        assert!(text.ends_with("127.0.1.1\tbuilder-a\n"));
    }

    #[test]
    fn cpu_lists_use_the_kernels_ranges() {
        assert_eq!(cpu_list(&[0]), "0");
        assert_eq!(cpu_list(&[0, 1]), "0-1");
        assert_eq!(cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
    }
}
