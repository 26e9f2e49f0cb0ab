//! The mount operations the sandbox is built from: tmpfs mounts, bind mounts, mount
//! attributes, covering a hidden host directory, and the `O_PATH` handles that stay
//! valid once a host path is covered.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use super::failure::SetupFailure;

/// Attributes of the writable mounts: nosuid, nodev.
pub(crate) const WRITABLE_ATTRS: u64 = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;

/// Read-only, nosuid and nodev: what every host bind gets.
pub(crate) const HOST_ATTRS: u64 =
    libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;

/// The `/proc/self/fd/N` path of a handle.
pub(crate) fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Opens a directory as an `O_PATH` handle.
pub(crate) fn open_path(path: &Path) -> Result<OwnedFd, SetupFailure> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(SetupFailure::io("open", path.display()))?;
    Ok(file.into())
}

/// Covers a host directory with an empty read-only tmpfs. Paths that do not exist or
/// cannot be reached even by init's host identity are invisible already and skipped.
pub(crate) fn cover(dir: &Path, owner: &str) -> Result<(), SetupFailure> {
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
pub(crate) fn mount_tmpfs(
    target: &Path,
    flags: MsFlags,
    options: &str,
) -> Result<(), SetupFailure> {
    mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(options))
        .map_err(SetupFailure::errno("mount tmpfs on", target.display()))
}

/// Bind-mounts `source` on `target` (recursively if asked).
pub(crate) fn bind(source: &Path, target: &Path, recursive: bool) -> Result<(), SetupFailure> {
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
pub(crate) fn set_mount_attrs(
    path: &Path,
    recursive: bool,
    attrs: u64,
) -> Result<(), SetupFailure> {
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

/// Creates a directory in the new root.
pub(crate) fn make_dir(path: &Path) -> Result<(), SetupFailure> {
    fs::create_dir(path).map_err(SetupFailure::io("create the directory", path.display()))
}
