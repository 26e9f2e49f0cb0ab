//! Init's side of the tripwire (module `observe::tripwire`): opens the FUSE device,
//! mounts the file system and sends the device to the helper, and binds the
//! file system's trees where the step sees them.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use super::failure::SetupFailure;
use super::mounts::{bind, make_dir, set_mount_attrs, HOST_ATTRS};
use super::protocol::HelperRequest;
use crate::sandbox::observe::layout::{Layout, TreeKind};

/// Name of the staging mount point of the tripwire file system in the new root.
pub(crate) const TRIPWIRE_STAGING: &str = ".reprobe-tripwire";

/// What init needs to mount the tripwire: the FUSE device (opened inside the step's
/// user namespace), the socket to the helper, and the layout.
pub(crate) struct TripwireSetup {
    pub device: OwnedFd,
    pub socket: RawFd,
    pub layout: Layout,
}

/// Opens `/dev/fuse` (in phase 1: the device's permissions are the host's).
pub(crate) fn open_fuse_device() -> Option<OwnedFd> {
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
pub(crate) fn start_tripwire(request: &HelperRequest, setup: TripwireSetup) -> Option<Layout> {
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
pub(crate) fn bind_tripwire_trees(layout: &Layout) -> Result<(), SetupFailure> {
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
