//! The helper process (`reprobe __sandbox REQUEST`): single-threaded, so it may fork.
//! It clones the sandbox's init into fresh namespaces, writes its id maps from outside,
//! enforces the timeout and writes the outcome to the status file.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{setsockopt, socketpair, sockopt, AddressFamily, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{pipe2, Pid};

use super::failure::SetupFailure;
use super::ids::{namespace_flags, IdMode};
use super::init;
use super::protocol::{HelperRequest, HelperStatus, InitFds, InitReport, ReportPipe};
use crate::model::findings::SandboxFindings;
use crate::sandbox::observe::layout::Layout;
use crate::sandbox::observe::seccomp_filter::FilterSet;
use crate::sandbox::observe::supervisor::Supervisor;
use crate::sandbox::spec::{SandboxSpec, StepExit};

/// Stack of the cloned init process (lazily allocated, so generous is cheap).
const INIT_STACK_BYTES: usize = 8 << 20;

/// Entry of the hidden `reprobe __sandbox REQUEST` subcommand: runs one sandboxed step
/// and writes its outcome to the request's status file. Exits 0 when the status file
/// was written, 2 when not (the reason is on stderr, which is the step's stderr file).
pub fn helper_main(request_path: &Path) -> ! {
    let code = match load_request(request_path) {
        Ok(request) => {
            let status = supervise(&request);
            match write_status(&request.status_path, &status) {
                Ok(()) => 0,
                Err(err) => {
                    eprintln!("reprobe __sandbox: cannot write the status file: {err}");
                    2
                }
            }
        }
        Err(err) => {
            eprintln!("reprobe __sandbox: {err}");
            2
        }
    };
    std::process::exit(code)
}

/// Reads the request file written by `Sandbox::run`.
/// The file is removed once read: it holds the step's environment, and nothing else
/// needs it (a killed reprobe cannot clean its temporary directory up).
fn load_request(path: &Path) -> Result<HelperRequest, String> {
    let text = fs::read(path)
        .map_err(|err| format!("cannot read the request {}: {err}", path.display()))?;
    let _ = fs::remove_file(path);
    serde_json::from_slice(&text)
        .map_err(|err| format!("cannot parse the request {}: {err}", path.display()))
}

/// Writes the status file (the caller reads it after this process exits).
fn write_status(path: &Path, status: &HelperStatus) -> io::Result<()> {
    let json = serde_json::to_vec(status)?;
    fs::write(path, json)
}

/// Runs the sandbox and turns every outcome into a status.
fn supervise(request: &HelperRequest) -> HelperStatus {
    // Nothing inherited from reprobe should reach the step.
    // SAFETY: plain system call; failure only means fds stay as they are.
    unsafe { libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    run_sandbox(request).unwrap_or_else(HelperStatus::SetupFailed)
}

/// Clones init into the new namespaces, maps its ids, lets it go and waits for it.
fn run_sandbox(request: &HelperRequest) -> Result<HelperStatus, SetupFailure> {
    let pipe = |what| SetupFailure::errno("create", what);
    let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC).map_err(pipe("the go pipe"))?;
    let (report_read, report_write) = pipe2(OFlag::O_CLOEXEC).map_err(pipe("the report pipe"))?;
    let handover = handover_socket(&request.spec)?;
    let layout = handover
        .as_ref()
        .and_then(|_| Layout::for_spec(&request.spec));
    let tripwire = match &layout {
        Some(_) => Some(fd_socket()?),
        None => None,
    };
    let fds = InitFds {
        go_read: go_read.as_raw_fd(),
        go_write: go_write.as_raw_fd(),
        report_read: report_read.as_raw_fd(),
        report: ReportPipe(report_write.as_raw_fd()),
        observe_step: handover.as_ref().map(|(_, step)| step.as_raw_fd()),
        observe_helper: handover.as_ref().map(|(helper, _)| helper.as_raw_fd()),
        tripwire_init: tripwire.as_ref().map(|(_, init)| init.as_raw_fd()),
        tripwire_helper: tripwire.as_ref().map(|(helper, _)| helper.as_raw_fd()),
    };
    let start = Instant::now();
    let guard = clone_init(request, &fds)?;
    drop((go_read, report_write));
    let tripwire = tripwire.zip(layout).map(|((helper, init), layout)| {
        drop(init);
        let extra = vec![request.scratch_dir.clone()];
        (helper, layout, extra)
    });
    let mut supervisor = handover.map(|(helper, step)| {
        drop(step);
        Supervisor::new(&request.spec, helper, tripwire)
    });
    write_id_maps(&guard, request)?;
    write_byte(&go_write)?;
    let (wait, timed_out) =
        wait_with_timeout(guard, request.spec.timeout_secs, supervisor.as_mut())?;
    let duration_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let reports = read_reports(report_read);
    drop(go_write);
    let findings = supervisor.map(Supervisor::finish).unwrap_or_default();
    decide(reports, timed_out, wait, duration_ns, findings)
}

/// The socketpair (helper end, step end) the step hands its seccomp listener over on,
/// when the step is observed at all. The helper's end reports the sender's pid.
fn handover_socket(spec: &SandboxSpec) -> Result<Option<(OwnedFd, OwnedFd)>, SetupFailure> {
    if FilterSet::for_step(&spec.observation, spec.network).is_none() {
        return Ok(None);
    }
    let fail = SetupFailure::errno;
    let (helper, step) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(fail("create", "the seccomp hand-over socket"))?;
    setsockopt(&helper, sockopt::PassCred, &true)
        .map_err(fail("set SO_PASSCRED on", "the seccomp hand-over socket"))?;
    Ok(Some((helper, step)))
}

/// A socketpair (helper end, init end) to pass one fd on.
fn fd_socket() -> Result<(OwnedFd, OwnedFd), SetupFailure> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(SetupFailure::errno(
        "create",
        "the tripwire hand-over socket",
    ))
}

/// Kills and reaps init unless defused: no error path leaves a sandbox running.
struct InitGuard(Pid);

impl InitGuard {
    /// The pid, and the guard's duty, handed to the caller.
    fn defuse(self) -> Pid {
        let pid = self.0;
        std::mem::forget(self);
        pid
    }
}

impl Drop for InitGuard {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGKILL);
        let _ = waitpid(self.0, None);
    }
}

/// Starts init as pid 1 of the new pid namespace, inside all the new namespaces.
fn clone_init(request: &HelperRequest, fds: &InitFds) -> Result<InitGuard, SetupFailure> {
    let mut stack = vec![0u8; INIT_STACK_BYTES];
    let callback = Box::new(|| init::init_main(request, fds));
    let flags = namespace_flags(request.spec.network);
    // SAFETY: this process is single-threaded, so the child may allocate and run
    // arbitrary Rust code; the stack is ample for init's setup.
    let pid =
        unsafe { nix::sched::clone(callback, &mut stack, flags, Some(libc::SIGCHLD)) }.map_err(
            SetupFailure::errno("clone the sandbox init into", "new namespaces"),
        )?;
    Ok(InitGuard(pid))
}

/// Writes init's uid/gid maps from outside its user namespace.
fn write_id_maps(init: &InitGuard, request: &HelperRequest) -> Result<(), SetupFailure> {
    let proc_dir = PathBuf::from(format!("/proc/{}", init.0));
    let user = &request.spec.user;
    if let IdMode::Caller { .. } = request.ids {
        write_proc(&proc_dir.join("setgroups"), "deny")?;
    }
    write_proc(&proc_dir.join("uid_map"), &request.ids.uid_map(user.uid))?;
    write_proc(&proc_dir.join("gid_map"), &request.ids.gid_map(user.gid))
}

/// One write(2) to a /proc file (id maps must be written in a single call).
fn write_proc(path: &Path, text: &str) -> Result<(), SetupFailure> {
    let fail = || SetupFailure::io("write", path.display());
    let mut file = OpenOptions::new().write(true).open(path).map_err(fail())?;
    let written = file.write(text.as_bytes()).map_err(fail())?;
    if written == text.len() {
        Ok(())
    } else {
        Err(SetupFailure::new("write", path.display(), "short write"))
    }
}

/// Tells init its ids are mapped.
fn write_byte(fd: &OwnedFd) -> Result<(), SetupFailure> {
    nix::unistd::write(fd.as_fd(), b"g")
        .map(drop)
        .map_err(SetupFailure::errno("signal", "the sandbox init"))
}

/// Waits for init to end, killing it (and so its whole pid namespace) at the timeout.
/// Serves the supervisor meanwhile.
fn wait_with_timeout(
    init: InitGuard,
    timeout_secs: f64,
    mut supervisor: Option<&mut Supervisor>,
) -> Result<(WaitStatus, bool), SetupFailure> {
    let pidfd = pidfd_open(init.0)?;
    let timeout = Duration::try_from_secs_f64(timeout_secs).unwrap_or(Duration::MAX);
    let deadline = Instant::now().checked_add(timeout);
    let pid = init.defuse();
    let timed_out = loop {
        let wait_ms = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break true;
                }
                i32::try_from(left.as_millis() + 1).unwrap_or(i32::MAX)
            }
        };
        if poll_readable(&pidfd, wait_ms, supervisor.as_deref_mut())? {
            break false;
        }
    };
    if timed_out {
        let _ = kill(pid, Signal::SIGKILL);
        // Keep serving until init is gone: a dying step process may still wait on an
        // answer (a FUSE flush at close cannot be interrupted), and init's exit waits
        // for every process of its namespace.
        while !poll_readable(&pidfd, 1000, supervisor.as_deref_mut())? {}
    }
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            Ok(status) => return Ok((status, timed_out)),
            Err(errno) => return Err(SetupFailure::errno("wait for", "the sandbox init")(errno)),
        }
    }
}

/// `pidfd_open(2)`: an fd that becomes readable when the process exits.
pub(crate) fn pidfd_open(pid: Pid) -> Result<OwnedFd, SetupFailure> {
    // SAFETY: plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(fd).map_err(SetupFailure::errno("pidfd_open", "the sandbox init"))?;
    let fd = RawFd::try_from(fd)
        .map_err(|_| SetupFailure::new("pidfd_open", "the sandbox init", "fd out of range"))?;
    // SAFETY: the kernel just returned this fd to us, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Polls `fd` for readability for up to `wait_ms` (-1: forever), serving the
/// supervisor's fds when they are ready first.
fn poll_readable(
    fd: &OwnedFd,
    wait_ms: i32,
    supervisor: Option<&mut Supervisor>,
) -> Result<bool, SetupFailure> {
    let mut pfds = vec![libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    if let Some(supervisor) = &supervisor {
        pfds.extend(supervisor.poll_fds());
    }
    // SAFETY: pfds is a valid array of pollfds for the duration of the call.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, wait_ms) };
    match Errno::result(rc) {
        Ok(_) if pfds[0].revents != 0 => Ok(true),
        Ok(_) => {
            if let Some(supervisor) = supervisor {
                supervisor.serve(&pfds[1..]);
            }
            Ok(false)
        }
        Err(Errno::EINTR) => Ok(false),
        Err(errno) => Err(SetupFailure::errno("poll", "the sandbox init")(errno)),
    }
}

/// Reads every report sent by init and the step (all writers are gone by now).
fn read_reports(read_end: OwnedFd) -> Vec<InitReport> {
    let mut file = fs::File::from(read_end);
    let _ = nix::fcntl::fcntl(
        file.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
    );
    let mut text = Vec::new();
    let _ = file.read_to_end(&mut text);
    text.split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice(line).ok())
        .collect()
}

/// The status for what happened: a setup failure wins, then a timeout, then the exit.
fn decide(
    reports: Vec<InitReport>,
    timed_out: bool,
    wait: WaitStatus,
    duration_ns: u64,
    findings: SandboxFindings,
) -> Result<HelperStatus, SetupFailure> {
    let mut exit = None;
    let mut exceeded = None;
    for report in reports {
        match report {
            InitReport::Setup(failure) => return Ok(HelperStatus::SetupFailed(failure)),
            InitReport::Step(step) => exit = Some(step),
            InitReport::Limit(limit) => exceeded = Some(limit),
        }
    }
    let exit = match (timed_out, exit) {
        (true, _) => StepExit::TimedOut,
        (false, Some(exit)) => exit,
        (false, None) => {
            return Err(SetupFailure::new(
                "run",
                "the sandbox init",
                format!("it ended without reporting the step's status ({wait:?})"),
            ))
        }
    };
    Ok(HelperStatus::Finished {
        exit,
        duration_ns,
        findings,
        exceeded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setup_failure_wins_over_an_exit_status() {
        let failure = SetupFailure::new("mount tmpfs on", "/tmp", "EPERM");
        let reports = vec![
            InitReport::Step(StepExit::Exited(126)),
            InitReport::Setup(failure.clone()),
        ];
        let pid = Pid::from_raw(1);
        match decide(
            reports,
            false,
            WaitStatus::Exited(pid, 0),
            1,
            SandboxFindings::default(),
        ) {
            Ok(HelperStatus::SetupFailed(f)) => assert_eq!(f, failure),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_timeout_is_reported_even_without_a_report() {
        let pid = Pid::from_raw(1);
        let status = decide(
            vec![],
            true,
            WaitStatus::Signaled(pid, Signal::SIGKILL, false),
            5,
            SandboxFindings::default(),
        );
        assert!(matches!(
            status,
            Ok(HelperStatus::Finished {
                exit: StepExit::TimedOut,
                ..
            })
        ));
    }
}
