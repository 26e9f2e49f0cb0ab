//! The last steps inside the sandbox: become the build user, install the seccomp filter
//! (when the step is observed) and exec the step with exactly its declared environment.

use std::convert::Infallible;
use std::ffi::CString;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use libc::{sock_filter, sock_fprog};
use nix::errno::Errno;
use nix::sched::{sched_getaffinity, sched_setaffinity, unshare, CloneFlags, CpuSet};
use nix::sys::prctl;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{execve, setgroups, setresgid, setresuid, setsid, Gid, Pid, Uid};

use super::failure::SetupFailure;
use super::ids::IdMode;
use super::rlimits;
use crate::sandbox::observe::seccomp_filter::{self, FilterSet};
use crate::sandbox::spec::SandboxSpec;

/// The search path `execvp` uses when the environment has no `PATH`.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Exit code of a step whose program was not found (as a shell reports it).
pub(crate) const EXIT_NOT_FOUND: i32 = 127;

/// Exit code of a step whose program was found but could not be executed.
pub(crate) const EXIT_CANNOT_EXECUTE: i32 = 126;

/// The paths to try, in order, for `program` with search path `path` (execvp's rules:
/// a name with a slash is used as is; an empty `PATH` entry means the current directory).
pub(crate) fn exec_candidates(program: &str, path: Option<&str>) -> Vec<PathBuf> {
    if program.contains('/') {
        return vec![PathBuf::from(program)];
    }
    path.unwrap_or(DEFAULT_PATH)
        .split(':')
        .map(|dir| {
            let dir = if dir.is_empty() { "." } else { dir };
            Path::new(dir).join(program)
        })
        .collect()
}

/// In the step process (forked by init, already in the new root and work directory):
/// detaches from the terminal, applies umask and CPU affinity, drops to the build user
/// and execs, observed through `handover` when it is given. Returns only if preparing
/// failed; a program that cannot be executed ends the process with 127/126 and a message
/// on the step's stderr, as a shell would.
pub(crate) fn exec_step(
    spec: &SandboxSpec,
    ids: IdMode,
    handover: Option<RawFd>,
) -> Result<Infallible, SetupFailure> {
    setsid().map_err(SetupFailure::errno("setsid in", "the step process"))?;
    umask(Mode::from_bits_truncate(spec.umask));
    if let Some(cpus) = spec.cpus {
        restrict_cpus(cpus)?;
    }
    become_build_user(spec, ids)?;
    if spec.user.uid == 0 {
        lock_mounts()?;
    }
    rlimits::apply_rlimits(&spec.limits)?;
    prctl::set_no_new_privs().map_err(SetupFailure::errno("set", "PR_SET_NO_NEW_PRIVS"))?;
    prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(SetupFailure::errno("set", "PR_SET_PDEATHSIG"))?;
    let argv = c_strings(spec.argv.iter().map(String::as_str))?;
    let env = c_strings(spec.env.iter().map(|(k, v)| format!("{k}={v}")))?;
    let path = spec.env.get("PATH").map(String::as_str);
    let candidates = exec_candidates(&spec.argv[0], path);
    let set = FilterSet::for_step(&spec.observation, spec.network);
    if let (Some(set), Some(handover)) = (set, handover) {
        install_observer(set, handover)?;
    }
    let errno = exec_first(&candidates, &argv, &env);
    let _ = writeln!(
        std::io::stderr(),
        "reprobe sandbox: cannot execute `{}`: {}",
        spec.argv[0],
        std::io::Error::from(errno)
    );
    let code = match errno {
        Errno::ENOENT | Errno::ENOTDIR => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_EXECUTE,
    };
    // SAFETY: _exit never returns; nothing needs flushing (stderr is unbuffered).
    unsafe { libc::_exit(code) }
}

/// Gives the step the signal state of a fresh process: nothing blocked, every disposition
/// the default. An ignored signal survives exec, and reprobe (a Rust program) ignores
/// SIGPIPE: without this, `yes | head -1` in a step would see EPIPE instead of dying.
pub(crate) fn reset_signals() -> Result<(), SetupFailure> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).map_err(
        SetupFailure::errno("clear the signal mask of", "the step process"),
    )?;
    /// The kernel's `struct sigaction` (glibc's wrapper refuses signals 32 and 33).
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a live, correctly laid out struct and a null old
        // action; the default disposition runs no code of ours.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
        Errno::result(rc).map_err(SetupFailure::errno(
            "reset the disposition of signal",
            signal,
        ))?;
    }
    Ok(())
}

/// Installs the seccomp filter and hands its listener to the helper's supervisor: writes
/// the fd number (`write`, which the filter lets through) and waits for the helper to
/// have copied it. The step never runs unobserved: a missing acknowledgement is an error.
fn install_observer(set: FilterSet, handover: RawFd) -> Result<(), SetupFailure> {
    // The id change made this process non-dumpable; the supervisor needs to copy its fd.
    prctl::set_dumpable(true).map_err(SetupFailure::errno("set", "PR_SET_DUMPABLE"))?;
    let listener = install_filter(&seccomp_filter::filter_program(set))
        .map_err(SetupFailure::io("install", "the seccomp filter"))?;
    let number = listener.as_raw_fd().to_ne_bytes();
    // SAFETY: handover is the open hand-over socket; the buffers are live.
    let sent = unsafe { libc::write(handover, number.as_ptr().cast(), number.len()) };
    if sent != number.len() as isize {
        let err = std::io::Error::last_os_error();
        return Err(SetupFailure::io("hand over", "the seccomp listener")(err));
    }
    let mut ack = [0u8; 1];
    // SAFETY: reading into a live one-byte buffer.
    let got = unsafe { libc::read(handover, ack.as_mut_ptr().cast(), 1) };
    if got != 1 {
        let why = "the supervisor did not take the seccomp listener";
        return Err(SetupFailure::new("hand over", "the seccomp listener", why));
    }
    drop(listener);
    // SAFETY: the socket is ours and no longer needed (it is close-on-exec anyway).
    unsafe { libc::close(handover) };
    Ok(())
}

/// Installs `prog` on the calling thread and returns the notification listener.
/// `PR_SET_NO_NEW_PRIVS` must be set already.
fn install_filter(prog: &[sock_filter]) -> io::Result<OwnedFd> {
    let fprog = sock_fprog {
        len: u16::try_from(prog.len()).map_err(|_| io::Error::other("filter too long"))?,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: fprog points to a live program for the duration of the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const sock_fprog,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::other("listener fd out of range"))?;
    // SAFETY: the kernel just returned this fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Tries each candidate like execvp: a missing one moves on, a permission error is
/// remembered, anything else stops. Returns the errno to report.
fn exec_first(candidates: &[PathBuf], argv: &[CString], env: &[CString]) -> Errno {
    let mut result = Errno::ENOENT;
    for candidate in candidates {
        let Ok(file) = CString::new(candidate.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        match execve(&file, argv, env) {
            Err(Errno::ENOENT | Errno::ENOTDIR) => {}
            Err(Errno::EACCES) => result = Errno::EACCES,
            Err(errno) => return errno,
            Ok(never) => match never {},
        }
    }
    result
}

/// Converts strings for execve; the spec was checked for NUL bytes already.
fn c_strings<S: Into<Vec<u8>>>(
    items: impl Iterator<Item = S>,
) -> Result<Vec<CString>, SetupFailure> {
    items
        .map(|s| {
            CString::new(s).map_err(|_| {
                SetupFailure::new(
                    "prepare the argv/env of",
                    "the step",
                    "NUL byte in a string",
                )
            })
        })
        .collect()
}

/// Restricts the CPU affinity to the first `cpus` cores this process may use.
fn restrict_cpus(cpus: usize) -> Result<(), SetupFailure> {
    let fail = SetupFailure::errno;
    let allowed = sched_getaffinity(Pid::from_raw(0)).map_err(fail("get", "CPU affinity"))?;
    let mut chosen = CpuSet::new();
    let mut count = 0;
    for cpu in 0..CpuSet::count() {
        if count < cpus && allowed.is_set(cpu).unwrap_or(false) {
            chosen.set(cpu).map_err(fail("choose", "CPU"))?;
            count += 1;
        }
    }
    sched_setaffinity(Pid::from_raw(0), &chosen).map_err(fail("set", "CPU affinity"))
}

/// Switches every id to the build user; this clears all capabilities on exec.
fn become_build_user(spec: &SandboxSpec, ids: IdMode) -> Result<(), SetupFailure> {
    let fail = SetupFailure::errno;
    let (uid, gid) = (Uid::from_raw(spec.user.uid), Gid::from_raw(spec.user.gid));
    if let IdMode::Shifted { .. } = ids {
        setgroups(&[gid]).map_err(fail("setgroups to", "the build group"))?;
    }
    setresgid(gid, gid, gid).map_err(fail("setresgid to", "the build group"))?;
    setresuid(uid, uid, uid).map_err(fail("setresuid to", "the build user"))
}

/// For a build user with uid 0 (who keeps capabilities in the sandbox's user namespace):
/// enters a nested user and mount namespace, where every mount is locked, so the step
/// can neither unmount what hides host directories nor make read-only mounts writable.
/// Its id maps map only its own ids, which an unprivileged process may write itself.
fn lock_mounts() -> Result<(), SetupFailure> {
    // Init's id change made this process non-dumpable, which gives its /proc/self files
    // to the host's root; exec would make it dumpable again anyway.
    prctl::set_dumpable(true).map_err(SetupFailure::errno("set", "PR_SET_DUMPABLE"))?;
    let flags = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS;
    unshare(flags).map_err(SetupFailure::errno("unshare", "a nested user namespace"))?;
    let writes = [
        ("setgroups", "deny"),
        ("uid_map", "0 0 1\n"),
        ("gid_map", "0 0 1\n"),
    ];
    for (file, text) in writes {
        let path = format!("/proc/self/{file}");
        std::fs::write(&path, text).map_err(SetupFailure::io("write", &path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_with_a_slash_is_used_as_is() {
        assert_eq!(
            exec_candidates("./configure", Some("/usr/bin")),
            vec![PathBuf::from("./configure")]
        );
        assert_eq!(
            exec_candidates("/bin/sh", None),
            vec![PathBuf::from("/bin/sh")]
        );
    }

    #[test]
    fn a_bare_name_is_searched_in_the_spec_path_in_order() {
        assert_eq!(
            exec_candidates("gcc", Some("/opt/bin:/usr/bin")),
            vec![PathBuf::from("/opt/bin/gcc"), PathBuf::from("/usr/bin/gcc")]
        );
    }

    #[test]
    fn an_empty_path_entry_means_the_work_directory() {
        assert_eq!(
            exec_candidates("tool", Some(":/bin")),
            vec![PathBuf::from("./tool"), PathBuf::from("/bin/tool")]
        );
    }

    #[test]
    fn without_path_the_execvp_default_is_used() {
        assert_eq!(
            exec_candidates("sh", None),
            vec![PathBuf::from("/bin/sh"), PathBuf::from("/usr/bin/sh")]
        );
    }
}
