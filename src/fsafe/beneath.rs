//! Paths below a directory, resolved without ever leaving it.
//!
//! A step controls its work directory: a symlink it leaves there (`d -> /etc`) must never
//! make reprobe read `/etc/shadow` when it collects the output `d/shadow`. The project
//! is trusted more, but a link in an input directory must not make reprobe read a host
//! file either. Every path below such a directory is therefore resolved from a handle
//! on the directory with `openat2(RESOLVE_BENEATH)`, and with `RESOLVE_NO_SYMLINKS`
//! where no link may be crossed at all; where the kernel has no `openat2` (before Linux
//! 5.6, or a seccomp filter answering `ENOSYS`), the same rules are applied one component
//! at a time with `openat(O_NOFOLLOW)`. Files are then read through the handle that was
//! opened, so nothing can be swapped between the check and the read.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

/// Which symlinks a resolution may cross before its last component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// None: any symlink on the way is an error (a step's work directory).
    Refuse,
    /// Those that lead to a place still below the directory (a project's own links);
    /// an absolute link, or one climbing out with `..`, is an error.
    StayInside,
}

/// Why a path below a directory could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    /// The path, or a directory on the way, does not exist (or is not a directory).
    #[error("`{0}` does not exist")]
    Missing(String),
    /// The path goes through a symlink it may not cross.
    #[error("`{path}` goes through the symlink {link} -> {target}")]
    ThroughLink {
        /// The path asked for.
        path: String,
        /// The symlink, relative to the directory.
        link: String,
        /// Where it points.
        target: String,
    },
    /// The path has a component that is not a plain name (`..`, `.`, an empty one), or
    /// it is absolute.
    #[error("`{0}` is not a plain relative path")]
    NotPlain(String),
    /// Any other failure.
    #[error("`{path}`: {source}")]
    Io {
        /// The path asked for.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

/// Opens the directory every resolution starts from (the directory itself may be
/// reached through links: it is the caller's, not the step's).
pub fn open_root(dir: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(dir, flags, Mode::empty())?;
    // SAFETY: the fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The plain components of a relative path (`a/b/c`), or an error for anything else.
pub fn plain_components(rel: &str) -> Result<Vec<&str>, BeneathError> {
    let parts: Vec<&str> = rel.split('/').collect();
    let plain = !rel.is_empty()
        && parts
            .iter()
            .all(|p| !p.is_empty() && *p != "." && *p != ".." && !p.contains('\0'));
    if plain {
        Ok(parts)
    } else {
        Err(BeneathError::NotPlain(rel.to_string()))
    }
}

/// Opens the directory holding the last component of `rel` (a plain relative path)
/// below `root`, crossing only the links `links` allows, and returns it with that last
/// component's name.
pub fn open_parent<'p>(
    root: BorrowedFd<'_>,
    rel: &'p str,
    links: Links,
) -> Result<(OwnedFd, &'p str), BeneathError> {
    let parts = plain_components(rel)?;
    let (name, dirs) = parts
        .split_last()
        .ok_or_else(|| BeneathError::NotPlain(rel.into()))?;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let parent = if dirs.is_empty() {
        duplicate(root).map_err(|source| io_error(rel, source))?
    } else {
        let path = dirs.join("/");
        resolve(root, &path, flags, links, true)
            .map_err(|errno| explain(root, rel, links, errno))?
    };
    Ok((parent, name))
}

/// Opens `rel` below `root` for reading when it is a regular file, crossing only the
/// links `links` allows (a last component that is a link is followed only with
/// [`Links::StayInside`], and only to a place below `root`). Never opens anything but a
/// regular file: a FIFO or device is looked at with `O_PATH` first, never opened.
pub fn open_file(root: BorrowedFd<'_>, rel: &str, links: Links) -> Result<File, BeneathError> {
    plain_components(rel)?;
    let follow_last = links == Links::StayInside;
    let handle = resolve(
        root,
        rel,
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        links,
        follow_last,
    )
    .map_err(|errno| explain(root, rel, links, errno))?;
    let before = nix::sys::stat::fstat(handle.as_raw_fd()).map_err(|e| io_error(rel, e.into()))?;
    if kind(&before) != SFlag::S_IFREG {
        return Err(io_error(rel, not_regular(&before)));
    }
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let fd = resolve(root, rel, flags, links, follow_last)
        .map_err(|errno| explain(root, rel, links, errno))?;
    let file = File::from(fd);
    let after = nix::sys::stat::fstat(file.as_raw_fd()).map_err(|e| io_error(rel, e.into()))?;
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) {
        return Err(io_error(
            rel,
            io::Error::other("the file was replaced while it was being opened"),
        ));
    }
    Ok(file)
}

/// Creates the directories above the last component of `rel` below `root` (each either
/// new or an existing directory, never a symlink) and returns the last one, open, with
/// that component's name: for writing into a directory that a link must not redirect.
pub fn make_parents<'p>(
    root: BorrowedFd<'_>,
    rel: &'p str,
) -> Result<(OwnedFd, &'p str), BeneathError> {
    let parts = plain_components(rel)?;
    let (name, dirs) = parts
        .split_last()
        .ok_or_else(|| BeneathError::NotPlain(rel.into()))?;
    let mut current = duplicate(root).map_err(|source| io_error(rel, source))?;
    for (depth, dir) in dirs.iter().enumerate() {
        match nix::sys::stat::mkdirat(
            Some(current.as_raw_fd()),
            *dir,
            Mode::from_bits_truncate(0o755),
        ) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => return Err(io_error(rel, errno.into())),
        }
        let is_link = |fd: &OwnedFd| {
            lstat_at(fd.as_fd(), dir).is_ok_and(|stat| kind(&stat) == SFlag::S_IFLNK)
        };
        current = match open_dir_at(current.as_fd(), dir) {
            Ok(fd) => fd,
            // O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR or ELOOP.
            Err(_) if is_link(&current) => {
                let link = parts[..=depth].join("/");
                let target = read_link_at(current.as_fd(), dir)
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Err(BeneathError::ThroughLink {
                    path: rel.to_string(),
                    link,
                    target,
                });
            }
            Err(err) => return Err(io_error(rel, err)),
        };
    }
    Ok((current, name))
}

/// Creates the new regular file `name` in `dir` with `mode` (never through a link, never
/// over an existing entry).
pub fn create_file_at(dir: BorrowedFd<'_>, name: &str, mode: u32) -> io::Result<File> {
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        flags,
        Mode::from_bits_truncate(mode & 0o7777),
    )?;
    // SAFETY: the fd was just opened and is owned by nobody else.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Creates the symlink `name` -> `target` in `dir`.
pub fn symlink_at(target: &str, dir: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    Ok(nix::unistd::symlinkat(target, Some(dir.as_raw_fd()), name)?)
}

/// Opens the regular file `rel` below `root` for reading in one call, crossing no
/// symlink at all: for a file that `lstat` has just shown to be regular. It is opened
/// `O_NONBLOCK | O_NOFOLLOW` (a FIFO put in its place cannot block, a link cannot
/// redirect) and checked with `fstat` before anything is read.
pub fn open_regular(root: BorrowedFd<'_>, rel: &str) -> Result<File, BeneathError> {
    plain_components(rel)?;
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let fd = resolve(root, rel, flags, Links::Refuse, false)
        .map_err(|errno| explain(root, rel, Links::Refuse, errno))?;
    let file = File::from(fd);
    let stat = nix::sys::stat::fstat(file.as_raw_fd()).map_err(|e| io_error(rel, e.into()))?;
    if kind(&stat) != SFlag::S_IFREG {
        return Err(io_error(rel, not_regular(&stat)));
    }
    Ok(file)
}

/// `lstat` of `name` in the directory `dir` (a symlink is described, not followed).
pub fn lstat_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<FileStat> {
    Ok(nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        name,
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?)
}

/// The target of the symlink `name` in `dir`.
pub fn read_link_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<OsString> {
    Ok(nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name)?)
}

/// Opens the subdirectory `name` of `dir` for listing, refusing a symlink.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::openat(Some(dir.as_raw_fd()), name, flags, Mode::empty())?;
    // SAFETY: the fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The names in the directory `dir` (without `.` and `..`), unsorted.
pub fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut listing = nix::dir::Dir::openat(Some(dir.as_raw_fd()), ".", flags, Mode::empty())?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(names)
}

/// `lstat` of `rel` below `root` without crossing any symlink (a missing path, or one
/// going through a link, is `None`): for checks that must not look outside `root`.
pub fn lstat_beneath(root: &Path, rel: &Path) -> Option<FileStat> {
    let rel = rel.to_str()?;
    let root = open_root(root).ok()?;
    let (parent, name) = open_parent(root.as_fd(), rel, Links::Refuse).ok()?;
    lstat_at(parent.as_fd(), name).ok()
}

/// Whether `rel` exists as a process sees it whose root directory is `root` (a
/// `/proc/PID/root`): absolute symlinks on the way lead to the process's own root, as
/// `RESOLVE_IN_ROOT` resolves them, never to reprobe's. `follow_last`: whether a last
/// component that is a link must lead somewhere. Kernels without `openat2` are asked
/// through the plain path, as before Linux 5.6.
pub fn exists_in_root(root: &Path, rel: &Path, follow_last: bool) -> bool {
    let Ok(dir) = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    // SAFETY: the fd was just opened and is owned by nobody else.
    let dir = unsafe { OwnedFd::from_raw_fd(dir) };
    let Ok(path) = CString::new(rel.as_os_str().as_bytes()) else {
        return false;
    };
    let mut flags = libc::O_PATH | libc::O_CLOEXEC;
    if !follow_last {
        flags |= libc::O_NOFOLLOW;
    }
    // SAFETY: open_how is plain data; zeroed is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: the path and how pointers are live for the call and the size matches.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    match Errno::result(fd) {
        Ok(fd) => {
            // SAFETY: the kernel just returned this fd; nobody else owns it.
            drop(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
            true
        }
        Err(Errno::ENOSYS | Errno::EPERM | Errno::E2BIG) => {
            let full = root.join(rel);
            if follow_last {
                full.metadata().is_ok()
            } else {
                full.symlink_metadata().is_ok()
            }
        }
        Err(_) => false,
    }
}

/// The file type bits of a stat.
pub fn kind(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}

/// Words for a file type: "a FIFO", "a socket", "a character device", ...
pub fn describe_kind(stat: &FileStat) -> &'static str {
    match kind(stat) {
        SFlag::S_IFREG => "a regular file",
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFLNK => "a symlink",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFSOCK => "a socket",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        _ => "a file of unknown type",
    }
}

fn not_regular(stat: &FileStat) -> io::Error {
    io::Error::other(format!("it is {}, not a regular file", describe_kind(stat)))
}

fn io_error(path: &str, source: io::Error) -> BeneathError {
    BeneathError::Io {
        path: path.to_string(),
        source,
    }
}

fn duplicate(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

/// Turns a failed resolution into its error, naming the symlink that was in the way.
fn explain(root: BorrowedFd<'_>, rel: &str, links: Links, errno: Errno) -> BeneathError {
    let blocked = match links {
        Links::Refuse => errno == Errno::ELOOP,
        Links::StayInside => errno == Errno::EXDEV || errno == Errno::ELOOP,
    };
    if blocked {
        if let Some((link, target)) = blocking_link(root, rel, links) {
            return BeneathError::ThroughLink {
                path: rel.to_string(),
                link,
                target,
            };
        }
    }
    match errno {
        Errno::ENOENT | Errno::ENOTDIR => BeneathError::Missing(rel.to_string()),
        other => io_error(rel, other.into()),
    }
}

/// The first symlink on the way to `rel` that the rules do not let through: with
/// [`Links::Refuse`] the first one at all, with [`Links::StayInside`] the first whose
/// path no longer resolves below `root`.
fn blocking_link(root: BorrowedFd<'_>, rel: &str, links: Links) -> Option<(String, String)> {
    let parts: Vec<&str> = rel.split('/').collect();
    for end in 1..=parts.len() {
        let prefix = parts[..end].join("/");
        let (dirs, name) = (&parts[..end - 1], parts[end - 1]);
        let parent = if dirs.is_empty() {
            duplicate(root).ok()?
        } else {
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            resolve(root, &dirs.join("/"), flags, links, true).ok()?
        };
        let stat = lstat_at(parent.as_fd(), name).ok()?;
        if kind(&stat) != SFlag::S_IFLNK {
            continue;
        }
        let escapes = match links {
            Links::Refuse => true,
            Links::StayInside => resolve(root, &prefix, OFlag::O_PATH, links, true).is_err(),
        };
        if escapes {
            let target = read_link_at(parent.as_fd(), name).ok()?;
            return Some((prefix, target.to_string_lossy().into_owned()));
        }
    }
    None
}

/// Resolves `rel` below `root` and opens it with `flags`: with `openat2` where the kernel
/// has it, else one component at a time. `follow_last`: whether a last component that
/// is a symlink is followed (under the same rules) or opened as such (`O_NOFOLLOW`).
fn resolve(
    root: BorrowedFd<'_>,
    rel: &str,
    flags: OFlag,
    links: Links,
    follow_last: bool,
) -> Result<OwnedFd, Errno> {
    let flags = if follow_last {
        flags
    } else {
        flags | OFlag::O_NOFOLLOW
    };
    #[cfg(test)]
    if tests::WITHOUT_OPENAT2.with(std::cell::Cell::get) {
        return resolve_by_components(root, rel, flags, links);
    }
    match openat2(root, rel, flags, links) {
        Err(Errno::ENOSYS | Errno::EPERM | Errno::E2BIG) => {
            resolve_by_components(root, rel, flags, links)
        }
        other => other,
    }
}

/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, with `RESOLVE_NO_SYMLINKS` for
/// [`Links::Refuse`].
fn openat2(root: BorrowedFd<'_>, rel: &str, flags: OFlag, links: Links) -> Result<OwnedFd, Errno> {
    let path = CString::new(rel).map_err(|_| Errno::EINVAL)?;
    let mut resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    if links == Links::Refuse {
        resolve |= libc::RESOLVE_NO_SYMLINKS;
    }
    // SAFETY: open_how is plain data; zeroed is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags.bits() as u64;
    how.resolve = resolve;
    // SAFETY: the path and how pointers are live for the call and the size matches.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    let fd = Errno::result(fd)? as RawFd;
    // SAFETY: the kernel just returned this fd; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Most symlinks followed in one resolution (the kernel's own limit).
const MAX_LINK_HOPS: usize = 40;

/// The rules of [`openat2`], applied one component at a time: each directory is opened
/// with `O_NOFOLLOW` from the previous one, a symlink is refused ([`Links::Refuse`]) or
/// replaced by its target's components (an absolute target, or a `..` above `root`,
/// gives `EXDEV` as `RESOLVE_BENEATH` does).
fn resolve_by_components(
    root: BorrowedFd<'_>,
    rel: &str,
    flags: OFlag,
    links: Links,
) -> Result<OwnedFd, Errno> {
    let follow_last = !flags.contains(OFlag::O_NOFOLLOW);
    let mut pending: std::collections::VecDeque<OsString> =
        rel.split('/').map(OsString::from).collect();
    let mut stack: Vec<OwnedFd> = vec![duplicate(root).map_err(errno_of)?];
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        let last = pending.is_empty();
        if part.is_empty() || part == "." {
            if last {
                return reopen(&stack, flags);
            }
            continue;
        }
        if part == ".." {
            if stack.len() == 1 {
                return Err(Errno::EXDEV);
            }
            stack.pop();
            if last {
                return reopen(&stack, flags);
            }
            continue;
        }
        let current = stack.last().ok_or(Errno::EINVAL)?.as_fd();
        let stat = nix::sys::stat::fstatat(
            Some(current.as_raw_fd()),
            part.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        if kind(&stat) == SFlag::S_IFLNK && (!last || follow_last) {
            if links == Links::Refuse {
                return Err(Errno::ELOOP);
            }
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(Errno::ELOOP);
            }
            let target = nix::fcntl::readlinkat(Some(current.as_raw_fd()), part.as_os_str())?;
            if target.as_bytes().starts_with(b"/") {
                return Err(Errno::EXDEV);
            }
            for piece in target.as_bytes().split(|&b| b == b'/').rev() {
                pending.push_front(OsStr::from_bytes(piece).to_os_string());
            }
            continue;
        }
        if last {
            let fd = nix::fcntl::openat(
                Some(current.as_raw_fd()),
                part.as_os_str(),
                flags | OFlag::O_NOFOLLOW,
                Mode::empty(),
            )?;
            // SAFETY: the fd was just opened and is owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(
            Some(current.as_raw_fd()),
            part.as_os_str(),
            dir_flags,
            Mode::empty(),
        )?;
        // SAFETY: the fd was just opened and is owned by nobody else.
        stack.push(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    reopen(&stack, flags)
}

/// Opens the directory at the top of `stack` again with `flags`.
fn reopen(stack: &[OwnedFd], flags: OFlag) -> Result<OwnedFd, Errno> {
    let top = stack.last().ok_or(Errno::EINVAL)?;
    let fd = nix::fcntl::openat(Some(top.as_raw_fd()), ".", flags, Mode::empty())?;
    // SAFETY: the fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn errno_of(err: io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    thread_local! {
        /// Resolve as on a kernel without `openat2` (in this test thread only).
        pub(super) static WITHOUT_OPENAT2: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Runs `check` with `openat2`, then as on a kernel without it.
    fn with_and_without_openat2(check: impl Fn()) {
        check();
        WITHOUT_OPENAT2.with(|w| w.set(true));
        check();
        WITHOUT_OPENAT2.with(|w| w.set(false));
    }

    /// A project-like tree: `real/file`, links inside and out.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("real/sub")).unwrap();
        fs::write(root.join("real/file"), b"inside").unwrap();
        fs::write(root.join("real/sub/deep"), b"deep").unwrap();
        symlink("/etc", root.join("out")).unwrap();
        symlink("real", root.join("in")).unwrap();
        symlink("../..", root.join("real/up")).unwrap();
        symlink("file", root.join("real/alias")).unwrap();
        symlink("/etc/hostname", root.join("real/host")).unwrap();
        dir
    }

    fn read(file: File) -> String {
        let mut text = String::new();
        (&file).read_to_string(&mut text).unwrap();
        text
    }

    /// Both ways of resolving: openat2 and the component walk.
    fn both(
        root: BorrowedFd<'_>,
        rel: &str,
        links: Links,
        follow_last: bool,
    ) -> [Result<OwnedFd, Errno>; 2] {
        let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
        let flags = if follow_last {
            flags
        } else {
            flags | OFlag::O_NOFOLLOW
        };
        [
            resolve(root, rel, flags, links, follow_last),
            resolve_by_components(root, rel, flags, links),
        ]
    }

    #[test]
    fn no_link_is_crossed_when_links_are_refused() {
        let dir = tree();
        let root = open_root(dir.path()).unwrap();
        for rel in ["out/passwd", "in/file", "real/up/x"] {
            for result in both(root.as_fd(), rel, Links::Refuse, false) {
                assert_eq!(result.unwrap_err(), Errno::ELOOP, "{rel}");
            }
        }
        for result in both(root.as_fd(), "real/sub/deep", Links::Refuse, false) {
            assert!(result.is_ok());
        }
    }

    #[test]
    fn links_staying_inside_are_followed_and_others_refused() {
        let dir = tree();
        let root = open_root(dir.path()).unwrap();
        for rel in ["in/file", "in/sub/deep", "real/alias", "in/alias"] {
            for result in both(root.as_fd(), rel, Links::StayInside, true) {
                assert!(result.is_ok(), "{rel}: {result:?}");
            }
        }
        for rel in ["out/passwd", "real/up/x", "real/host", "in/up"] {
            for result in both(root.as_fd(), rel, Links::StayInside, true) {
                assert_eq!(result.unwrap_err(), Errno::EXDEV, "{rel}");
            }
        }
    }

    #[test]
    fn the_blocking_link_is_named() {
        with_and_without_openat2(|| {
            let dir = tree();
            let root = open_root(dir.path()).unwrap();
            let err = open_parent(root.as_fd(), "out/shadow", Links::Refuse).unwrap_err();
            assert_eq!(
                err.to_string(),
                "`out/shadow` goes through the symlink out -> /etc"
            );
            let err = open_file(root.as_fd(), "in/up/etc/passwd", Links::StayInside).unwrap_err();
            assert_eq!(
                err.to_string(),
                "`in/up/etc/passwd` goes through the symlink in/up -> ../.."
            );
            let err = open_file(root.as_fd(), "in/file", Links::Refuse).unwrap_err();
            assert_eq!(
                err.to_string(),
                "`in/file` goes through the symlink in -> real"
            );
        });
    }

    #[test]
    fn files_are_read_through_the_checked_handle() {
        with_and_without_openat2(|| {
            let dir = tree();
            let root = open_root(dir.path()).unwrap();
            assert_eq!(
                read(open_file(root.as_fd(), "real/file", Links::Refuse).unwrap()),
                "inside"
            );
            assert_eq!(
                read(open_file(root.as_fd(), "in/alias", Links::StayInside).unwrap()),
                "inside"
            );
            // A last component that is a link is never followed when links are refused.
            assert!(open_file(root.as_fd(), "real/alias", Links::Refuse).is_err());
            assert_eq!(
                read(open_regular(root.as_fd(), "real/file").unwrap()),
                "inside"
            );
            for refused in ["real/alias", "in/file", "real/up/real/file"] {
                assert!(open_regular(root.as_fd(), refused).is_err(), "{refused}");
            }
        });
    }

    #[test]
    fn a_fifo_is_never_opened() {
        with_and_without_openat2(|| {
            let dir = tree();
            let fifo = dir.path().join("real/fifo");
            nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o644)).unwrap();
            let root = open_root(dir.path()).unwrap();
            // Opening a FIFO for reading would block until a writer comes: these return.
            let err = open_file(root.as_fd(), "real/fifo", Links::StayInside).unwrap_err();
            assert!(err.to_string().contains("it is a FIFO"), "{err}");
            let err = open_regular(root.as_fd(), "real/fifo").unwrap_err();
            assert!(err.to_string().contains("it is a FIFO"), "{err}");
        });
    }

    #[test]
    fn missing_paths_and_odd_components_are_told_apart() {
        with_and_without_openat2(|| {
            let dir = tree();
            let root = open_root(dir.path()).unwrap();
            let err = open_file(root.as_fd(), "real/nope", Links::Refuse).unwrap_err();
            assert!(matches!(err, BeneathError::Missing(_)), "{err}");
            let err = open_file(root.as_fd(), "real/file/below", Links::Refuse).unwrap_err();
            assert!(matches!(err, BeneathError::Missing(_)), "{err}");
            for odd in ["", "a//b", "./a", "a/..", "/etc/passwd"] {
                assert!(matches!(
                    plain_components(odd),
                    Err(BeneathError::NotPlain(_))
                ));
            }
        });
    }

    #[test]
    fn lstat_beneath_does_not_look_through_links() {
        with_and_without_openat2(|| {
            let dir = tree();
            assert!(lstat_beneath(dir.path(), Path::new("real/file")).is_some());
            assert!(lstat_beneath(dir.path(), Path::new("out")).is_some());
            assert!(lstat_beneath(dir.path(), Path::new("out/passwd")).is_none());
            assert!(lstat_beneath(dir.path(), Path::new("in/file")).is_none());
        });
    }

    #[test]
    fn parents_are_made_but_never_through_a_link() {
        let dir = tree();
        let root = open_root(dir.path()).unwrap();
        let (parent, name) = make_parents(root.as_fd(), "new/dir/file").unwrap();
        create_file_at(parent.as_fd(), name, 0o644).unwrap();
        assert!(dir.path().join("new/dir/file").is_file());
        let err = make_parents(root.as_fd(), "out/x/file").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`out/x/file` goes through the symlink out -> /etc"
        );
        assert!(!Path::new("/etc/x").exists());
        let (parent, name) = make_parents(root.as_fd(), "real/link").unwrap();
        symlink_at("/etc/shadow", parent.as_fd(), name).unwrap();
        // An existing link is never written through.
        assert!(create_file_at(parent.as_fd(), name, 0o644).is_err());
    }

    #[test]
    fn absolute_links_are_resolved_inside_the_given_root() {
        let dir = tree();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/only-inside"), b"").unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        // `abs` is /etc of the given root, not the host's.
        assert!(exists_in_root(root, Path::new("abs/only-inside"), true));
        assert!(!exists_in_root(root, Path::new("abs/passwd"), true));
        assert!(exists_in_root(root, Path::new("real/file"), false));
        // A dangling last link exists as a link only.
        symlink("nowhere", root.join("dangling")).unwrap();
        assert!(exists_in_root(root, Path::new("dangling"), false));
        assert!(!exists_in_root(root, Path::new("dangling"), true));
    }
}
