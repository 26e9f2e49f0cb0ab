//! The supervisor: watches a step's network and file system calls from outside the step,
//! through the seccomp listener the step hands over before `execve` (docs/design.md section 4).
//!
//! It runs in the helper (host namespaces, single-threaded), in the same poll loop that
//! waits for init and enforces the timeout. The hand-over: the step installs the filter,
//! writes the listener's fd number on a socketpair whose helper end has `SO_PASSCRED`
//! (so the helper learns the step's host pid), and waits for one byte. The helper copies
//! the fd with `pidfd_getfd(2)` and answers. (Passing it with `SCM_RIGHTS` would need
//! `sendmsg`, which the filter itself intercepts.)
//!
//! Decisions, per call:
//! - `connect`/`sendto`/`sendmsg`/`sendmmsg` to loopback (the step's own network
//!   namespace) continue and are not reported, except DNS (port 53, any address).
//! - Anything else on IP is denied with `ENETUNREACH` and recorded. A UDP `connect` to a
//!   DNS server is answered with success without connecting, so that the query the
//!   resolver sends next can be read for its name; that send is then denied.
//! - A `connect` to a local name service socket (nscd, systemd-resolved) is recorded.
//! - Opens that may read always continue; the path is recorded when it is a project file
//!   missing from the work directory (or the project's own host path, which is hidden),
//!   a path in a home directory, or an `/etc` file beyond the allow-list (module `paths`).
//!
//! Opens reach this supervisor only as the fallback: normally the tripwire file system
//! (module `tripwire`, served from the same poll loop) records them, once per path
//! instead of once per call, and the step's filter leaves opens out. Here the `stat`
//! family is not observed: every observed call costs a round trip through the
//! supervisor, and stat calls outnumber opens in most builds (see `benches/observe.sh`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::execs;
use super::fd_passing::{receive_fd, receive_listener, socket_type, step_socket};
use super::layout::Layout;
use super::paths::{normalize, PathRules};
use super::process::{base_dir, command_line, read_c_string, read_mem, sandbox_pid, thread_group};
use super::resolver::StandIn;
use super::seccomp_notify::{notification_valid, receive, respond, sync_wake_up, Answer, Call};
use super::tripwire::{Policy, Tripwire};
use super::wire::{dns_query_name, parse_sockaddr, Destination, RESOLVER_SOCKETS};
use crate::model::findings::{NetworkAttempt, SandboxFindings, MAX_NETWORK_ATTEMPTS};
use crate::sandbox::spec::SandboxSpec;

/// Most statically linked programs recorded per step.
const MAX_STATIC_PROGRAMS: usize = 32;
/// Longest DNS message prefix read.
const MAX_DNS: usize = 512;

/// The helper's side of the observation of one step.
pub(crate) struct Supervisor {
    /// The socket the step hands its listener over on, until it has.
    handover: Option<OwnedFd>,
    /// The seccomp listener, once handed over and while any step process lives.
    listener: Option<OwnedFd>,
    paths: PathRules,
    /// UDP sockets given a pretended `connect` to a DNS server, by (tgid, fd).
    dns_sockets: HashMap<(i32, i32), (Destination, NetworkAttempt)>,
    /// Stand-in resolvers put at those sockets' fds, reading queries sent with `write`.
    stand_ins: Vec<StandIn>,
    /// The first [`MAX_NETWORK_ATTEMPTS`] distinct attempts, in the order seen.
    network: Vec<NetworkAttempt>,
    /// The same, for finding repeats at once (resolvers retry).
    recorded: HashSet<NetworkAttempt>,
    /// Fingerprints of the distinct attempts beyond those, counted only.
    omitted: HashSet<u64>,
    undeclared: BTreeSet<String>,
    /// Statically linked programs the step executed (module `execs`).
    static_programs: BTreeSet<String>,
    /// Absolute paths already classified: a path opened again (a build reads the same
    /// headers over and over) costs no more look-ups on the host.
    classified: HashSet<PathBuf>,
    /// The tripwire file system: waiting for init to send its device, then served.
    tripwire: TripwireState,
}

/// Where the tripwire (module `tripwire`) stands.
enum TripwireState {
    /// Opens are observed with seccomp only.
    Off,
    /// Init has not sent the FUSE device yet, on this socket.
    Waiting {
        socket: OwnedFd,
        policy: Box<Policy>,
    },
    /// Being served.
    Serving(Box<Tripwire>),
}

impl Supervisor {
    /// A supervisor waiting for the listener on `handover` and, when opens are observed
    /// by the tripwire, for its device on `tripwire` (with the layout, and host paths
    /// never to report beside the spec's).
    pub(crate) fn new(
        spec: &SandboxSpec,
        handover: OwnedFd,
        tripwire: Option<(OwnedFd, Layout, Vec<PathBuf>)>,
    ) -> Self {
        let tripwire = match tripwire {
            Some((socket, layout, extra)) => TripwireState::Waiting {
                socket,
                policy: Box::new(Policy::new(spec, layout, &extra)),
            },
            None => TripwireState::Off,
        };
        Supervisor {
            tripwire,
            handover: Some(handover),
            listener: None,
            paths: PathRules::new(spec),
            dns_sockets: HashMap::new(),
            stand_ins: Vec::new(),
            network: Vec::new(),
            recorded: HashSet::new(),
            omitted: HashSet::new(),
            undeclared: BTreeSet::new(),
            static_programs: BTreeSet::new(),
            classified: HashSet::new(),
        }
    }

    /// The fds to poll for readability: the hand-over socket or the listener.
    pub(crate) fn poll_fds(&self) -> Vec<libc::pollfd> {
        let tripwire = match &self.tripwire {
            TripwireState::Off => None,
            TripwireState::Waiting { socket, .. } => Some(socket.as_raw_fd()),
            TripwireState::Serving(server) => server.poll_fd(),
        };
        [&self.handover, &self.listener]
            .into_iter()
            .flatten()
            .map(AsRawFd::as_raw_fd)
            .chain(tripwire)
            .chain(self.stand_ins.iter().map(StandIn::poll_fd))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect()
    }

    /// Serves whatever `polled` (the result for [`Self::poll_fds`]) says is ready.
    pub(crate) fn serve(&mut self, polled: &[libc::pollfd]) {
        for pfd in polled {
            if pfd.revents == 0 {
                continue;
            }
            let is_handover = self.handover.as_ref().map(AsRawFd::as_raw_fd) == Some(pfd.fd);
            let is_listener = self.listener.as_ref().map(AsRawFd::as_raw_fd) == Some(pfd.fd);
            if let Some(at) = self.stand_ins.iter().position(|s| s.poll_fd() == pfd.fd) {
                self.serve_stand_in(at, pfd.revents);
            } else if !is_handover && !is_listener {
                self.serve_tripwire(pfd.revents);
            } else if is_handover {
                self.take_listener(pfd.revents);
            } else if pfd.revents & libc::POLLIN != 0 {
                self.answer_one();
            } else {
                // POLLHUP: every process that could notify is gone.
                self.listener = None;
            }
        }
    }

    /// Records the queries a stand-in resolver received (the pretended `connect` is
    /// then no longer pending); drops it when the step closed its end.
    fn serve_stand_in(&mut self, at: usize, revents: i16) {
        if revents & libc::POLLIN == 0 {
            self.stand_ins.swap_remove(at);
            return;
        }
        let queries = self.stand_ins[at].take_queries();
        if !queries.is_empty() {
            self.dns_sockets.remove(&self.stand_ins[at].key);
        }
        for attempt in queries {
            self.record(attempt);
        }
    }

    /// Takes the tripwire's device from init, or answers its requests.
    fn serve_tripwire(&mut self, revents: i16) {
        match std::mem::replace(&mut self.tripwire, TripwireState::Off) {
            TripwireState::Off => {}
            TripwireState::Serving(mut server) => {
                server.serve();
                self.tripwire = TripwireState::Serving(server);
            }
            TripwireState::Waiting { socket, policy } => {
                if revents & libc::POLLIN == 0 {
                    return;
                }
                if let Ok(device) = receive_fd(&socket) {
                    let server = Tripwire::new(device, *policy);
                    self.tripwire = TripwireState::Serving(Box::new(server));
                }
            }
        }
    }

    /// The findings, once the step is over.
    pub(crate) fn finish(mut self) -> SandboxFindings {
        let unsent: Vec<NetworkAttempt> = self.dns_sockets.drain().map(|(_, (_, a))| a).collect();
        for attempt in unsent {
            self.record(attempt);
        }
        if let TripwireState::Serving(server) =
            std::mem::replace(&mut self.tripwire, TripwireState::Off)
        {
            self.undeclared.extend(server.findings());
        }
        SandboxFindings {
            network: self.network,
            network_omitted: self.omitted.len() as u64,
            undeclared: self.undeclared.into_iter().collect(),
            limits: Vec::new(),
            static_programs: self.static_programs.into_iter().collect(),
        }
    }

    /// Receives the listener's fd number from the step, copies the fd, acknowledges.
    fn take_listener(&mut self, revents: i16) {
        let Some(handover) = self.handover.take() else {
            return;
        };
        if revents & libc::POLLIN == 0 {
            return;
        }
        match receive_listener(&handover) {
            Ok(listener) => {
                sync_wake_up(&listener);
                self.listener = Some(listener);
                let _ = nix::unistd::write(&handover, b"k");
            }
            Err(err) => eprintln!("reprobe sandbox: cannot take the seccomp listener: {err}"),
        }
    }

    /// Receives one notification, decides and answers.
    fn answer_one(&mut self) {
        let Some(listener) = self.listener.as_ref().map(AsRawFd::as_raw_fd) else {
            return;
        };
        let Some(call) = receive(listener) else {
            return;
        };
        let answer = self.decide(listener, &call);
        respond(listener, call.id, answer);
    }

    fn decide(&mut self, listener: RawFd, call: &Call) -> Answer {
        match call.nr {
            libc::SYS_connect => self.on_connect(listener, call),
            libc::SYS_sendto | libc::SYS_sendmsg | libc::SYS_sendmmsg => {
                self.on_send(listener, call)
            }
            // Only network calls of 32-bit code are notified.
            _ if call.compat => Answer::Continue,
            libc::SYS_execve | libc::SYS_execveat => {
                self.on_exec(call);
                Answer::Continue
            }
            _ => {
                self.on_open(listener, call);
                Answer::Continue
            }
        }
    }

    fn on_connect(&mut self, listener: RawFd, call: &Call) -> Answer {
        let len = (call.args[2] as usize).min(128);
        let Some(dest) = read_mem(call.pid, call.args[1], len)
            .ok()
            .and_then(|b| parse_sockaddr(&b))
        else {
            return Answer::Continue;
        };
        let fd = call.args[0] as i32;
        match &dest {
            Destination::Unix(path) if RESOLVER_SOCKETS.contains(&path.as_str()) => {
                let process = thread_group(call.pid);
                if let Some(attempt) = attempt(listener, call, process, &dest, None) {
                    self.record(attempt);
                }
                Answer::Continue
            }
            Destination::Inet(..) | Destination::Inet6(..) => {
                self.on_ip_connect(listener, call, fd, dest)
            }
            _ => Answer::Continue,
        }
    }

    fn on_ip_connect(
        &mut self,
        listener: RawFd,
        call: &Call,
        fd: i32,
        dest: Destination,
    ) -> Answer {
        let tgid = thread_group(call.pid);
        self.dns_sockets.remove(&(tgid, fd));
        self.stand_ins.retain(|s| s.key != (tgid, fd));
        if dest.is_loopback() && !dest.is_dns() {
            return Answer::Continue;
        }
        let Some(attempt) = attempt(listener, call, tgid, &dest, None) else {
            return Answer::Continue;
        };
        // Only a DNS destination needs the socket (its type, its flags): other denied
        // connects cost no more look-ups.
        let dns_datagram = dest
            .is_dns()
            .then(|| step_socket(tgid, fd))
            .flatten()
            .filter(|s| socket_type(s) == Some(libc::SOCK_DGRAM));
        if let Some(socket) = dns_datagram {
            let key = (tgid, fd);
            let stand_in = StandIn::install(
                listener,
                call.id,
                call.pid,
                fd,
                &socket,
                key,
                attempt.clone(),
            );
            self.stand_ins.extend(stand_in);
            self.dns_sockets.insert(key, (dest, attempt));
            return Answer::Succeed;
        }
        self.record(attempt);
        Answer::Fail(Errno::ENETUNREACH)
    }

    fn on_send(&mut self, listener: RawFd, call: &Call) -> Answer {
        let fd = call.args[0] as i32;
        let Some((explicit, payload)) = read_send(call) else {
            return Answer::Continue;
        };
        let tgid = thread_group(call.pid);
        let dest = match explicit {
            Some(dest) => dest,
            None => match self.dns_sockets.get(&(tgid, fd)) {
                Some((dest, _)) => dest.clone(),
                None => return Answer::Continue,
            },
        };
        let is_ip = matches!(dest, Destination::Inet(..) | Destination::Inet6(..));
        if !is_ip || (dest.is_loopback() && !dest.is_dns()) {
            return Answer::Continue;
        }
        let name = if dest.is_dns() {
            dns_query_name(&payload, false).or_else(|| dns_query_name(&payload, true))
        } else {
            None
        };
        if let Some(attempt) = attempt(listener, call, tgid, &dest, name) {
            self.dns_sockets.remove(&(tgid, fd));
            self.record(attempt);
        }
        Answer::Fail(Errno::ENETUNREACH)
    }

    fn on_open(&mut self, listener: RawFd, call: &Call) {
        #[cfg(target_arch = "x86_64")]
        let (dirfd, path_ptr) = if call.nr == libc::SYS_open {
            (libc::AT_FDCWD, call.args[0])
        } else {
            (call.args[0] as i32, call.args[1])
        };
        #[cfg(not(target_arch = "x86_64"))]
        let (dirfd, path_ptr) = (call.args[0] as i32, call.args[1]);
        let Ok(raw) = read_c_string(call.pid, path_ptr) else {
            return;
        };
        let path = Path::new(OsStr::from_bytes(&raw));
        let absolute = if path.is_absolute() {
            normalize(path)
        } else {
            let Some(base) = base_dir(call.pid, dirfd) else {
                return;
            };
            normalize(&base.join(path))
        };
        if self.classified.contains(&absolute) {
            return;
        }
        let found = self.paths.classify(&absolute, call.pid);
        // Only a classification made while the caller still waited is kept: the pid's
        // view (`/proc/PID/root`) was then the step's.
        if notification_valid(listener, call.id) {
            self.undeclared.extend(found);
            self.classified.insert(absolute);
        }
    }

    /// Records the program an exec call names when it is statically linked (at most
    /// [`MAX_STATIC_PROGRAMS`] of them).
    fn on_exec(&mut self, call: &Call) {
        if self.static_programs.len() >= MAX_STATIC_PROGRAMS {
            return;
        }
        let is_execveat = call.nr == libc::SYS_execveat;
        let target = execs::exec_target(call.pid, is_execveat, &call.args, |at| {
            read_c_string(call.pid, at)
        });
        if let Some((path, mut file)) = target {
            if execs::is_static_elf(&mut file) {
                self.static_programs
                    .insert(normalize(&path).to_string_lossy().into_owned());
            }
        }
    }

    /// Adds an attempt unless the same one is recorded already (resolvers retry); past
    /// [`MAX_NETWORK_ATTEMPTS`] distinct ones, a new one is only counted.
    fn record(&mut self, attempt: NetworkAttempt) {
        record_attempt(
            &mut self.network,
            &mut self.recorded,
            &mut self.omitted,
            attempt,
        );
    }
}

/// [`Supervisor::record`]: each distinct attempt is recorded once, in the order seen, up
/// to [`MAX_NETWORK_ATTEMPTS`]; distinct ones beyond are kept as fingerprints and counted.
/// Every call costs a hash look-up, however many attempts came before.
fn record_attempt(
    network: &mut Vec<NetworkAttempt>,
    recorded: &mut HashSet<NetworkAttempt>,
    omitted: &mut HashSet<u64>,
    attempt: NetworkAttempt,
) {
    if recorded.contains(&attempt) {
        return;
    }
    if network.len() < MAX_NETWORK_ATTEMPTS {
        recorded.insert(attempt.clone());
        network.push(attempt);
        return;
    }
    use std::hash::BuildHasher;
    // A 64-bit fingerprint: it only tells attempts of one step apart.
    let fingerprint =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(&attempt);
    omitted.insert(fingerprint);
}

/// The attempt record for `call` to `dest`, or `None` if the caller is gone already.
/// `process` is the caller's thread group: an attempt names the process, not the thread
/// that made the call.
fn attempt(
    listener: RawFd,
    call: &Call,
    process: i32,
    dest: &Destination,
    dns_name: Option<String>,
) -> Option<NetworkAttempt> {
    let argv = command_line(process);
    let pid = sandbox_pid(process).unwrap_or(process);
    notification_valid(listener, call.id).then(|| NetworkAttempt {
        pid,
        argv,
        family: dest.family(),
        address: dest.address(),
        port: dest.port(),
        dns_name,
    })
}

/// The destination and the first bytes of the payload of a `sendto`/`sendmsg`/`sendmmsg`.
fn read_send(call: &Call) -> Option<(Option<Destination>, Vec<u8>)> {
    if call.nr == libc::SYS_sendto {
        let addr = read_sockaddr(call.pid, call.args[4], call.args[5]);
        let payload = read_mem(call.pid, call.args[1], (call.args[2] as usize).min(MAX_DNS));
        return Some((addr, payload.unwrap_or_default()));
    }
    // sendmsg: a msghdr; sendmmsg: an array of mmsghdr, whose first is read. Its fields
    // are words (8 bytes, or 4 in 32-bit code): name, name length (a 4-byte integer in a
    // word's place), iovec array, its length. An iovec is two words: base and length.
    let word = if call.compat { 4 } else { 8 };
    let header = read_mem(call.pid, call.args[1], 4 * word).ok()?;
    let addr = read_sockaddr(call.pid, field(&header, 0, word), field(&header, word, 4));
    let (iov, iovlen) = (
        field(&header, 2 * word, word),
        field(&header, 3 * word, word),
    );
    let payload = if iovlen == 0 {
        Vec::new()
    } else {
        read_mem(call.pid, iov, 2 * word)
            .ok()
            .and_then(|v| {
                let (base, len) = (field(&v, 0, word), field(&v, word, word));
                read_mem(call.pid, base, (len as usize).min(MAX_DNS)).ok()
            })
            .unwrap_or_default()
    };
    Some((addr, payload))
}

/// The native-endian unsigned integer of `width` (4 or 8) bytes at `at` of `bytes`; 0
/// where `bytes` ends first.
fn field(bytes: &[u8], at: usize, width: usize) -> u64 {
    match bytes.get(at..at + width) {
        Some(b) if width == 4 => b.try_into().map_or(0, |b| u64::from(u32::from_ne_bytes(b))),
        Some(b) => b.try_into().map_or(0, u64::from_ne_bytes),
        None => 0,
    }
}

fn read_sockaddr(pid: i32, ptr: u64, len: u64) -> Option<Destination> {
    if ptr == 0 || len == 0 {
        return None;
    }
    parse_sockaddr(&read_mem(pid, ptr, (len as usize).min(128)).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pid: i32, name: &str) -> NetworkAttempt {
        NetworkAttempt {
            pid,
            argv: vec!["python3".into()],
            family: "inet".into(),
            address: "127.0.0.53".into(),
            port: 53,
            dns_name: Some(name.into()),
        }
    }

    #[test]
    fn network_attempts_are_recorded_once_and_capped_with_a_count_of_the_rest() {
        let (mut network, mut recorded, mut omitted) = (Vec::new(), HashSet::new(), HashSet::new());
        for round in 0..2 {
            for i in 0..30_000 {
                let attempt = query(7, &format!("host{i}.example"));
                record_attempt(&mut network, &mut recorded, &mut omitted, attempt);
            }
            // The second round repeats every attempt: nothing new is recorded or counted.
            assert_eq!(network.len(), MAX_NETWORK_ATTEMPTS, "round {round}");
            assert_eq!(
                omitted.len(),
                30_000 - MAX_NETWORK_ATTEMPTS,
                "round {round}"
            );
        }
        assert_eq!(network[0].dns_name.as_deref(), Some("host0.example"));
        assert_eq!(network[99].dns_name.as_deref(), Some("host99.example"));
    }
}
