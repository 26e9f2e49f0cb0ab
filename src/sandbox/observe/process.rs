//! What the supervisor reads of a step's process: its memory (`process_vm_readv(2)`:
//! the paths and addresses a call points to) and its `/proc` entries (command line,
//! pids, the directory a relative path starts from).

use std::fs;
use std::io;
use std::path::PathBuf;

/// Longest path or payload read from a step's memory.
const MAX_READ: usize = 4096;

/// Page size used to split reads that may end at unmapped memory.
const PAGE: u64 = 4096;

/// Reads `len` bytes at `addr` of process `pid` (fewer if memory ends first).
pub(crate) fn read_mem(pid: i32, addr: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut done = 0usize;
    while done < len {
        let at = addr + done as u64;
        let chunk = ((PAGE - at % PAGE) as usize).min(len - done);
        let n = vm_read(pid, at, &mut buf[done..done + chunk])?;
        if n == 0 {
            break;
        }
        done += n;
        if n < chunk {
            break;
        }
    }
    buf.truncate(done);
    Ok(buf)
}

/// Reads a NUL-terminated string of at most [`MAX_READ`] bytes.
pub(crate) fn read_c_string(pid: i32, addr: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < MAX_READ {
        let chunk = (PAGE - at % PAGE) as usize;
        let mut buf = vec![0u8; chunk.min(MAX_READ - out.len())];
        let n = vm_read(pid, at, &mut buf)?;
        if let Some(end) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..end]);
            return Ok(out);
        }
        if n < buf.len() || n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        at += n as u64;
    }
    Err(io::Error::other("unterminated string"))
}

/// One `process_vm_readv(2)`.
fn vm_read(pid: i32, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: local describes a live buffer; remote is only read by the kernel.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// The command line of a process (empty when it is gone).
pub(crate) fn command_line(pid: i32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A field of `/proc/PID/status`, as its last whitespace-separated number.
fn status_field(pid: i32, field: &str) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().last()?.parse().ok()
}

/// The pid as the step sees it (the innermost of `NSpid`).
pub(crate) fn sandbox_pid(pid: i32) -> Option<i32> {
    status_field(pid, "NSpid:")
}

/// The process (thread group) a thread belongs to.
pub(crate) fn thread_group(pid: i32) -> i32 {
    status_field(pid, "Tgid:").unwrap_or(pid)
}

/// The directory a relative path of the call is resolved against, as the step sees it.
pub(crate) fn base_dir(pid: i32, dirfd: i32) -> Option<PathBuf> {
    let link = if dirfd == libc::AT_FDCWD {
        format!("/proc/{pid}/cwd")
    } else {
        format!("/proc/{pid}/fd/{dirfd}")
    };
    fs::read_link(link).ok().filter(|p| p.is_absolute())
}
