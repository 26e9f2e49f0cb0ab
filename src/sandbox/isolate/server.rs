//! The fork server: one single-threaded `reprobe __sandbox-server` process per `Sandbox`
//! forks the helper of every step, instead of reprobe re-executing its own (large) binary
//! once per step. Re-executing cost about 3 ms a step, a quarter of the sandbox's whole
//! cost on trivial steps (docs/performance.md).
//!
//! Why a separate process at all: reprobe is multi-threaded and must never fork to run
//! foreign code; the server is started once (fork + exec from reprobe, as before) and is
//! single-threaded, so it may fork freely. The protocol, over a `SOCK_SEQPACKET` pair:
//!
//! ```text
//! reprobe ── request path + [reply socket, stdout, stderr] ──▶ server
//!                                         server ── fork ──▶ helper (helper_main)
//! reprobe ◀── the helper's wait status (4 bytes), on the reply socket ── server
//! ```
//!
//! Lifetimes: the server exits when reprobe's end of the control socket closes (reprobe
//! exited, was killed, or dropped its `Sandbox`); every helper is tied to the server by
//! `PR_SET_PDEATHSIG`, and everything below a helper is tied to it as before, so no step
//! outlives reprobe. A reply socket that closes without a status means the server died:
//! the step is reported as a helper that died without an outcome.

use std::collections::HashMap;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use nix::errno::Errno;
use nix::sys::socket::{
    recv, recvmsg, send, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType,
};
use nix::unistd::{fork, ForkResult, Pid};

use super::helper::{self, helper_main};
use super::protocol::SCRATCH_PREFIX;

/// Longest request path the server accepts (paths under `$TMPDIR` are far shorter).
const MAX_PATH_BYTES: usize = 4096;

/// reprobe's handle on a running fork server.
#[derive(Debug)]
pub(crate) struct ForkServer {
    /// reprobe's end of the control socket; closing it ends the server.
    control: Option<OwnedFd>,
    /// The server process, reaped when the handle is dropped.
    child: Child,
}

impl ForkServer {
    /// Starts `exe __sandbox-server` with an empty environment.
    pub(crate) fn start(exe: &Path) -> io::Result<ForkServer> {
        let (ours, theirs) = seqpacket_pair()?;
        let child = Command::new(exe)
            .arg("__sandbox-server")
            .env_clear()
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // A new process group: Ctrl-C reaches reprobe, which stops its steps itself.
            .process_group(0)
            .spawn()?;
        Ok(ForkServer {
            control: Some(ours),
            child,
        })
    }

    /// Has the server fork a helper for `request_path` with the given output files,
    /// waits for the helper to end and returns its exit status. [`ServerError::Gone`]
    /// means the server never saw the request, so the caller may run it another way.
    pub(crate) fn run_helper(
        &self,
        request_path: &Path,
        stdout: BorrowedFd<'_>,
        stderr: BorrowedFd<'_>,
    ) -> Result<ExitStatus, ServerError> {
        let control = self.control.as_ref().ok_or(ServerError::Gone)?;
        let (reply, reply_theirs) = seqpacket_pair().map_err(ServerError::Io)?;
        let fds = [
            reply_theirs.as_raw_fd(),
            stdout.as_raw_fd(),
            stderr.as_raw_fd(),
        ];
        let payload = [IoSlice::new(request_path.as_os_str().as_bytes())];
        let rights = [ControlMessage::ScmRights(&fds)];
        match sendmsg::<()>(
            control.as_raw_fd(),
            &payload,
            &rights,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(_) => {}
            Err(Errno::EPIPE | Errno::ECONNRESET | Errno::ENOTCONN) => {
                return Err(ServerError::Gone)
            }
            Err(errno) => return Err(ServerError::Io(errno.into())),
        }
        drop(reply_theirs);
        let mut status = [0u8; 4];
        loop {
            match recv(reply.as_raw_fd(), &mut status, MsgFlags::empty()) {
                Ok(4) => return Ok(ExitStatus::from_raw(i32::from_ne_bytes(status))),
                Ok(_) => return Err(ServerError::DiedDuringStep),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(ServerError::Io(errno.into())),
            }
        }
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        drop(self.control.take());
        let _ = self.child.wait();
    }
}

/// Why the server could not run a helper.
#[derive(Debug)]
pub(crate) enum ServerError {
    /// The server is not running (it never received the request).
    Gone,
    /// The server ended while the helper ran.
    DiedDuringStep,
    /// A socket operation failed.
    Io(io::Error),
}

/// A close-on-exec `SOCK_SEQPACKET` pair: message boundaries, and EOF when a side closes.
fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)
}

/// One helper the server forked and has not reaped yet.
struct Running {
    pidfd: OwnedFd,
    reply: OwnedFd,
    /// The request's temporary directory, removed by the server if reprobe is gone
    /// before the helper ends (reprobe removes it itself otherwise).
    scratch: Option<PathBuf>,
}

/// Entry of the hidden `reprobe __sandbox-server` subcommand. Its stdin is the control
/// socket. Serves requests until reprobe closes it, then exits (killing, through their
/// death signal, any helper still running). Never returns.
pub fn server_main() -> ! {
    // SAFETY: fd 0 is the control socket handed over by `ForkServer::start`.
    let control = unsafe { OwnedFd::from_raw_fd(0) };
    let mut running: HashMap<Pid, Running> = HashMap::new();
    loop {
        let mut polled = vec![libc::pollfd {
            fd: control.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let pids: Vec<Pid> = running.keys().copied().collect();
        polled.extend(pids.iter().map(|pid| libc::pollfd {
            fd: running[pid].pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        // SAFETY: `polled` is a live array of pollfds of the given length.
        let rc = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, -1) };
        if rc < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            std::process::exit(2);
        }
        for (pid, pfd) in pids.iter().zip(&polled[1..]) {
            if pfd.revents != 0 {
                if let Some(done) = running.remove(pid) {
                    report_exit(*pid, &done);
                }
            }
        }
        if polled[0].revents != 0 {
            match receive_request(control.as_fd()) {
                Ok(Some(request)) => {
                    if let Some((pid, run)) = fork_helper(request) {
                        running.insert(pid, run);
                    }
                }
                Ok(None) => {
                    abandon(running);
                    std::process::exit(0)
                }
                Err(_) => {
                    abandon(running);
                    std::process::exit(2)
                }
            }
        }
    }
}

/// A request as received: the request file and the three fds that came with it.
struct Request {
    path: PathBuf,
    reply: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

/// Reads one request; `None` when reprobe closed its end.
fn receive_request(control: BorrowedFd<'_>) -> io::Result<Option<Request>> {
    let mut buf = vec![0u8; MAX_PATH_BYTES];
    let mut space = nix::cmsg_space!([RawFd; 3]);
    let (len, fds) = loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        match recvmsg::<()>(
            control.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let mut fds = Vec::new();
                for cmsg in msg.cmsgs().map_err(io::Error::from)? {
                    if let ControlMessageOwned::ScmRights(received) = cmsg {
                        // SAFETY: the kernel just installed these fds for this process.
                        fds.extend(
                            received
                                .into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
                break (msg.bytes, fds);
            }
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    };
    if len == 0 && fds.is_empty() {
        return Ok(None);
    }
    let mut fds = fds.into_iter();
    let (Some(reply), Some(stdout), Some(stderr)) = (fds.next(), fds.next(), fds.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request without its fds",
        ));
    };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(&buf[..len]));
    Ok(Some(Request {
        path,
        reply,
        stdout,
        stderr,
    }))
}

/// Forks the helper of one request. On failure the request's reply socket is closed
/// without a status, which reprobe reports as a helper that died.
fn fork_helper(request: Request) -> Option<(Pid, Running)> {
    let server = std::process::id();
    // SAFETY: the server is single-threaded, so the child may run arbitrary code.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => become_helper(request, server),
        Ok(ForkResult::Parent { child }) => {
            let Ok(pidfd) = helper::pidfd_open(child) else {
                // Without a pidfd the server cannot tell when the helper ends: stop it
                // now rather than leave reprobe waiting on a helper nobody reaps.
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(child, None);
                return None;
            };
            Some((
                child,
                Running {
                    pidfd,
                    reply: request.reply,
                    scratch: request.path.parent().map(Path::to_path_buf),
                },
            ))
        }
        Err(_) => None,
    }
}

/// In the forked child: dies with the server, takes the step's output files as stdout
/// and stderr, closes every other fd and runs the helper.
fn become_helper(request: Request, server: u32) -> ! {
    // SAFETY: plain system calls on fds this process owns.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
            || libc::getppid() as u32 != server
        {
            libc::_exit(2);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null < 0
            || libc::dup2(null, 0) < 0
            || libc::dup2(request.stdout.as_raw_fd(), 1) < 0
            || libc::dup2(request.stderr.as_raw_fd(), 2) < 0
        {
            libc::_exit(2);
        }
        libc::close_range(3, u32::MAX, 0);
    }
    // The fds were closed just above: forget the handles instead of closing them twice.
    std::mem::forget(request.reply);
    std::mem::forget(request.stdout);
    std::mem::forget(request.stderr);
    helper_main(&request.path)
}

/// Reprobe is gone (killed, most likely) while these helpers still run: ends each one
/// (with its step: they die with their helper) and removes its temporary directory,
/// which nobody else will.
fn abandon(running: HashMap<Pid, Running>) {
    for (pid, run) in running {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        if let Some(scratch) = run.scratch.filter(|dir| is_sandbox_scratch(dir)) {
            // By handle, and only a directory of ours: never through a link.
            let _ = crate::fsafe::remove_own_tree(&scratch);
        }
    }
}

/// True for a directory `Sandbox::run` made: only those are ever removed here.
fn is_sandbox_scratch(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with(SCRATCH_PREFIX))
}

/// Reaps a helper and sends its raw wait status on its reply socket.
fn report_exit(pid: Pid, done: &Running) {
    let raw = loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waiting for our own child into a live int.
        let rc = unsafe { libc::waitpid(pid.as_raw(), &mut status, 0) };
        if rc == pid.as_raw() {
            break status;
        }
        if Errno::last() != Errno::EINTR {
            return;
        }
    };
    let _ = send(
        done.reply.as_raw_fd(),
        &raw.to_ne_bytes(),
        MsgFlags::MSG_NOSIGNAL,
    );
}
