//! A stand-in for the DNS server a step's UDP socket "connected" to, so that a query
//! written with `write(2)` (Go's resolver, or `connect` then `os.write`) is read for its
//! name like one sent with `sendto`.
//!
//! The supervisor answers a UDP `connect` to port 53 with success without connecting
//! (module `supervisor`). `write` is not in the seccomp filter (it is far too frequent), so a
//! query written on that socket would fail unseen. Instead, while the `connect` is still
//! pending, the supervisor puts one end of a fresh `AF_UNIX` datagram socket pair at the
//! step's fd number (`SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SETFD`, which
//! replaces the fd as `dup2` would) and keeps the other end. Every query the step writes
//! arrives here; its name is recorded, and the step gets a SERVFAIL answer at once, so
//! it fails as fast as on a machine without network. `sendto`/`sendmsg` on the same fd
//! are still intercepted by the filter first and denied with `ENETUNREACH`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use super::wire::dns_query_name;
use crate::model::findings::NetworkAttempt;

/// Longest query read.
const MAX_QUERY: usize = 512;

/// The supervisor's end of one stand-in resolver, and who connected to it.
pub(super) struct StandIn {
    ours: OwnedFd,
    /// The step's process and socket, by (tgid, fd) in the host's pid namespace.
    pub(super) key: (i32, i32),
    /// The attempt as recorded at `connect`, without a name yet.
    attempt: NetworkAttempt,
}

impl StandIn {
    /// Puts a stand-in at fd `fd` of the process whose `connect` notification `id` is
    /// pending on `listener`. `original` is a copy of the step's socket (for its flags).
    /// `None` when the kernel refuses: the caller then keeps the plain pretended connect.
    pub(super) fn install(
        listener: RawFd,
        id: u64,
        pid: i32,
        fd: i32,
        original: &OwnedFd,
        key: (i32, i32),
        attempt: NetworkAttempt,
    ) -> Option<StandIn> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Datagram,
            None,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        )
        .ok()?;
        // The step's end keeps the step's own file status flags (O_NONBLOCK: Go polls).
        let status = fcntl(original.as_raw_fd(), FcntlArg::F_GETFL).ok()?;
        let nonblocking = OFlag::from_bits_truncate(status) & OFlag::O_NONBLOCK;
        fcntl(theirs.as_raw_fd(), FcntlArg::F_SETFL(nonblocking)).ok()?;
        let cloexec = if fd_is_cloexec(pid, fd) {
            libc::O_CLOEXEC as u32
        } else {
            0
        };
        let addfd = libc::seccomp_notif_addfd {
            id,
            flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
            srcfd: theirs.as_raw_fd() as u32,
            newfd: fd as u32,
            newfd_flags: cloexec,
        };
        // SAFETY: addfd is a live, correctly sized struct for this ioctl.
        let rc = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) };
        (rc >= 0).then_some(StandIn { ours, key, attempt })
    }

    /// The fd to poll for queries.
    pub(super) fn poll_fd(&self) -> RawFd {
        self.ours.as_raw_fd()
    }

    /// Reads every query waiting, answers each with SERVFAIL, and returns one attempt
    /// per query, named after the name it asked for.
    pub(super) fn take_queries(&self) -> Vec<NetworkAttempt> {
        let mut attempts = Vec::new();
        let mut buf = [0u8; MAX_QUERY];
        loop {
            // SAFETY: buf is live and MAX_QUERY bytes long.
            let n = unsafe {
                libc::recv(
                    self.ours.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            let Ok(n) = usize::try_from(n) else { break };
            let query = &buf[..n.min(MAX_QUERY)];
            let mut attempt = self.attempt.clone();
            attempt.dns_name = dns_query_name(query, false);
            attempts.push(attempt);
            if let Some(answer) = servfail(query) {
                // SAFETY: answer is live for the call.
                unsafe {
                    libc::send(
                        self.ours.as_raw_fd(),
                        answer.as_ptr().cast(),
                        answer.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
            }
        }
        attempts
    }
}

/// Whether fd `fd` of process `pid` is close-on-exec, from `/proc/PID/fdinfo/FD`.
fn fd_is_cloexec(pid: i32, fd: i32) -> bool {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .is_some_and(|flags| flags & libc::O_CLOEXEC as u32 != 0)
}

/// A SERVFAIL answer to `query`: its id and question, no records. `None` when the query
/// is too short or malformed to answer.
pub(super) fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let header = query.get(..12)?;
    if header[2] & 0x80 != 0 || u16::from_be_bytes([header[4], header[5]]) != 1 {
        return None;
    }
    let end = question_end(query)?;
    let mut answer = query[..end].to_vec();
    answer[2] = 0x80 | (header[2] & 0x79); // QR, the query's opcode and RD
    answer[3] = 0x80 | 2; // RA, RCODE 2: server failure
    answer[6..12].fill(0); // no answer, authority or additional records
    Some(answer)
}

/// Where the first question of a DNS message ends (its name, type and class).
fn question_end(msg: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        let len = usize::from(*msg.get(at)?);
        match len {
            0 => break,
            l if l & 0xC0 != 0 => return None,
            l => at += 1 + l,
        }
    }
    let end = at + 1 + 4;
    (end <= msg.len()).then_some(end)
}

/// A datagram socket pair, for the tests.
#[cfg(test)]
fn pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::Datagram,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, id: u16) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        // An EDNS OPT record in the additional section, which the answer leaves out.
        q.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        q
    }

    #[test]
    fn servfail_keeps_id_and_question_and_drops_the_rest() {
        let q = query("example.org", 0x4242);
        let answer = servfail(&q).expect("an answer");
        assert_eq!(&answer[..2], &[0x42, 0x42]);
        assert_eq!(answer[2] & 0x80, 0x80, "a response");
        assert_eq!(answer[2] & 0x01, 0x01, "recursion desired is echoed");
        assert_eq!(answer[3] & 0x0f, 2, "SERVFAIL");
        assert_eq!(&answer[4..6], &[0, 1]);
        assert_eq!(&answer[6..12], &[0; 6]);
        assert_eq!(answer.len(), 12 + 13 + 4, "header, name, type and class");
        assert_eq!(&answer[12..], &q[12..12 + 17]);
    }

    #[test]
    fn responses_and_truncated_queries_get_no_answer() {
        let mut response = query("a.b", 1);
        response[2] |= 0x80;
        assert_eq!(servfail(&response), None);
        assert_eq!(servfail(&query("a.b", 1)[..14]), None);
        assert_eq!(servfail(&[0; 5]), None);
    }

    #[test]
    fn queries_written_to_the_pair_are_named_and_answered() {
        let (ours, theirs) = pair().expect("socket pair");
        let attempt = NetworkAttempt {
            pid: 7,
            argv: vec!["resolver".into()],
            family: "inet".into(),
            address: "10.0.0.53".into(),
            port: 53,
            dns_name: None,
        };
        let stand_in = StandIn {
            ours,
            key: (1, 3),
            attempt,
        };
        let q = query("pypi.org", 9);
        nix::unistd::write(&theirs, &q).expect("write");
        let attempts = stand_in.take_queries();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].dns_name.as_deref(), Some("pypi.org"));
        assert_eq!(attempts[0].address, "10.0.0.53");
        let mut buf = [0u8; 512];
        let n = nix::unistd::read(theirs.as_raw_fd(), &mut buf).expect("an answer");
        assert_eq!(buf[3] & 0x0f, 2);
        assert_eq!(&buf[..2], &[0, 9]);
        assert!(n > 12);
    }
}
