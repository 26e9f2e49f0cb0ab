//! Directory handles that never follow a symbolic link.
//!
//! The store (`.reprobe/`) and the scratch directory of work directories live where
//! others can plant things: a project may commit `.reprobe/tmp -> /`, and any local user
//! can create `/dev/shm/NAME`. Acting on such a place by path (`remove_dir_all`, a
//! recursive chmod) acts wherever the link points. A [`Dir`] is an open directory (an
//! fd, `O_DIRECTORY|O_NOFOLLOW`), and every operation below it is relative to that fd
//! (`openat`, `mkdirat`, `unlinkat`, `renameat`, `fchmod`), so nothing below a handle is
//! ever reached through a link: a link where a directory is expected is an error, and a
//! link inside a tree being removed is removed itself, never followed.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// How deep [`Dir::remove_all_at`] descends (one fd is held per level).
const MAX_REMOVE_DEPTH: usize = 2048;

/// What an entry of a directory is, from `lstat` (a link is never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character or block device.
    Device,
}

impl Kind {
    fn of_mode(mode: libc::mode_t) -> Kind {
        match mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            libc::S_IFIFO => Kind::Fifo,
            libc::S_IFSOCK => Kind::Socket,
            _ => Kind::Device,
        }
    }

    /// "a directory", "a FIFO"...: for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Dir => "a directory",
            Kind::Symlink => "a symbolic link",
            Kind::Fifo => "a FIFO (named pipe)",
            Kind::Socket => "a socket",
            Kind::Device => "a device node",
        }
    }
}

/// What reprobe checks of an entry before it acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Its type.
    pub kind: Kind,
    /// Its owner.
    pub uid: u32,
    /// Its permission bits (`0o7777`).
    pub mode: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Its last modification.
    pub modified: SystemTime,
    dev: u64,
    ino: u64,
}

impl Meta {
    fn of(stat: &libc::stat) -> Meta {
        let modified = if stat.st_mtime >= 0 {
            SystemTime::UNIX_EPOCH
                + Duration::new(
                    stat.st_mtime as u64,
                    stat.st_mtime_nsec.clamp(0, 999_999_999) as u32,
                )
        } else {
            SystemTime::UNIX_EPOCH
        };
        Meta {
            kind: Kind::of_mode(stat.st_mode),
            uid: stat.st_uid,
            mode: stat.st_mode & 0o7777,
            size: stat.st_size.max(0) as u64,
            modified,
            dev: stat.st_dev,
            ino: stat.st_ino,
        }
    }

    /// Whether both describe the same file (device and inode): the check that what is
    /// about to be removed is what was looked at.
    pub fn same_file(&self, other: &Meta) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// Why a directory could not be opened as one reprobe may act in.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// A symbolic link where a directory was expected.
    #[error("{path} is a symbolic link")]
    Link {
        /// The link.
        path: PathBuf,
    },
    /// Something else than a directory.
    #[error("{path} is {kind}, not a directory")]
    NotADirectory {
        /// The entry.
        path: PathBuf,
        /// What it is, for people.
        kind: &'static str,
    },
    /// A directory of another user.
    #[error("{path} belongs to uid {owner}, not to uid {me} running reprobe")]
    NotOwned {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        me: u32,
    },
    /// Any other failure.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
}

impl DirError {
    /// The path concerned.
    pub fn path(&self) -> &Path {
        match self {
            DirError::Link { path }
            | DirError::NotADirectory { path, .. }
            | DirError::NotOwned { path, .. }
            | DirError::Io { path, .. } => path,
        }
    }

    /// True when nothing exists at the path.
    pub fn is_not_found(&self) -> bool {
        matches!(self, DirError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// The effective uid of this process: the owner reprobe expects of its directories.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// An open directory; every operation is relative to it and never follows a link.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// What [`Dir::open_file_at`] found.
#[derive(Debug)]
pub enum Opened {
    /// A regular file, opened for reading (blocking reads), and its metadata.
    File(File, Meta),
    /// Nothing of that name.
    Missing,
    /// Something that is not a regular file (a directory, a FIFO, a link...): not opened.
    Other(Meta),
}

fn cstring(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn fstat_fd(fd: RawFd) -> io::Result<Meta> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes into the buffer on success.
    check(unsafe { libc::fstat(fd, stat.as_mut_ptr()) })?;
    // SAFETY: initialized by the successful call.
    Ok(Meta::of(unsafe { &stat.assume_init() }))
}

const DIR_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;

impl Dir {
    /// Opens the directory at `path`. With `follow_last`, a link as the last component is
    /// followed (once, here); without, it is an error ([`DirError::Link`]). Earlier
    /// components are resolved as usual: they are the caller's choice of location.
    pub fn open(path: &Path, follow_last: bool) -> Result<Dir, DirError> {
        let c = cstring(path.as_os_str()).map_err(|source| DirError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let flags = DIR_FLAGS | if follow_last { 0 } else { libc::O_NOFOLLOW };
        // SAFETY: open with a valid C string.
        let rc = unsafe { libc::open(c.as_ptr(), flags) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return Err(classify_open_error(path, err, || {
                std::fs::symlink_metadata(path).ok().map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    Kind::of_mode(m.mode())
                })
            }));
        }
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(rc) };
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The same handle, named `path` in messages (its real path, say).
    pub fn with_path(self, path: PathBuf) -> Dir {
        Dir { fd: self.fd, path }
    }

    /// The path this handle was opened at (for messages; never used to act).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the directory really is now (`/proc/self/fd`), else its canonical path, else
    /// the path it was opened at.
    pub fn real_path(&self) -> PathBuf {
        std::fs::read_link(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
            .or_else(|_| std::fs::canonicalize(&self.path))
            .unwrap_or_else(|_| self.path.clone())
    }

    /// The raw fd (valid while `self` lives).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Another handle on the same directory.
    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir {
            fd: self.fd.try_clone()?,
            path: self.path.clone(),
        })
    }

    /// The directory's own metadata.
    pub fn meta(&self) -> io::Result<Meta> {
        fstat_fd(self.fd.as_raw_fd())
    }

    /// Fails unless the directory belongs to the effective uid.
    pub fn check_owner(&self) -> Result<(), DirError> {
        let meta = self.meta().map_err(|source| DirError::Io {
            path: self.path.clone(),
            source,
        })?;
        let me = euid();
        if meta.uid != me {
            return Err(DirError::NotOwned {
                path: self.path.clone(),
                owner: meta.uid,
                me,
            });
        }
        Ok(())
    }

    /// Sets the directory's permission bits (`fchmod`: on this directory, never a link).
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        // SAFETY: fchmod on a live fd.
        check(unsafe { libc::fchmod(self.fd.as_raw_fd(), mode as libc::mode_t) }).map(|_| ())
    }

    /// The metadata of entry `name` (`lstat`), `None` when there is none.
    pub fn meta_at(&self, name: &OsStr) -> io::Result<Option<Meta>> {
        let c = cstring(name)?;
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstatat on a live fd with a valid C string, writing into the buffer.
        let rc = unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                stat.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        match check(rc) {
            // SAFETY: initialized by the successful call.
            Ok(_) => Ok(Some(Meta::of(unsafe { &stat.assume_init() }))),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Opens the sub-directory `name` (`O_NOFOLLOW`): a link there is [`DirError::Link`].
    pub fn open_dir_at(&self, name: &OsStr) -> Result<Dir, DirError> {
        let path = self.path.join(name);
        let c = cstring(name).map_err(|source| DirError::Io {
            path: path.clone(),
            source,
        })?;
        // SAFETY: openat on a live fd with a valid C string.
        let rc = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                DIR_FLAGS | libc::O_NOFOLLOW,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return Err(classify_open_error(&path, err, || {
                self.meta_at(name).ok().flatten().map(|m| m.kind)
            }));
        }
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(rc) };
        Ok(Dir { fd, path })
    }

    /// Opens the sub-directory `name`, creating it (with `mode`, less the umask) if it
    /// does not exist, and checks that it belongs to the effective uid.
    pub fn ensure_dir_at(&self, name: &OsStr, mode: u32) -> Result<Dir, DirError> {
        match self.mkdir_at(name, mode) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(DirError::Io {
                    path: self.path.join(name),
                    source,
                })
            }
        }
        let dir = self.open_dir_at(name)?;
        dir.check_owner()?;
        Ok(dir)
    }

    /// Creates the directory `name` (`mkdirat`); fails if anything exists there.
    pub fn mkdir_at(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        let c = cstring(name)?;
        // SAFETY: mkdirat on a live fd with a valid C string.
        check(unsafe { libc::mkdirat(self.fd.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) })
            .map(|_| ())
    }

    /// Creates a fresh directory `PREFIX-RANDOM` with `mode` and opens it: the
    /// `mkdtemp` of a handle.
    pub fn create_unique_dir(&self, prefix: &str, mode: u32) -> Result<Dir, DirError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        for _ in 0..100 {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id());
            match self.mkdir_at(OsStr::new(&name), mode) {
                Ok(()) => {
                    let dir = self.open_dir_at(OsStr::new(&name))?;
                    dir.check_owner()?;
                    // The umask may have taken bits away; set exactly what was asked.
                    dir.set_mode(mode).map_err(|source| DirError::Io {
                        path: dir.path.clone(),
                        source,
                    })?;
                    return Ok(dir);
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => {
                    return Err(DirError::Io {
                        path: self.path.join(name),
                        source,
                    })
                }
            }
        }
        Err(DirError::Io {
            path: self.path.join(format!("{prefix}-...")),
            source: io::Error::from(io::ErrorKind::AlreadyExists),
        })
    }

    /// Opens `name` with raw `open(2)` flags, never following a link (`O_NOFOLLOW` and
    /// `O_CLOEXEC` are always added).
    pub fn open_at(&self, name: &OsStr, flags: libc::c_int, mode: u32) -> io::Result<File> {
        let c = cstring(name)?;
        // SAFETY: openat on a live fd with a valid C string.
        let rc = check(unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        })?;
        // SAFETY: a fresh fd we own.
        Ok(unsafe { File::from_raw_fd(rc) })
    }

    /// Creates the new file `name` (`O_EXCL`: never an existing file, never a link) for
    /// writing.
    pub fn create_file_at(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        self.open_at(name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, mode)
    }

    /// Opens `name` for reading if it is a regular file. Nothing else is opened: a FIFO
    /// or a device is never opened at all, a link is never followed, so this never
    /// blocks and never reads through a link.
    pub fn open_file_at(&self, name: &OsStr) -> io::Result<Opened> {
        let Some(before) = self.meta_at(name)? else {
            return Ok(Opened::Missing);
        };
        if before.kind != Kind::File {
            return Ok(Opened::Other(before));
        }
        let file = match self.open_at(name, libc::O_RDONLY | libc::O_NONBLOCK, 0) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Opened::Missing),
            // ELOOP: replaced by a link since the lstat above.
            Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
                return Ok(self.meta_at(name)?.map_or(Opened::Missing, Opened::Other))
            }
            Err(err) => return Err(err),
        };
        let meta = fstat_fd(file.as_raw_fd())?;
        if meta.kind != Kind::File {
            return Ok(Opened::Other(meta));
        }
        clear_nonblock(&file)?;
        Ok(Opened::File(file, meta))
    }

    /// Renames `from` in this directory to `to` in `dest` (`renameat`; replaces a file).
    pub fn rename_at(&self, from: &OsStr, dest: &Dir, to: &OsStr) -> io::Result<()> {
        let (a, b) = (cstring(from)?, cstring(to)?);
        // SAFETY: renameat on live fds with valid C strings.
        check(unsafe {
            libc::renameat(
                self.fd.as_raw_fd(),
                a.as_ptr(),
                dest.fd.as_raw_fd(),
                b.as_ptr(),
            )
        })
        .map(|_| ())
    }

    /// Like [`Dir::rename_at`], but fails (`AlreadyExists`) rather than replace anything.
    pub fn rename_noreplace_at(&self, from: &OsStr, dest: &Dir, to: &OsStr) -> io::Result<()> {
        let (a, b) = (cstring(from)?, cstring(to)?);
        // SAFETY: renameat2 on live fds with valid C strings.
        check(unsafe {
            libc::renameat2(
                self.fd.as_raw_fd(),
                a.as_ptr(),
                dest.fd.as_raw_fd(),
                b.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        })
        .map(|_| ())
    }

    /// Removes the non-directory `name` (a link is removed, never followed).
    pub fn unlink_at(&self, name: &OsStr) -> io::Result<()> {
        let c = cstring(name)?;
        // SAFETY: unlinkat on a live fd with a valid C string.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), 0) }).map(|_| ())
    }

    /// Removes the empty directory `name`.
    pub fn rmdir_at(&self, name: &OsStr) -> io::Result<()> {
        let c = cstring(name)?;
        // SAFETY: unlinkat on a live fd with a valid C string.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) })
            .map(|_| ())
    }

    /// Sets the mtime (and atime) of `name` to now, without following a link.
    pub fn touch_at(&self, name: &OsStr) -> io::Result<()> {
        let c = cstring(name)?;
        // SAFETY: utimensat on a live fd with a valid C string; null times mean "now".
        check(unsafe {
            libc::utimensat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                std::ptr::null(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .map(|_| ())
    }

    /// The names in the directory (without `.` and `..`).
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        // A second open description, so that listing never moves this handle's offset.
        let dot = self.open_at(OsStr::new("."), DIR_FLAGS, 0)?;
        let mut dir = nix::dir::Dir::from(OwnedFd::from(dot)).map_err(io::Error::from)?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(io::Error::from)?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_os_string());
            }
        }
        Ok(names)
    }

    /// Removes `name` whatever it is: a file or link is unlinked, a directory is emptied
    /// by handle (each sub-directory opened `O_NOFOLLOW` from its parent, made writable
    /// with `fchmod` when a step left it read-only) and removed. Nothing is followed.
    pub fn remove_all_at(&self, name: &OsStr) -> io::Result<()> {
        self.remove_all_at_depth(name, 0)
    }

    fn remove_all_at_depth(&self, name: &OsStr, depth: usize) -> io::Result<()> {
        match self.unlink_at(name) {
            Ok(()) => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            // EISDIR (Linux), EPERM (POSIX): a directory; anything else is reported.
            Err(err) if matches!(err.raw_os_error(), Some(libc::EISDIR | libc::EPERM)) => {}
            Err(err) => return Err(err),
        }
        if depth >= MAX_REMOVE_DEPTH {
            return Err(io::Error::other(format!(
                "{}: more than {MAX_REMOVE_DEPTH} nested directories",
                self.path.join(name).display()
            )));
        }
        let sub = match self.open_dir_at(name) {
            Ok(sub) => sub,
            Err(err) if err.is_not_found() => return Ok(()),
            Err(DirError::Io { source, .. }) => return Err(source),
            Err(other) => return Err(io::Error::other(other.to_string())),
        };
        sub.make_writable()?;
        for entry in sub.names()? {
            sub.remove_all_at_depth(&entry, depth + 1)?;
        }
        drop(sub);
        match self.rmdir_at(name) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    /// Gives the owner write and search permission on this directory (`fchmod`), when
    /// it is ours and lacks them: a step may leave read-only directories.
    pub fn make_writable(&self) -> io::Result<()> {
        let meta = self.meta()?;
        if meta.uid == euid() && meta.mode & 0o700 != 0o700 {
            self.set_mode(meta.mode | 0o700)?;
        }
        Ok(())
    }
}

/// Removes the tree at `path`, which must be a directory of the effective uid (or a
/// file): its parent is opened, `path`'s last component is never followed, and the tree
/// is removed by handle ([`Dir::remove_all_at`]). Nothing at `path` is fine.
pub fn remove_own_tree(path: &Path) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let dir = Dir::open(parent, true).map_err(|e| match e {
        DirError::Io { source, .. } => source,
        other => io::Error::other(other.to_string()),
    })?;
    match dir.meta_at(name)? {
        None => Ok(()),
        Some(meta) if meta.kind == Kind::Dir && meta.uid != euid() => Err(io::Error::other(
            format!("{}: not a directory of ours; left alone", path.display()),
        )),
        Some(_) => dir.remove_all_at(name),
    }
}

/// Turns a failed `open(O_DIRECTORY|O_NOFOLLOW)` into what is there instead.
fn classify_open_error(
    path: &Path,
    err: io::Error,
    kind_of: impl FnOnce() -> Option<Kind>,
) -> DirError {
    if matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) {
        match kind_of() {
            Some(Kind::Symlink) => {
                return DirError::Link {
                    path: path.to_path_buf(),
                }
            }
            Some(kind) if kind != Kind::Dir => {
                return DirError::NotADirectory {
                    path: path.to_path_buf(),
                    kind: kind.describe(),
                }
            }
            _ => {}
        }
    }
    DirError::Io {
        path: path.to_path_buf(),
        source: err,
    }
}

/// Turns `O_NONBLOCK` off again (it was only there so that opening cannot block).
fn clear_nonblock(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a live fd.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) }).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_link_where_a_directory_belongs_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        fs::create_dir(&victim).unwrap();
        std::os::unix::fs::symlink(&victim, t.path().join("link")).unwrap();
        let top = Dir::open(t.path(), false).unwrap();
        let err = top.open_dir_at(OsStr::new("link")).unwrap_err();
        assert!(matches!(err, DirError::Link { .. }), "{err}");
        let err = Dir::open(&t.path().join("link"), false).unwrap_err();
        assert!(matches!(err, DirError::Link { .. }), "{err}");
        assert!(Dir::open(&t.path().join("link"), true).is_ok());
    }

    #[test]
    fn removing_a_tree_removes_links_and_never_what_they_point_at() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        fs::create_dir(&victim).unwrap();
        fs::write(victim.join("keep"), b"x").unwrap();
        let tree = t.path().join("tree");
        fs::create_dir_all(tree.join("a/b")).unwrap();
        fs::write(tree.join("a/b/f"), b"y").unwrap();
        std::os::unix::fs::symlink(&victim, tree.join("a/link")).unwrap();
        fs::set_permissions(tree.join("a/b"), fs::Permissions::from_mode(0o500)).unwrap();
        fs::set_permissions(tree.join("a"), fs::Permissions::from_mode(0o500)).unwrap();
        let top = Dir::open(t.path(), false).unwrap();
        top.remove_all_at(OsStr::new("tree")).unwrap();
        assert!(!tree.exists());
        assert!(victim.join("keep").is_file());
    }

    #[test]
    fn a_fifo_is_never_opened() {
        let t = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&t.path().join("p"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let top = Dir::open(t.path(), false).unwrap();
        match top.open_file_at(OsStr::new("p")).unwrap() {
            Opened::Other(meta) => assert_eq!(meta.kind, Kind::Fifo),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unique_directories_get_exactly_the_asked_mode() {
        let t = tempfile::tempdir().unwrap();
        let top = Dir::open(t.path(), false).unwrap();
        let dir = top.create_unique_dir("x", 0o700).unwrap();
        assert_eq!(dir.meta().unwrap().mode, 0o700);
        assert_eq!(dir.meta().unwrap().kind, Kind::Dir);
    }
}
