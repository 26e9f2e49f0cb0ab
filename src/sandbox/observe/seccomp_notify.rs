//! The supervisor's side of `seccomp_unotify(2)`: receiving a notification, answering
//! it, and checking that its caller still waits (the ioctls on the listener).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// The answer to one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Let the call run as the step made it.
    Continue,
    /// Pretend it succeeded with return value 0, without running it.
    Succeed,
    /// Fail it with this errno.
    Fail(Errno),
}

/// What one notification asked about, with what was read from the step.
pub(crate) struct Call {
    /// The notification's id, to answer it by.
    pub id: u64,
    /// Thread id in the helper's (host) pid namespace.
    pub pid: i32,
    /// The native number of the call (a 32-bit call's is translated).
    pub nr: i64,
    /// The call's arguments, as the kernel saw them.
    pub args: [u64; 6],
    /// A 32-bit call: its pointers and structures are 32-bit ones.
    pub compat: bool,
}

/// Asks the kernel to hand each notification over on the current CPU (Linux 6.6+), which
/// roughly halves a round trip; older kernels refuse and nothing changes.
pub(crate) fn sync_wake_up(listener: &OwnedFd) {
    const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
    // SAFETY: the ioctl takes the flags by value.
    unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
        )
    };
}

/// `SECCOMP_IOCTL_NOTIF_RECV`; `None` when the notification vanished (its caller died).
pub(crate) fn receive(listener: RawFd) -> Option<Call> {
    // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed.
    let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: notif is a live, correctly sized buffer for this ioctl.
    let rc = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
    if rc != 0 {
        return None;
    }
    let (nr, compat) = native_call(notif.data.arch, notif.data.nr);
    Some(Call {
        id: notif.id,
        pid: notif.pid as i32,
        nr,
        args: notif.data.args,
        compat,
    })
}

/// The native number of a notified call, and whether it was a 32-bit one.
fn native_call(arch: u32, nr: i32) -> (i64, bool) {
    #[cfg(target_arch = "x86_64")]
    if arch == super::seccomp_filter::I386_ARCH {
        let native = super::seccomp_filter::I386_NETWORK_CALLS
            .iter()
            .find(|(i386, _)| *i386 as i32 == nr)
            .map_or(-1, |(_, native)| *native);
        return (native, true);
    }
    let _ = arch;
    (i64::from(nr), false)
}

/// `SECCOMP_IOCTL_NOTIF_SEND`; a vanished caller makes it fail, which is fine.
pub(crate) fn respond(listener: RawFd, id: u64, answer: Answer) {
    let (error, flags) = match answer {
        Answer::Continue => (0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
        Answer::Succeed => (0, 0),
        Answer::Fail(errno) => (-(errno as i32), 0),
    };
    let mut resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error,
        flags,
    };
    // SAFETY: resp is a live, correctly sized buffer for this ioctl.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
}

/// `SECCOMP_IOCTL_NOTIF_ID_VALID`: the caller still waits, so the pid read was its own.
pub(crate) fn notification_valid(listener: RawFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: the ioctl reads a u64 from the pointer.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
}
