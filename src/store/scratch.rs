//! The per-user scratch directory on a tmpfs (`/dev/shm/reprobe-UID`) where `check`
//! makes its work directories.
//!
//! `/dev/shm` is shared by every local user, so a name there is only used after it was
//! opened `O_NOFOLLOW|O_DIRECTORY` and checked (a directory, owned by this process's
//! euid, no write permission for anyone else). Anything else there (a link, another
//! user's directory) is never followed or entered: this run falls back to a fresh private
//! directory (`mkdtemp`), removed by handle when the process exits.
//!
//! The mode is 0700: the sandbox opens the work directory before it takes the step's
//! ids, so nobody else needs to pass through.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::fsafe::{self, Dir, DirError};

/// The shared directory scratch directories are made in.
const SHM: &str = "/dev/shm";

/// The verified scratch directory of this process.
pub(super) struct Scratch {
    /// Its path (for work directory paths and messages).
    pub(super) path: PathBuf,
    /// The handle everything below it is created and removed through.
    pub(super) dir: Dir,
    /// `/dev/shm` and the name there, when this is a private fallback removed at exit.
    fallback: Option<(Dir, String)>,
}

static SCRATCH: OnceLock<Option<Scratch>> = OnceLock::new();

/// The mode of a scratch directory.
const SCRATCH_MODE: u32 = 0o700;

/// The name of the effective uid's scratch directory in `/dev/shm`.
fn scratch_name(uid: u32) -> String {
    format!("reprobe-{uid}")
}

/// Whether `/dev/shm` is a tmpfs (there, a directory lists its entries in the order
/// they were created, which the `fileorder` variation relies on).
fn shm_is_tmpfs() -> bool {
    nix::sys::statfs::statfs(Path::new(SHM))
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

/// The process's scratch directory, made and verified on first use; `None` without a
/// tmpfs at `/dev/shm` (or when not even a private directory can be made there).
pub(super) fn scratch() -> Option<&'static Scratch> {
    SCRATCH.get_or_init(make_scratch).as_ref()
}

fn make_scratch() -> Option<Scratch> {
    if !shm_is_tmpfs() {
        return None;
    }
    let shm = Dir::open(Path::new(SHM), true).ok()?;
    let uid = fsafe::euid();
    let name = scratch_name(uid);
    let mode = SCRATCH_MODE;
    let _ = shm.mkdir_at(OsStr::new(&name), mode);
    match verify_shared(&shm, &name, mode) {
        Ok(dir) => Some(Scratch {
            path: Path::new(SHM).join(&name),
            dir,
            fallback: None,
        }),
        Err(why) => fallback(shm, &name, mode, &why),
    }
}

/// Opens `/dev/shm/NAME` and checks it is a directory of ours that nobody else may
/// write to; the mode of our own directory is set to `mode` if it differs.
fn verify_shared(shm: &Dir, name: &str, mode: u32) -> Result<Dir, String> {
    let dir = shm
        .open_dir_at(OsStr::new(name))
        .map_err(|e| describe(&e))?;
    dir.check_owner().map_err(|e| describe(&e))?;
    let meta = dir.meta().map_err(|e| e.to_string())?;
    if meta.mode != mode {
        dir.set_mode(mode).map_err(|e| {
            format!(
                "{}: mode {:o} where {mode:o} was expected, and it cannot be changed: {e}",
                dir.path().display(),
                meta.mode
            )
        })?;
        super::messages::note(&format!(
            "{}: mode {:o} set to {mode:o}",
            dir.path().display(),
            meta.mode
        ));
    }
    Ok(dir)
}

fn describe(err: &DirError) -> String {
    match err {
        DirError::Link { path } => format!("{} is a symbolic link", path.display()),
        other => other.to_string(),
    }
}

/// Makes a fresh private directory in `/dev/shm` instead of the shared name, which is
/// left alone, and arranges its removal at exit.
fn fallback(shm: Dir, name: &str, mode: u32, why: &str) -> Option<Scratch> {
    let dir = match shm.create_unique_dir(name, mode) {
        Ok(dir) => dir,
        Err(err) => {
            super::messages::note(&format!(
                "{why}: not used, and no private directory could be made in {SHM} either ({err}); work directories go to the store's tmp/"
            ));
            return None;
        }
    };
    let path = dir.real_path();
    let unique = path.file_name()?.to_string_lossy().into_owned();
    super::messages::note(&format!(
        "{why}: not used (reprobe never follows a link or enters another user's directory there); this run's work directories go to the private {}",
        path.display()
    ));
    // SAFETY: registering a plain extern "C" function without arguments.
    unsafe {
        libc::atexit(remove_fallback_at_exit);
    }
    Some(Scratch {
        path,
        dir,
        fallback: Some((shm, unique)),
    })
}

/// Removes the private fallback directory (by handle) when the process exits.
extern "C" fn remove_fallback_at_exit() {
    if let Some(Some(Scratch {
        fallback: Some((shm, name)),
        ..
    })) = SCRATCH.get()
    {
        let _ = shm.remove_all_at(OsStr::new(name));
    }
}

/// The effective uid's existing scratch directory, verified, for clearing what dead
/// processes left there; never created, never a fallback.
pub(super) fn existing_shared() -> Option<Dir> {
    if let Some(scratch) = SCRATCH.get().and_then(Option::as_ref) {
        if scratch.fallback.is_none() {
            return scratch.dir.try_clone().ok();
        }
    }
    let shm = Dir::open(Path::new(SHM), true).ok()?;
    let uid = fsafe::euid();
    let dir = shm.open_dir_at(OsStr::new(&scratch_name(uid))).ok()?;
    let meta = dir.meta().ok()?;
    (meta.uid == uid && meta.mode & 0o022 == 0).then_some(dir)
}

/// The handle of `base` if it is this process's scratch directory.
pub(super) fn handle_of(base: &Path) -> Option<&'static Dir> {
    scratch().filter(|s| s.path == base).map(|s| &s.dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_per_user() {
        assert_eq!(scratch_name(1000), "reprobe-1000");
    }

    #[test]
    fn a_link_at_the_shared_name_is_refused_and_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::os::unix::fs::symlink(&victim, t.path().join("reprobe-1")).unwrap();
        let top = Dir::open(t.path(), false).unwrap();
        let why = verify_shared(&top, "reprobe-1", 0o700).err().unwrap();
        assert!(why.contains("symbolic link"), "{why}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_ne!(mode, 0o700, "the link's target was chmodded");
    }
}
