//! Which programs a step executes that the clock shim cannot reach.
//!
//! `check` pushes a step's clock with a preloaded shim ([`crate::sandbox::clock`]), which only a
//! dynamically linked program loads. When the clock is varied, the step's seccomp filter
//! also notifies `execve` and `execveat`; the supervisor opens the program the call names
//! (resolved inside the step's root) and records it when it is a statically linked ELF
//! file: for that step the clock variation may not have applied, and `check` says so
//! instead of passing it silently. Scripts are judged by nothing: their interpreter is
//! executed (and checked) in turn.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// `execveat`'s flag: the program is the file descriptor itself.
const AT_EMPTY_PATH: u64 = 0x1000;
/// `dirfd` meaning the current directory.
const AT_FDCWD: i64 = -100;

/// The program an `execve(path, ...)` or `execveat(dirfd, path, ..., flags)` names, as a
/// path inside the step's root (absolute), with its file opened; `None` when it cannot be
/// read (the call then fails by itself, or the process is gone).
pub(super) fn exec_target(
    pid: i32,
    is_execveat: bool,
    args: &[u64; 6],
    read_path: impl Fn(u64) -> io::Result<Vec<u8>>,
) -> Option<(PathBuf, File)> {
    let (dirfd, path_arg, flags) = if is_execveat {
        (args[0] as i32 as i64, args[1], args[4])
    } else {
        (AT_FDCWD, args[0], 0)
    };
    let raw: Vec<u8> = read_path(path_arg).ok()?;
    let path =
        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(raw));
    if path.as_os_str().is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return None;
        }
        let fd = format!("/proc/{pid}/fd/{dirfd}");
        let shown = std::fs::read_link(&fd).ok()?;
        return Some((shown, File::open(fd).ok()?));
    }
    let absolute = if path.is_absolute() {
        path
    } else {
        let base = match dirfd {
            AT_FDCWD => format!("/proc/{pid}/cwd"),
            fd => format!("/proc/{pid}/fd/{fd}"),
        };
        std::fs::read_link(base).ok()?.join(path)
    };
    let file = open_in_root(pid, &absolute).ok()?;
    Some((absolute, file))
}

/// Opens `path` (absolute, as the step sees it) inside process `pid`'s root: symlinks,
/// absolute ones included, resolve there and never on the host (`RESOLVE_IN_ROOT`).
fn open_in_root(pid: i32, path: &Path) -> io::Result<File> {
    let root = File::open(format!("/proc/{pid}/root"))?;
    let relative = path.strip_prefix("/").unwrap_or(path);
    let name = CString::new(relative.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: open_how is plain data; all zeroes is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT;
    // SAFETY: the path is NUL-terminated, `how` is a valid open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            std::os::fd::AsRawFd::as_raw_fd(&root),
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    Ok(file)
}

/// Whether `file` is an ELF executable without a program interpreter (`PT_INTERP`):
/// statically linked, so no preloaded library reaches it.
pub(super) fn is_static_elf(file: &mut File) -> bool {
    let mut header = [0u8; 64];
    if file.read_exact(&mut header).is_err() || &header[..4] != b"\x7fELF" {
        return false;
    }
    let wide = header[4] == 2;
    let little = header[5] == 1;
    let num = |bytes: &[u8]| -> u64 {
        let mut value = 0u64;
        for (i, &b) in bytes.iter().enumerate() {
            let shift = if little { i } else { bytes.len() - 1 - i };
            value |= u64::from(b) << (8 * shift);
        }
        value
    };
    let (phoff, phentsize, phnum) = if wide {
        (
            num(&header[32..40]),
            num(&header[54..56]),
            num(&header[56..58]),
        )
    } else {
        (
            num(&header[28..32]),
            num(&header[42..44]),
            num(&header[44..46]),
        )
    };
    if phentsize < 4 || phnum == 0 || phnum > 4096 {
        return false;
    }
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    if std::os::unix::fs::FileExt::read_exact_at(file, &mut table, phoff).is_err() {
        return false;
    }
    const PT_INTERP: u64 = 3;
    !table
        .chunks_exact(phentsize as usize)
        .any(|entry| num(&entry[..4]) == PT_INTERP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_programs_are_not_static() {
        let mut sh = File::open("/bin/sh").unwrap();
        assert!(!is_static_elf(&mut sh));
    }

    #[test]
    fn a_statically_linked_program_is_static() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("s.c");
        std::fs::write(&source, "int main(void) { return 0; }\n").unwrap();
        let program = dir.path().join("s");
        let built = std::process::Command::new("cc")
            .arg("-static")
            .arg("-o")
            .arg(&program)
            .arg(&source)
            .status()
            .unwrap();
        assert!(built.success());
        assert!(is_static_elf(&mut File::open(&program).unwrap()));
    }

    #[test]
    fn scripts_and_short_files_are_not_static() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [("script", &b"#!/bin/sh\necho\n"[..]), ("short", b"\x7fELF")] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            assert!(!is_static_elf(&mut File::open(&path).unwrap()), "{name}");
        }
    }

    #[test]
    fn the_target_of_an_execve_is_resolved_in_the_process_root() {
        let me = std::process::id() as i32;
        let path = b"/bin/sh".to_vec();
        let (shown, _) = exec_target(me, false, &[0; 6], |_| Ok(path.clone())).unwrap();
        assert_eq!(shown, Path::new("/bin/sh"));
        let relative = b"sh".to_vec();
        let here = std::env::current_dir().unwrap();
        // A relative name resolves against the process's cwd.
        assert!(exec_target(me, false, &[0; 6], |_| Ok(relative.clone()))
            .is_none_or(|(p, _)| p == here.join("sh")));
    }
}
