//! Pid 1 of the step's pid namespace: builds the sandbox, forks the step, reaps every
//! process the step leaves while sampling its disk, process count and memory (killing
//! them all past the memory limit), and when the step's main process ends, kills every
//! other process, copies the work directory back to the host and exits.

use std::ffi::CString;
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, setgroups, sethostname, setresgid, setresuid, ForkResult, Gid, Pid, Uid};

use super::disk;
use super::exec_step;
use super::failure::SetupFailure;
use super::ids::IdMode;
use super::protocol::{HelperRequest, InitFds, InitReport};
use super::rlimits;
use super::rootfs;
use super::tripwire_mount::{self, TripwireSetup};
use super::watch::{self, Watch};
use crate::sandbox::limits::LimitExceeded;
use crate::sandbox::observe::layout::Layout;
use crate::sandbox::spec::{SandboxSpec, StepExit};

/// Entry of the cloned init process. Never returns: it reports and `_exit`s.
pub(crate) fn init_main(request: &HelperRequest, fds: &InitFds) -> isize {
    close(fds.go_write);
    close(fds.report_read);
    for fd in [fds.observe_helper, fds.tripwire_helper]
        .into_iter()
        .flatten()
    {
        close(fd);
    }
    if !wait_for_go(fds.go_read) {
        exit(1);
    }
    match setup_and_run(request, fds) {
        Ok((status, exceeded)) => {
            if let Some(limit) = exceeded {
                fds.report.send(&InitReport::Limit(limit));
            }
            fds.report.send(&InitReport::Step(status));
            exit(0)
        }
        Err(failure) => {
            fds.report.send(&InitReport::Setup(failure));
            exit(1)
        }
    }
}

/// Builds the sandbox, runs the step, ends every process it left, copies its work
/// directory back to the host and returns how its main process ended, with the limit a
/// failed step most likely ran into.
fn setup_and_run(
    request: &HelperRequest,
    fds: &InitFds,
) -> Result<(StepExit, Option<LimitExceeded>), SetupFailure> {
    let spec = &request.spec;
    let host = rootfs::prepare_host_view(request)?;
    let tripwire = tripwire_setup(request, fds);
    become_setup_user(request.ids)?;
    stay_tied_to_helper(fds.go_read)?;
    let (disk, tripwire_active) = rootfs::build_root(request, &host, tripwire)?;
    if let Some(fd) = fds.tripwire_init {
        close(fd);
    }
    // Opens are recorded by the tripwire: the step's seccomp filter leaves them alone.
    // Without it, they are observed with seccomp only where that is worth its cost.
    let mut step_spec = spec.clone();
    step_spec.observation.files &= !tripwire_active && spec.observation.seccomp_fallback();
    set_names(spec)?;
    if !spec.network {
        rootfs::loopback_up()?;
    }
    rootfs::enter_root(spec, host)?;
    rlimits::confine_namespaces(spec.user.uid);
    set_sigchld_blocked(true)?;
    let step = spawn_step(&step_spec, request.ids, fds)?;
    let root = disk
        .root
        .try_clone()
        .map_err(SetupFailure::io("duplicate", "the disk handle"))?;
    let mut watch = Watch::new(spec.limits, root);
    let status = reap_until(step, &mut watch, fds)?;
    end_all_processes();
    let _ = watch.sample();
    // A shell reports a command killed by signal N as exit status 128 + N.
    let exceeded = match status {
        // A step that succeeded with its disk or process table full: worth a warning.
        StepExit::Exited(0) => watch.verdict(None, 0).filter(|l| l.matters_on_success()),
        StepExit::Signaled(signal) => watch.verdict(Some(signal), watch::peak_rss_of_children()),
        StepExit::Exited(code) if code > 128 => {
            watch.verdict(Some(code - 128), watch::peak_rss_of_children())
        }
        _ => watch.verdict(None, watch::peak_rss_of_children()),
    };
    disk::copy_back(spec, &disk)?;
    Ok((status, exceeded))
}

/// Blocks (or unblocks) SIGCHLD: init waits for it with a timeout between samples, and
/// the step must not inherit the blocked mask.
fn set_sigchld_blocked(blocked: bool) -> Result<(), SetupFailure> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    let how = if blocked {
        SigmaskHow::SIG_BLOCK
    } else {
        SigmaskHow::SIG_UNBLOCK
    };
    sigprocmask(how, Some(&set), None).map_err(SetupFailure::errno("change the mask of", "SIGCHLD"))
}

/// Waits up to [`SAMPLE_INTERVAL_MS`] for a SIGCHLD (which must be blocked).
fn wait_for_sigchld() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: SAMPLE_INTERVAL_MS * 1_000_000,
    };
    // SAFETY: the set and the timeout are live for the call; the info pointer may be null.
    unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &timeout) };
}

/// How often init samples the step's disk and processes while waiting for it.
const SAMPLE_INTERVAL_MS: libc::c_long = 50;

/// Blocks until the helper has written our id maps. False if the helper died first.
fn wait_for_go(go_read: RawFd) -> bool {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: reading into a live one-byte buffer.
        let n = unsafe { libc::read(go_read, byte.as_mut_ptr().cast(), 1) };
        match Errno::result(n) {
            Ok(n) => return n == 1,
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// In shifted mode, becomes the sandbox's root (an unprivileged host id) with no
/// supplementary groups; from here on nothing root-only on the host is reachable.
fn become_setup_user(ids: IdMode) -> Result<(), SetupFailure> {
    if let IdMode::Shifted { .. } = ids {
        let fail = SetupFailure::errno;
        let (root_uid, root_gid) = (Uid::from_raw(0), Gid::from_raw(0));
        setgroups(&[]).map_err(fail("drop supplementary groups of", "the sandbox init"))?;
        setresgid(root_gid, root_gid, root_gid).map_err(fail("setresgid(0) in", "the sandbox"))?;
        setresuid(root_uid, root_uid, root_uid).map_err(fail("setresuid(0) in", "the sandbox"))?;
    }
    Ok(())
}

/// Dies with the helper: PR_SET_PDEATHSIG (set after the id change, which clears it),
/// then a check that the helper did not die before it was set.
fn stay_tied_to_helper(go_read: RawFd) -> Result<(), SetupFailure> {
    prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(SetupFailure::errno("set", "PR_SET_PDEATHSIG"))?;
    let mut pfd = libc::pollfd {
        fd: go_read,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: pfd is a valid pollfd for the duration of the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    if rc > 0 && pfd.revents & libc::POLLHUP != 0 {
        exit(1);
    }
    Ok(())
}

/// Sets the UTS namespace's host and domain names.
fn set_names(spec: &SandboxSpec) -> Result<(), SetupFailure> {
    sethostname(&spec.hostname).map_err(SetupFailure::errno("sethostname", &spec.hostname))?;
    let domain = CString::new(spec.domainname.as_bytes())
        .map_err(|_| SetupFailure::new("setdomainname", &spec.domainname, "NUL byte"))?;
    // SAFETY: the pointer and length describe a live buffer.
    let rc = unsafe { libc::setdomainname(domain.as_ptr(), spec.domainname.len()) };
    Errno::result(rc)
        .map(drop)
        .map_err(SetupFailure::errno("setdomainname", &spec.domainname))
}

/// What init needs to mount the tripwire, when the helper asked for one and the FUSE
/// device opens (if not, opens are observed with seccomp).
fn tripwire_setup(request: &HelperRequest, fds: &InitFds) -> Option<TripwireSetup> {
    let socket = fds.tripwire_init?;
    let layout = Layout::for_spec(&request.spec)?;
    let device = tripwire_mount::open_fuse_device()?;
    Some(TripwireSetup {
        device,
        socket,
        layout,
    })
}

/// Forks the step process; it reports its own setup failures before exec.
fn spawn_step(spec: &SandboxSpec, ids: IdMode, fds: &InitFds) -> Result<Pid, SetupFailure> {
    // SAFETY: init is single-threaded, so the child may run arbitrary code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let result = exec_step::reset_signals()
                .and_then(|()| exec_step::exec_step(spec, ids, fds.observe_step));
            let Err(failure) = result;
            fds.report.send(&InitReport::Setup(failure));
            exit(exec_step::EXIT_CANNOT_EXECUTE)
        }
        Ok(ForkResult::Parent { child }) => Ok(child),
        Err(errno) => Err(SetupFailure::errno("fork", "the step process")(errno)),
    }
}

/// Reaps children (the step and any orphans reparented to us) until the step ends,
/// sampling the step's use of its limits in between.
fn reap_until(step: Pid, watch: &mut Watch, fds: &InitFds) -> Result<StepExit, SetupFailure> {
    loop {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == step => {
                    return Ok(StepExit::Exited(code))
                }
                Ok(WaitStatus::Signaled(pid, signal, _)) if pid == step => {
                    return Ok(StepExit::Signaled(signal as i32))
                }
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(errno) => return Err(SetupFailure::errno("wait for", "the step")(errno)),
            }
        }
        if let Some(limit) = watch.sample() {
            fds.report.send(&InitReport::Limit(limit));
        }
        if watch.must_stop() {
            // Over its memory limit: every process of the step (not init) dies now, and
            // the step's main process is reaped as killed.
            // SAFETY: plain system call; in init, -1 means every other process.
            unsafe { libc::kill(-1, libc::SIGKILL) };
        }
        wait_for_sigchld();
    }
}

/// Closes an fd inherited from the helper that init must not keep.
fn close(fd: RawFd) {
    // SAFETY: the fd is one of the helper's pipe ends, unused by this process.
    unsafe { libc::close(fd) };
}

/// Ends init (or the forked step) without running destructors of the helper's state.
fn exit(code: i32) -> ! {
    // SAFETY: _exit never returns.
    unsafe { libc::_exit(code) }
}

/// Kills every process of the sandbox but init and reaps them all (init only).
fn end_all_processes() {
    // SAFETY: plain system call; in init, -1 means every other process of the namespace.
    unsafe { libc::kill(-1, libc::SIGKILL) };
    while matches!(
        nix::sys::wait::waitpid(None, None),
        Ok(_) | Err(Errno::EINTR)
    ) {}
}
