//! The fds the supervisor takes from the sandbox: the seccomp listener the step hands
//! over (its number, copied with `pidfd_getfd(2)`), the tripwire's FUSE device init sends
//! (`SCM_RIGHTS`), and copies of a step's sockets.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// Receives the fd number sent by the step, with its credentials, and copies the fd.
pub(crate) fn receive_listener(handover: &OwnedFd) -> io::Result<OwnedFd> {
    let mut number = [0u8; 4];
    let mut iov = [io::IoSliceMut::new(&mut number)];
    let mut space = nix::cmsg_space!(libc::ucred);
    let msg = recvmsg::<()>(
        handover.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    if msg.bytes != 4 {
        return Err(io::Error::other("short hand-over message"));
    }
    let pid = msg
        .cmsgs()?
        .find_map(|c| match c {
            ControlMessageOwned::ScmCredentials(creds) => Some(creds.pid()),
            _ => None,
        })
        .ok_or_else(|| io::Error::other("the hand-over carried no credentials"))?;
    let target_fd = i32::from_ne_bytes(number);
    let pidfd = pidfd_open(pid)?;
    pidfd_getfd(&pidfd, target_fd)
}

/// Receives one fd sent with `SCM_RIGHTS` (init's tripwire device).
pub(crate) fn receive_fd(socket: &OwnedFd) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let fd = msg
        .cmsgs()?
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .ok_or_else(|| io::Error::other("the tripwire hand-over carried no fd"))?;
    // SAFETY: the kernel just installed this fd in our table for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_open(2)`.
fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    owned(fd)
}

/// `pidfd_getfd(2)`: a copy of another process's fd.
fn pidfd_getfd(pidfd: &OwnedFd, target: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
    owned(fd)
}

fn owned(ret: libc::c_long) -> io::Result<OwnedFd> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(ret).map_err(|_| io::Error::other("fd out of range"))?;
    // SAFETY: the kernel just returned this fd, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A copy of fd `fd` of process (thread group) `tgid` (`pidfd_getfd`). A pidfd names a
/// thread group: `pidfd_open` refuses a thread that is not its leader, and a resolver
/// often runs in one (curl's, a Python thread's).
pub(crate) fn step_socket(tgid: i32, fd: i32) -> Option<OwnedFd> {
    let pidfd = pidfd_open(tgid).ok()?;
    pidfd_getfd(&pidfd, fd).ok()
}

/// `SO_TYPE` of a socket.
pub(crate) fn socket_type(socket: &OwnedFd) -> Option<i32> {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: kind and len are live and correctly sized.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(kind)
}
