//! The step's disk: one tmpfs of the step's disk limit holding its work directory,
//! `/tmp` and `/dev/shm`. The prepared host work directory is copied into it before the
//! step and copied back after it, so the host directory never grows during the step
//! (docs/design.md section 4).

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::mount::MsFlags;

use super::failure::SetupFailure;
use super::mounts::{fd_path, make_dir, mount_tmpfs, open_path};
use super::protocol::HelperRequest;
use crate::sandbox::spec::SandboxSpec;

/// Name of the staging mount point of the step's disk tmpfs in the new root.
pub(crate) const DISK_STAGING: &str = ".reprobe-disk";

/// Handles on the step's disk that init keeps after entering the new root.
pub(crate) struct StepDisk {
    /// The host work directory (`O_PATH`), where the work directory is copied back.
    pub host_workdir: OwnedFd,
    /// The work directory in the tmpfs (`O_PATH`).
    pub work: OwnedFd,
    /// The root of the tmpfs (`O_PATH`), sampled for free space.
    pub root: OwnedFd,
}

/// Mounts the step's disk tmpfs at [`DISK_STAGING`] with `tmp`, `shm` and `work` in it,
/// and copies the prepared host work directory into `work`, owned by the build user.
pub(crate) fn make_disk(
    request: &HelperRequest,
    host_workdir: &OwnedFd,
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
    let source = fd_path(host_workdir);
    copy_tree(&source, &work, Some((uid, gid)))?;
    let host_workdir = host_workdir
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
pub(crate) fn copy_back(spec: &SandboxSpec, disk: &StepDisk) -> Result<(), SetupFailure> {
    let host = fd_path(&disk.host_workdir);
    empty_dir(&host)?;
    copy_tree(
        &fd_path(&disk.work),
        &host,
        Some((spec.user.uid, spec.user.gid)),
    )
}

/// Empties `dir` (a host directory reached through a handle): every entry below it is
/// removed, without following symlinks.
fn empty_dir(dir: &Path) -> Result<(), SetupFailure> {
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
fn copy_tree(src: &Path, dst: &Path, owner: Option<(u32, u32)>) -> Result<(), SetupFailure> {
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
