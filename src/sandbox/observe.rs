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
//!   a path in a home directory, or an `/etc` file beyond [`ETC_ALLOWED`].
//!
//! Opens reach this supervisor only as the fallback: normally the tripwire file system
//! (module `tripwire`, served from the same poll loop) records them, once per path
//! instead of once per call, and the step's filter leaves opens out. Here the `stat`
//! family is not observed: every observed call costs a round trip through the
//! supervisor, and stat calls outnumber opens in most builds (see `benches/observe.sh`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use super::execs;
use super::resolver::StandIn;
use super::tripwire::{Layout, Policy, Tripwire};
use super::wire::{dns_query_name, parse_sockaddr, Destination, RESOLVER_SOCKETS};
use super::SandboxSpec;
use crate::fsafe::beneath;
use crate::model::findings::{NetworkAttempt, SandboxFindings, MAX_NETWORK_ATTEMPTS};
use crate::model::lexical_path::normalize_abs as normalize;

/// `/etc` files a step may read without a finding: the C library's and loader's own
/// configuration, and the sandbox's generated user database.
pub const ETC_ALLOWED: [&str; 17] = [
    "ld.so.cache",
    "ld.so.preload",
    "ld.so.conf",
    "ld.so.conf.d/",
    "passwd",
    "group",
    "nsswitch.conf",
    "localtime",
    "timezone",
    "hosts",
    "host.conf",
    "resolv.conf",
    "gai.conf",
    "services",
    "protocols",
    "locale.alias",
    "alternatives/",
];

/// Most statically linked programs recorded per step.
const MAX_STATIC_PROGRAMS: usize = 32;
/// Longest path or payload read from a step's memory.
const MAX_READ: usize = 4096;
/// Longest DNS message prefix read.
const MAX_DNS: usize = 512;
/// Page size used to split reads that may end at unmapped memory.
const PAGE: u64 = 4096;

/// The answer to one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Let the call run as the step made it.
    Continue,
    /// Pretend it succeeded with return value 0, without running it.
    Succeed,
    /// Fail it with this errno.
    Fail(Errno),
}

/// What one notification asked about, with what was read from the step.
struct Call {
    id: u64,
    /// Thread id in the helper's (host) pid namespace.
    pid: i32,
    /// The native number of the call (a 32-bit call's is translated).
    nr: i64,
    args: [u64; 6],
    /// A 32-bit call: its pointers and structures are 32-bit ones.
    compat: bool,
}

/// The helper's side of the observation of one step.
pub(super) struct Supervisor {
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
    pub(super) fn new(
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
    pub(super) fn poll_fds(&self) -> Vec<libc::pollfd> {
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
    pub(super) fn serve(&mut self, polled: &[libc::pollfd]) {
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
    pub(super) fn finish(mut self) -> SandboxFindings {
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

/// How paths seen in the sandbox map to findings.
struct PathRules {
    /// The work directory inside.
    workdir: PathBuf,
    /// The work directory on the host.
    host_workdir: PathBuf,
    /// The project on the host (hidden inside).
    project: Option<PathBuf>,
    /// Host directories below the project that are never findings (the store).
    ignored: Vec<PathBuf>,
    /// Home directories: the host's and the step's `HOME`.
    homes: Vec<PathBuf>,
}

impl PathRules {
    fn new(spec: &SandboxSpec) -> Self {
        let mut homes = vec![PathBuf::from("/home"), PathBuf::from("/root")];
        homes.push(spec.user.home.clone());
        homes.extend(spec.env.get("HOME").map(PathBuf::from));
        homes.retain(|h| h.is_absolute() && h.components().count() > 1);
        PathRules {
            workdir: spec.workdir.clone(),
            host_workdir: spec.host_workdir.clone(),
            project: spec.observation.project_root.clone(),
            ignored: spec.observation.ignored.clone(),
            homes,
        }
    }

    /// The finding for an opened absolute (normalized) sandbox path, if any.
    fn classify(&self, path: &Path, pid: i32) -> Option<String> {
        if let Ok(rel) = path.strip_prefix(&self.workdir) {
            return self.undeclared_project_file(rel, Some(pid));
        }
        if let Some(rel) = self
            .project
            .as_ref()
            .and_then(|p| path.strip_prefix(p).ok())
        {
            return self.undeclared_project_file(rel, None);
        }
        if self.homes.iter().any(|home| path.starts_with(home)) {
            return Some(path.display().to_string());
        }
        if let Ok(rel) = path.strip_prefix("/etc") {
            return self.etc_finding(rel, path, pid);
        }
        None
    }

    /// `rel` (inside the project) when the project has it and the step cannot see it.
    /// `in_workdir` is the pid of a process that opened it relative to its work directory.
    fn undeclared_project_file(&self, rel: &Path, in_workdir: Option<i32>) -> Option<String> {
        let project = self.project.as_ref()?;
        if rel.as_os_str().is_empty() {
            return None;
        }
        let host = project.join(rel);
        if self.ignored.iter().any(|dir| host.starts_with(dir)) {
            return None;
        }
        if let Some(pid) = in_workdir {
            // The work directory is a tmpfs inside the sandbox: look at the step's view.
            let inside = self.workdir.join(rel);
            // Both looks stay where they belong: links the step made resolve in its own
            // root, and none is followed in the host's copy of its work directory.
            let step_root = PathBuf::from(format!("/proc/{pid}/root"));
            let inside = inside.strip_prefix("/").unwrap_or(&inside);
            if beneath::exists_in_root(&step_root, inside, false)
                || beneath::lstat_beneath(&self.host_workdir, rel).is_some()
            {
                return None;
            }
        }
        fs::symlink_metadata(&host).ok()?;
        Some(rel.display().to_string())
    }

    /// An `/etc` path beyond the allow-list that exists in the step's view.
    fn etc_finding(&self, rel: &Path, path: &Path, pid: i32) -> Option<String> {
        let text = rel.to_str().unwrap_or_default();
        if text.is_empty() || etc_is_toolchain(text) {
            return None;
        }
        let step_root = PathBuf::from(format!("/proc/{pid}/root"));
        beneath::exists_in_root(&step_root, path.strip_prefix("/").ok()?, true)
            .then(|| path.display().to_string())
    }
}

/// True for an `/etc`-relative path in [`ETC_ALLOWED`] (entries ending in `/` are trees),
/// or in a toolchain's own configuration that Debian keeps in `/etc` and the toolchain
/// opens through a symlink in `/usr/lib` at every start: Python's
/// (`/etc/python3.11/sitecustomize.py`) and the JDK's (`/etc/java-17-openjdk/`, read by
/// every `java`, `javac` and `jar`). They belong to the tool, like its binary.
pub(super) fn etc_allowed(rel: &str) -> bool {
    let first = rel.split('/').next().unwrap_or_default();
    if first.starts_with("python3") || first.starts_with("java-") {
        return true;
    }
    ETC_ALLOWED
        .iter()
        .any(|allowed| match allowed.strip_suffix('/') {
            Some(dir) => rel == dir || rel.starts_with(allowed),
            None => rel == *allowed,
        })
}

/// Whether reading `/etc/REL` is part of the toolchain: allow-listed, or a file of an
/// installed package (module `packages`). The sandbox's own `hostname` never is: the
/// host name is one of the variations.
pub(super) fn etc_is_toolchain(rel: &str) -> bool {
    etc_allowed(rel)
        || (rel != "hostname" && super::packages::owned_by_a_package(&Path::new("/etc").join(rel)))
}

/// The directory a relative path of the call is resolved against, as the step sees it.
fn base_dir(pid: i32, dirfd: i32) -> Option<PathBuf> {
    let link = if dirfd == libc::AT_FDCWD {
        format!("/proc/{pid}/cwd")
    } else {
        format!("/proc/{pid}/fd/{dirfd}")
    };
    fs::read_link(link).ok().filter(|p| p.is_absolute())
}

/// Receives the fd number sent by the step, with its credentials, and copies the fd.
fn receive_listener(handover: &OwnedFd) -> io::Result<OwnedFd> {
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
fn receive_fd(socket: &OwnedFd) -> io::Result<OwnedFd> {
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

/// Asks the kernel to hand each notification over on the current CPU (Linux 6.6+), which
/// roughly halves a round trip; older kernels refuse and nothing changes.
fn sync_wake_up(listener: &OwnedFd) {
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
fn receive(listener: RawFd) -> Option<Call> {
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
    if arch == super::seccomp::I386_ARCH {
        let native = super::seccomp::I386_NETWORK_CALLS
            .iter()
            .find(|(i386, _)| *i386 as i32 == nr)
            .map_or(-1, |(_, native)| *native);
        return (native, true);
    }
    let _ = arch;
    (i64::from(nr), false)
}

/// `SECCOMP_IOCTL_NOTIF_SEND`; a vanished caller makes it fail, which is fine.
fn respond(listener: RawFd, id: u64, answer: Answer) {
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
fn notification_valid(listener: RawFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: the ioctl reads a u64 from the pointer.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
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

/// Reads `len` bytes at `addr` of process `pid` (fewer if memory ends first).
fn read_mem(pid: i32, addr: u64, len: usize) -> io::Result<Vec<u8>> {
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
fn read_c_string(pid: i32, addr: u64) -> io::Result<Vec<u8>> {
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
fn command_line(pid: i32) -> Vec<String> {
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
fn sandbox_pid(pid: i32) -> Option<i32> {
    status_field(pid, "NSpid:")
}

/// The process (thread group) a thread belongs to.
fn thread_group(pid: i32) -> i32 {
    status_field(pid, "Tgid:").unwrap_or(pid)
}

/// A copy of fd `fd` of process (thread group) `tgid` (`pidfd_getfd`). A pidfd names a
/// thread group: `pidfd_open` refuses a thread that is not its leader, and a resolver
/// often runs in one (curl's, a Python thread's).
fn step_socket(tgid: i32, fd: i32) -> Option<OwnedFd> {
    let pidfd = pidfd_open(tgid).ok()?;
    pidfd_getfd(&pidfd, fd).ok()
}

/// `SO_TYPE` of a socket.
fn socket_type(socket: &OwnedFd) -> Option<i32> {
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::sandbox::{Observation, SandboxUser};
    use std::collections::BTreeMap;

    fn rules(project: &Path, host_work: &Path) -> PathRules {
        PathRules::new(&spec(project, host_work))
    }

    /// A step of `project` whose prepared work directory is `host_work`, seen inside
    /// at `/build/compile`, with the store at `project/.reprobe`.
    pub(in crate::sandbox) fn spec(project: &Path, host_work: &Path) -> SandboxSpec {
        SandboxSpec {
            argv: vec!["true".into()],
            env: BTreeMap::from([("HOME".into(), "/homeless-shelter".into())]),
            host_workdir: host_work.to_path_buf(),
            workdir: "/build/compile".into(),
            hidden: vec![],
            hostname: "h".into(),
            domainname: "d".into(),
            user: SandboxUser {
                uid: 1000,
                gid: 1000,
                name: "b".into(),
                group: "b".into(),
                home: "/homeless-shelter".into(),
            },
            umask: 0o022,
            cpus: None,
            network: false,
            timeout_secs: 1.0,
            limits: crate::sandbox::Limits::default(),
            stdout: "/dev/null".into(),
            stderr: "/dev/null".into(),
            observation: Observation {
                project_root: Some(project.to_path_buf()),
                ignored: vec![project.join(".reprobe")],
                ..Observation::default()
            },
            clock_offset_secs: None,
        }
    }

    #[test]
    fn project_files_missing_from_the_work_dir_are_findings() {
        let project = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        fs::create_dir_all(project.path().join("src")).unwrap();
        fs::create_dir_all(project.path().join(".reprobe")).unwrap();
        fs::write(project.path().join("src/config.h"), "").unwrap();
        fs::write(project.path().join("src/hello.c"), "").unwrap();
        fs::create_dir_all(work.path().join("src")).unwrap();
        fs::write(work.path().join("src/hello.c"), "").unwrap();
        let rules = rules(project.path(), work.path());
        let pid = std::process::id() as i32;
        let at = |p: &str| rules.classify(Path::new(p), pid);
        assert_eq!(
            at("/build/compile/src/config.h").as_deref(),
            Some("src/config.h")
        );
        assert_eq!(at("/build/compile/src/hello.c"), None);
        assert_eq!(at("/build/compile/src/absent.h"), None);
        let absolute = project.path().join("src/config.h");
        assert_eq!(
            at(absolute.to_str().unwrap()).as_deref(),
            Some("src/config.h")
        );
        assert_eq!(at(project.path().join(".reprobe").to_str().unwrap()), None);
        assert_eq!(at("/usr/include/stdio.h"), None);
    }

    #[test]
    fn home_paths_and_unlisted_etc_files_are_findings() {
        let dir = tempfile::tempdir().unwrap();
        let rules = rules(dir.path(), dir.path());
        let pid = std::process::id() as i32;
        assert_eq!(
            rules
                .classify(Path::new("/homeless-shelter/.config/x"), pid)
                .as_deref(),
            Some("/homeless-shelter/.config/x")
        );
        assert_eq!(rules.classify(Path::new("/etc/passwd"), pid), None);
        assert_eq!(
            rules.classify(Path::new("/etc/ld.so.conf.d/x.conf"), pid),
            None
        );
        assert_eq!(
            rules.classify(Path::new("/etc/no-such-file-here"), pid),
            None
        );
    }

    #[test]
    fn the_allow_list_matches_files_and_trees_exactly() {
        assert!(etc_allowed("passwd"));
        assert!(etc_allowed("alternatives/cc"));
        assert!(!etc_allowed("passwd-"));
        assert!(!etc_allowed("hostname"));
        assert!(etc_allowed("java-17-openjdk/security/java.security"));
        assert!(etc_allowed("python3.11/sitecustomize.py"));
        assert!(!etc_allowed("javascript-common/x"));
    }

    #[test]
    fn normalize_resolves_dots_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../x")), PathBuf::from("/x"));
        assert_eq!(
            normalize(Path::new("/build/s/../s/src/config.h")),
            PathBuf::from("/build/s/src/config.h")
        );
    }

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
