//! The tripwire: a read-only FUSE file system, served by the helper, that records which
//! paths a step looks for where it should not, at the cost of one round trip per *path*
//! instead of one per open (the kernel caches every answer, negative ones included).
//!
//! Observing each open with seccomp costs a round trip through the supervisor per call
//! (about 20 microseconds, more than the open itself). The tripwire moves the recording
//! into the file system the step walks:
//!
//! - `/etc` is a mirror of the host's: the allow-listed entries are bound from the host
//!   over it (so the loader's and C library's files never reach reprobe); opening any
//!   other file or directory is served here and recorded.
//! - the hidden home directories (`/home`, `/root`) and the project's own path show the
//!   host's directories, empty; looking up any file there fails with `ENOENT` and is
//!   recorded when the host has that file.
//! - when the names looked up in the work directory are observed too (`check`, a failed
//!   step's re-run: `Observation::work_names`), the work directory is an overlay
//!   whose lower layer is this file system: a name the work directory lacks is looked up
//!   here, and recorded when the project has it (a relative `#include "config.h"` of an
//!   undeclared header). Names the step creates itself (its outputs) are dropped when the
//!   step is over. The overlay costs about 2.7 microseconds on every open in the work
//!   directory, so `build` does without it by default.
//!
//! Init mounts the file system (it must open `/dev/fuse` inside the step's user
//! namespace) and sends the device fd to the helper over a socket; the helper serves it
//! in its poll loop, next to the seccomp listener. Requests from init itself (pid 1:
//! setting the mounts up, copying the work directory back) are served but never
//! recorded. When anything of this fails, opens are observed with seccomp as before.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::stat::SFlag;

use super::fuse::{self, op, Attr, Request};
use super::layout::{Layout, Tree, TreeKind};
use super::paths::etc_is_toolchain;
use crate::fsafe::beneath;
use crate::sandbox::generated_etc::generated_etc;
use crate::sandbox::spec::SandboxSpec;

/// How long the kernel may cache an answer (the host side does not change during a step).
const VALID_SECS: u64 = 86_400;
/// The id the sandbox shows for host files (the kernel's overflow id).
const NOBODY: u32 = 65_534;
/// Read buffer: larger than any request of a read-only file system.
const REQUEST_BUFFER: usize = 1 << 17;
/// Requests answered per wake-up of the helper's poll loop.
const REQUESTS_PER_WAKE: usize = 64;

/// A node the kernel knows: the tree it belongs to (none: the root) and its path in it.
struct Node {
    tree: Option<usize>,
    rel: PathBuf,
    attr: Attr,
}

/// An open file or directory listing.
enum Handle {
    File(File),
    /// A file made up for the sandbox ([`generated_etc`]).
    Bytes(Vec<u8>),
    Dir(Vec<(u64, u32, Vec<u8>)>),
}

/// What the tripwire of one step answers, known before init sends the device.
pub(crate) struct Policy {
    layout: Layout,
    /// Host paths never reported (the store, the step's outputs, reprobe's own files).
    ignored: Vec<PathBuf>,
    /// The prepared work directory on the host: what the step's work directory held.
    staging: PathBuf,
    /// The `/etc` files made up for the sandbox ([`generated_etc`]), served instead of
    /// the host's. Reading `hostname` is recorded (the host name is one of the
    /// variations); the others are allow-listed.
    generated: Vec<(&'static str, Vec<u8>)>,
    /// How a directory the step could have made itself looks: owned by the build user,
    /// with the mode its umask gives `mkdir`.
    own_dir: Attr,
}

impl Policy {
    /// The policy for `spec`'s `layout`; `extra` are host paths never to report beside
    /// the spec's (reprobe's scratch directory).
    pub(crate) fn new(spec: &SandboxSpec, layout: Layout, extra: &[PathBuf]) -> Self {
        let mut ignored = spec.observation.ignored.clone();
        ignored.extend(extra.iter().cloned());
        ignored.push(spec.host_workdir.clone());
        Policy {
            layout,
            ignored,
            staging: spec.host_workdir.clone(),
            generated: generated_etc(spec)
                .into_iter()
                .map(|(name, contents, _)| (name, contents.into_bytes()))
                .collect(),
            own_dir: Attr {
                mode: libc::S_IFDIR | (0o777 & !spec.umask),
                uid: spec.user.uid,
                gid: spec.user.gid,
                ..dir_attr()
            },
        }
    }
}

impl Policy {
    /// The contents of the made-up `/etc` file at `rel` (relative to `/etc`), if any.
    fn generated_file(&self, rel: &Path) -> Option<&[u8]> {
        self.generated
            .iter()
            .find(|(name, _)| rel == Path::new(name))
            .map(|(_, contents)| contents.as_slice())
    }
}

/// The helper's side: serves the FUSE device and collects what the step looked for.
pub(crate) struct Tripwire {
    device: OwnedFd,
    policy: Policy,
    nodes: Vec<Node>,
    node_ids: HashMap<(usize, PathBuf), u64>,
    handles: HashMap<u64, Handle>,
    next_handle: u64,
    found: BTreeSet<String>,
    /// Project-relative names looked for in the work directory, kept unless the step
    /// created them itself.
    work_found: BTreeSet<PathBuf>,
    buffer: Vec<u8>,
    alive: bool,
}

impl Tripwire {
    /// Serves `device` (made non-blocking) with `policy`.
    pub(crate) fn new(device: OwnedFd, policy: Policy) -> Self {
        if let Ok(flags) = fcntl(device.as_raw_fd(), FcntlArg::F_GETFL) {
            let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
            let _ = fcntl(device.as_raw_fd(), FcntlArg::F_SETFL(flags));
        }
        let root = Node {
            tree: None,
            rel: PathBuf::new(),
            attr: Attr {
                ino: fuse::ROOT_ID,
                ..dir_attr()
            },
        };
        Tripwire {
            device,
            policy,
            // Node ids are indexes + 1 (id 0 means "no node" on the wire).
            nodes: vec![root],
            node_ids: HashMap::new(),
            handles: HashMap::new(),
            next_handle: 1,
            found: BTreeSet::new(),
            work_found: BTreeSet::new(),
            buffer: vec![0; REQUEST_BUFFER],
            alive: true,
        }
    }

    /// The device fd to poll, while the file system is mounted.
    pub(crate) fn poll_fd(&self) -> Option<i32> {
        self.alive.then(|| self.device.as_raw_fd())
    }

    /// Answers the requests waiting on the device, at most [`REQUESTS_PER_WAKE`] of them
    /// so that the helper's poll loop still sees the timeout and init's end.
    pub(crate) fn serve(&mut self) {
        for _ in 0..REQUESTS_PER_WAKE {
            if !self.alive {
                return;
            }
            // SAFETY: the buffer is valid for writes of its length.
            let n = unsafe {
                libc::read(
                    self.device.as_raw_fd(),
                    self.buffer.as_mut_ptr().cast(),
                    self.buffer.len(),
                )
            };
            if n < 0 {
                match Errno::last() {
                    Errno::EINTR | Errno::ENOENT => continue,
                    Errno::EAGAIN => return,
                    _ => {
                        self.alive = false;
                        return;
                    }
                }
            }
            let len = n as usize;
            let buffer = std::mem::take(&mut self.buffer);
            if let Some(request) = Request::parse(&buffer[..len]) {
                self.answer(&request);
            }
            self.buffer = buffer;
        }
    }

    /// What the step looked for, once it is over: the work directory's names are kept
    /// only when the work directory (copied back to `staging`) does not have them now.
    pub(crate) fn findings(self) -> BTreeSet<String> {
        let mut found = self.found;
        let project = self
            .policy
            .layout
            .work_tree()
            .map(|tree| self.policy.layout.trees[tree].host.clone());
        for rel in self.work_found {
            // The copied-back work directory is the step's: no link in it is followed.
            if beneath::lstat_beneath(&self.policy.staging, &rel).is_some() {
                continue;
            }
            // A directory the work directory lacks hides what below it was sought: it is
            // shown as a directory ("src/sub/"), whatever the step looked for inside.
            let is_dir = project.as_ref().is_some_and(|p| p.join(&rel).is_dir());
            let slash = if is_dir { "/" } else { "" };
            found.insert(format!("{}{slash}", rel.display()));
        }
        found
    }

    fn answer(&mut self, request: &Request) {
        let recorded = request.pid > 1;
        let result = match request.opcode {
            op::INIT => fuse::init_out(request.body).ok_or(Errno::EPROTO),
            op::LOOKUP => self.lookup(request, recorded),
            op::GETATTR => self
                .node(request.nodeid)
                .map(|n| fuse::attr_out(&n.attr, VALID_SECS)),
            op::READLINK => self.readlink(request.nodeid),
            op::OPEN => self.open(request.nodeid, recorded),
            op::READ => self.read(request),
            op::OPENDIR => self.opendir(request.nodeid, recorded),
            op::READDIR => self.readdir(request),
            op::RELEASE | op::RELEASEDIR => {
                if let Some(fh) = request.u64_at(0) {
                    self.handles.remove(&fh);
                }
                Ok(Vec::new())
            }
            op::STATFS => Ok(fuse::statfs_out()),
            // Nothing to flush in a read-only file system; ENOSYS tells the kernel to
            // stop sending it, which spares a round trip at every later close.
            op::FLUSH => Err(Errno::ENOSYS),
            op::ACCESS | op::DESTROY => Ok(Vec::new()),
            op::FORGET | op::BATCH_FORGET | op::INTERRUPT => return,
            _ => Err(Errno::ENOSYS),
        };
        let sent = match result {
            Ok(payload) => fuse::reply(&self.device, request.unique, 0, &payload),
            Err(errno) => fuse::reply(&self.device, request.unique, errno as i32, &[]),
        };
        if let Err(err) = sent {
            // ENOENT: the request was interrupted meanwhile; anything else ends serving.
            if err.raw_os_error() != Some(libc::ENOENT) {
                self.alive = false;
            }
        }
    }

    fn node(&self, id: u64) -> Result<&Node, Errno> {
        let index = usize::try_from(id).ok().and_then(|id| id.checked_sub(1));
        index.and_then(|i| self.nodes.get(i)).ok_or(Errno::ENOENT)
    }

    fn lookup(&mut self, request: &Request, recorded: bool) -> Result<Vec<u8>, Errno> {
        let name = Path::new(OsStr::from_bytes(request.name().ok_or(Errno::EINVAL)?));
        let parent = self.node(request.nodeid)?;
        let (tree, rel) = match parent.tree {
            None => {
                let index: usize = name
                    .to_str()
                    .and_then(|n| n.parse().ok())
                    .ok_or(Errno::ENOENT)?;
                if index >= self.policy.layout.trees.len() {
                    return Ok(negative());
                }
                let id = self.intern(index, PathBuf::new(), dir_attr());
                return Ok(self.entry(id));
            }
            Some(tree) => (tree, parent.rel.join(name)),
        };
        let found = match self.policy.layout.trees[tree].kind {
            TreeKind::Etc => self.look_in_etc(tree, &rel),
            TreeKind::Home | TreeKind::Project => self.look_in_hidden(tree, &rel, recorded),
            TreeKind::Work => self.look_in_work(tree, &rel, recorded),
        };
        Ok(match found {
            Some(attr) => {
                let id = self.intern(tree, rel, attr);
                self.entry(id)
            }
            None => negative(),
        })
    }

    /// An `/etc` entry as the host has it, or as the sandbox makes it up.
    fn look_in_etc(&self, tree: usize, rel: &Path) -> Option<Attr> {
        if let Some(contents) = self.policy.generated_file(rel) {
            // As when bound over the host's: the sandbox's root owns them, 0644.
            return Some(Attr {
                size: contents.len() as u64,
                mode: libc::S_IFREG | 0o644,
                nlink: 1,
                uid: 0,
                gid: 0,
                ..Attr::default()
            });
        }
        let meta = fs::symlink_metadata(self.policy.layout.trees[tree].host.join(rel)).ok()?;
        Some(host_attr(&meta))
    }

    /// A hidden tree: the host's directories; a host file there is recorded, not shown.
    fn look_in_hidden(&mut self, tree: usize, rel: &Path, recorded: bool) -> Option<Attr> {
        let Tree { kind, host, .. } = &self.policy.layout.trees[tree];
        let path = host.join(rel);
        if self.is_ignored(&path) {
            return None;
        }
        let meta = fs::symlink_metadata(&path).ok()?;
        if meta.is_dir() {
            return Some(dir_attr());
        }
        if recorded {
            let shown = match kind {
                TreeKind::Home => path.display().to_string(),
                _ => rel.display().to_string(),
            };
            self.found.insert(shown);
        }
        None
    }

    /// The work directory's lower layer: a directory both the project and the prepared
    /// work directory have; a name only the project has is recorded.
    fn look_in_work(&mut self, tree: usize, rel: &Path, recorded: bool) -> Option<Attr> {
        let project = self.policy.layout.trees[tree].host.join(rel);
        if self.is_ignored(&project) {
            return None;
        }
        let in_project = fs::symlink_metadata(&project).ok()?;
        let staged = beneath::lstat_beneath(&self.policy.staging, rel);
        match staged.map(|stat| beneath::kind(&stat)) {
            Some(SFlag::S_IFDIR) if in_project.is_dir() => Some(dir_attr()),
            Some(_) => None,
            // A project directory the work directory lacks is shown (empty, absent from
            // its parent's listing, looking as if the step had made it) so that the
            // kernel looks further into it: a compiler probing `-Ilib` for
            // `lib/stdio.h` finds nothing there, which is no finding; only a file the
            // project has is (`lib/config.h`), and listing the directory itself
            // (OPENDIR) is recorded as `lib/`. A native checkout has the directory too.
            None if in_project.is_dir() => Some(self.policy.own_dir),
            None => {
                if recorded {
                    self.work_found.insert(rel.to_path_buf());
                }
                None
            }
        }
    }

    fn is_ignored(&self, host: &Path) -> bool {
        self.policy.ignored.iter().any(|dir| host.starts_with(dir))
    }

    /// The node id of `rel` in `tree`, made with `attr` (numbered) on first sight.
    fn intern(&mut self, tree: usize, rel: PathBuf, mut attr: Attr) -> u64 {
        if let Some(&id) = self.node_ids.get(&(tree, rel.clone())) {
            return id;
        }
        let id = self.nodes.len() as u64 + 1;
        attr.ino = id;
        self.nodes.push(Node {
            tree: Some(tree),
            rel: rel.clone(),
            attr,
        });
        self.node_ids.insert((tree, rel), id);
        id
    }

    fn entry(&self, id: u64) -> Vec<u8> {
        let attr = self.node(id).map(|n| n.attr).unwrap_or_default();
        fuse::entry_out(id, &attr, VALID_SECS)
    }

    /// The host path and tree kind of a node inside a tree.
    fn host_path(&self, id: u64) -> Result<(TreeKind, PathBuf, PathBuf), Errno> {
        let node = self.node(id)?;
        let tree = &self.policy.layout.trees[node.tree.ok_or(Errno::EISDIR)?];
        Ok((tree.kind, tree.host.join(&node.rel), node.rel.clone()))
    }

    fn readlink(&self, id: u64) -> Result<Vec<u8>, Errno> {
        let (kind, host, _) = self.host_path(id)?;
        if kind != TreeKind::Etc {
            return Err(Errno::EINVAL);
        }
        let target = fs::read_link(host).map_err(errno_of)?;
        Ok(target.into_os_string().into_vec())
    }

    /// Opens an `/etc` file for the step (only what any user may read), recording it
    /// unless it is allow-listed.
    fn open(&mut self, id: u64, recorded: bool) -> Result<Vec<u8>, Errno> {
        let (kind, host, rel) = self.host_path(id)?;
        let mode = self.node(id)?.attr.mode;
        if kind != TreeKind::Etc {
            return Err(Errno::ENOENT);
        }
        if mode & 0o004 == 0 {
            return Err(Errno::EACCES);
        }
        if let Some(contents) = self.policy.generated_file(&rel) {
            let handle = Handle::Bytes(contents.to_vec());
            self.record_etc(&rel, recorded);
            let fh = self.add_handle(handle);
            return Ok(fuse::open_out(fh, fuse::FOPEN_KEEP_CACHE));
        }
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&host)
            .map_err(errno_of)?;
        self.record_etc(&rel, recorded);
        let fh = self.add_handle(Handle::File(file));
        Ok(fuse::open_out(fh, fuse::FOPEN_KEEP_CACHE))
    }

    fn record_etc(&mut self, rel: &Path, recorded: bool) {
        let text = rel.to_str().unwrap_or_default();
        if recorded && !text.is_empty() && !etc_is_toolchain(text) {
            self.found
                .insert(Path::new("/etc").join(rel).display().to_string());
        }
    }

    fn add_handle(&mut self, handle: Handle) -> u64 {
        let fh = self.next_handle;
        self.next_handle += 1;
        self.handles.insert(fh, handle);
        fh
    }

    fn read(&self, request: &Request) -> Result<Vec<u8>, Errno> {
        let (fh, offset, size) = read_args(request)?;
        let file = match self.handles.get(&fh) {
            Some(Handle::File(file)) => file,
            Some(Handle::Bytes(bytes)) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let end = start.saturating_add(size).min(bytes.len());
                return Ok(bytes[start..end].to_vec());
            }
            _ => return Err(Errno::EBADF),
        };
        let mut data = vec![0; size];
        let n = file.read_at(&mut data, offset).map_err(errno_of)?;
        data.truncate(n);
        Ok(data)
    }

    /// Lists a directory: an `/etc` one as the host has it (recorded beyond the
    /// allow-list), any other one empty.
    fn opendir(&mut self, id: u64, recorded: bool) -> Result<Vec<u8>, Errno> {
        let node = self.node(id)?;
        let listing = match node.tree.map(|t| self.policy.layout.trees[t].kind) {
            Some(TreeKind::Etc) => {
                let (_, host, rel) = self.host_path(id)?;
                if node.attr.mode & 0o005 != 0o005 {
                    return Err(Errno::EACCES);
                }
                let listing = list_dir(&host).map_err(errno_of)?;
                self.record_etc(&rel, recorded);
                listing
            }
            Some(TreeKind::Work) => {
                self.record_listing(id, recorded);
                Vec::new()
            }
            _ => Vec::new(),
        };
        let fh = self.add_handle(Handle::Dir(listing));
        Ok(fuse::open_out(fh, 0))
    }

    /// A step listing a project directory its work directory lacks (one the tripwire
    /// shows empty) misses what the project has there: recorded, unless it is empty.
    fn record_listing(&mut self, id: u64, recorded: bool) {
        let Ok((_, host, rel)) = self.host_path(id) else {
            return;
        };
        if rel.as_os_str().is_empty() {
            // The work directory itself: never lacking.
            return;
        }
        let lacking = beneath::lstat_beneath(&self.policy.staging, &rel).is_none();
        if recorded && lacking && !self.is_ignored(&host) && has_entries(&host) {
            self.work_found.insert(rel);
        }
    }

    fn readdir(&self, request: &Request) -> Result<Vec<u8>, Errno> {
        let (fh, offset, size) = read_args(request)?;
        let Some(Handle::Dir(listing)) = self.handles.get(&fh) else {
            return Err(Errno::EBADF);
        };
        let mut out = Vec::new();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (index, (ino, dtype, name)) in listing.iter().enumerate().skip(start) {
            let entry = (*ino, index as u64 + 1, *dtype, name.as_slice());
            if !fuse::push_dirent(&mut out, size, entry) {
                break;
            }
        }
        Ok(out)
    }
}

/// `(fh, offset, size)` of a READ or READDIR request (`struct fuse_read_in`).
fn read_args(request: &Request) -> Result<(u64, u64, usize), Errno> {
    let fh = request.u64_at(0).ok_or(Errno::EINVAL)?;
    let offset = request.u64_at(8).ok_or(Errno::EINVAL)?;
    let size = request.u32_at(16).ok_or(Errno::EINVAL)?;
    Ok((fh, offset, (size as usize).min(REQUEST_BUFFER)))
}

/// The entries of a host directory: (inode, dirent type, name).
fn list_dir(dir: &Path) -> io::Result<Vec<(u64, u32, Vec<u8>)>> {
    let mut listing = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let dtype = match entry.file_type() {
            Ok(t) if t.is_dir() => libc::DT_DIR,
            Ok(t) if t.is_symlink() => libc::DT_LNK,
            Ok(t) if t.is_file() => libc::DT_REG,
            _ => libc::DT_UNKNOWN,
        };
        listing.push((entry.ino(), u32::from(dtype), entry.file_name().into_vec()));
    }
    listing.sort_by(|a, b| a.2.cmp(&b.2));
    Ok(listing)
}

/// A negative entry, cached by the kernel like a positive one.
/// True when directory `dir` has at least one entry.
fn has_entries(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

fn negative() -> Vec<u8> {
    fuse::entry_out(0, &Attr::default(), VALID_SECS)
}

/// An empty read-only directory (numbered when interned).
fn dir_attr() -> Attr {
    Attr {
        mode: libc::S_IFDIR | 0o555,
        nlink: 2,
        uid: NOBODY,
        gid: NOBODY,
        ..Attr::default()
    }
}

/// A host entry's attributes, owned by nobody (as host files look in the sandbox).
fn host_attr(meta: &fs::Metadata) -> Attr {
    Attr {
        ino: 0,
        size: meta.size(),
        blocks: meta.blocks(),
        mtime: meta.mtime(),
        mtime_nsec: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
        mode: meta.mode(),
        nlink: u32::try_from(meta.nlink()).unwrap_or(1),
        uid: NOBODY,
        gid: NOBODY,
    }
}

fn errno_of(err: io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::observe::paths::tests::spec;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    use std::io::Read;

    /// A tripwire for `project` (work directory prepared in `staging`) whose device is
    /// one end of a socket pair; the other end receives its replies.
    fn tripwire(project: &Path, staging: &Path) -> (Tripwire, File) {
        let (device, peer) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let spec = spec(project, staging);
        let layout = Layout::for_spec(&spec).expect("opens are observed");
        (
            Tripwire::new(device, Policy::new(&spec, layout, &[])),
            File::from(peer),
        )
    }

    fn request(opcode: u32, nodeid: u64, pid: u32, body: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        buf.extend_from_slice(&((40 + body.len()) as u32).to_ne_bytes());
        buf.extend_from_slice(&opcode.to_ne_bytes());
        buf.extend_from_slice(&1u64.to_ne_bytes());
        buf.extend_from_slice(&nodeid.to_ne_bytes());
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&pid.to_ne_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(body);
        buf
    }

    /// Looks `name` up below `parent` as process `pid`; the node id found (0: none).
    fn lookup(wire: &mut (Tripwire, File), parent: u64, name: &str, pid: u32) -> u64 {
        let body = [name.as_bytes(), b"\0"].concat();
        let buf = request(op::LOOKUP, parent, pid, &body);
        wire.0.answer(&Request::parse(&buf).unwrap());
        let mut reply = [0u8; 256];
        let n = wire.1.read(&mut reply).unwrap();
        assert_eq!(n, 16 + 128, "an entry reply");
        u64::from_ne_bytes(reply[16..24].try_into().unwrap())
    }

    /// The node id of tree `kind`'s root.
    fn tree(wire: &mut (Tripwire, File), kind: TreeKind) -> u64 {
        let index = wire
            .0
            .policy
            .layout
            .trees
            .iter()
            .position(|t| t.kind == kind)
            .unwrap();
        lookup(wire, fuse::ROOT_ID, &index.to_string(), 1)
    }

    #[test]
    fn the_work_tree_records_project_names_the_step_lacks_unless_it_made_them() {
        let project = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        for dir in [project.path(), staging.path()] {
            fs::create_dir_all(dir.join("src")).unwrap();
            fs::write(dir.join("src/hello.c"), "").unwrap();
        }
        fs::write(project.path().join("src/config.h"), "").unwrap();
        fs::write(project.path().join("src/hello.o"), "stale").unwrap();
        fs::create_dir_all(project.path().join(".reprobe")).unwrap();
        let mut wire = tripwire(project.path(), staging.path());
        let work = tree(&mut wire, TreeKind::Work);
        let src = lookup(&mut wire, work, "src", 2);
        assert_ne!(src, 0, "a directory both have is shown");
        assert_eq!(lookup(&mut wire, src, "config.h", 2), 0);
        assert_eq!(lookup(&mut wire, src, "hello.o", 2), 0);
        assert_eq!(lookup(&mut wire, src, "absent.h", 2), 0);
        assert_eq!(lookup(&mut wire, work, ".reprobe", 2), 0);
        // The step wrote hello.o itself: it is back in the work directory at the end.
        fs::write(staging.path().join("src/hello.o"), "new").unwrap();
        let found: Vec<String> = wire.0.findings().into_iter().collect();
        assert_eq!(found, vec!["src/config.h"]);
    }

    #[test]
    fn init_itself_is_never_recorded() {
        let project = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        fs::write(project.path().join("config.h"), "").unwrap();
        let mut wire = tripwire(project.path(), staging.path());
        let work = tree(&mut wire, TreeKind::Work);
        assert_eq!(lookup(&mut wire, work, "config.h", 1), 0);
        assert!(wire.0.findings().is_empty());
    }

    #[test]
    fn etc_is_mirrored_and_hostname_is_the_sandboxs() {
        let project = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        let mut wire = tripwire(project.path(), staging.path());
        let etc = tree(&mut wire, TreeKind::Etc);
        assert_ne!(lookup(&mut wire, etc, "passwd", 2), 0);
        assert_eq!(lookup(&mut wire, etc, "no-such-file.conf", 2), 0);
        let hostname = lookup(&mut wire, etc, "hostname", 2);
        let buf = request(op::OPEN, hostname, 2, &[0; 8]);
        wire.0.answer(&Request::parse(&buf).unwrap());
        let mut reply = [0u8; 64];
        assert_eq!(wire.1.read(&mut reply).unwrap(), 16 + 16);
        let fh = u64::from_ne_bytes(reply[16..24].try_into().unwrap());
        let mut read_in = Vec::new();
        for word in [fh, 0] {
            read_in.extend_from_slice(&word.to_ne_bytes());
        }
        read_in.extend_from_slice(&4096u32.to_ne_bytes());
        read_in.resize(40, 0);
        let buf = request(op::READ, hostname, 2, &read_in);
        wire.0.answer(&Request::parse(&buf).unwrap());
        let n = wire.1.read(&mut reply).unwrap();
        assert_eq!(&reply[16..n], b"h\n");
        let found: Vec<String> = wire.0.findings().into_iter().collect();
        assert_eq!(found, vec!["/etc/hostname"]);
    }

    #[test]
    fn flush_is_refused_once_so_that_the_kernel_stops_sending_it() {
        let project = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        let mut wire = tripwire(project.path(), staging.path());
        let etc = tree(&mut wire, TreeKind::Etc);
        let passwd = lookup(&mut wire, etc, "passwd", 2);
        let buf = request(op::FLUSH, passwd, 2, &[0; 24]);
        wire.0.answer(&Request::parse(&buf).unwrap());
        let mut reply = [0u8; 64];
        assert_eq!(wire.1.read(&mut reply).unwrap(), 16);
        let error = i32::from_ne_bytes(reply[4..8].try_into().unwrap());
        assert_eq!(error, -libc::ENOSYS);
    }

    #[test]
    fn a_missing_directory_is_looked_into_and_only_files_the_project_has_are_recorded() {
        let project = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        for dir in [project.path(), staging.path()] {
            fs::create_dir_all(dir.join("src")).unwrap();
        }
        fs::create_dir_all(project.path().join("src/sub")).unwrap();
        fs::write(project.path().join("src/sub/deep.h"), "").unwrap();
        fs::create_dir_all(project.path().join("lib")).unwrap();
        fs::write(project.path().join("lib/helper.h"), "").unwrap();
        let mut wire = tripwire(project.path(), staging.path());
        let work = tree(&mut wire, TreeKind::Work);
        let src = lookup(&mut wire, work, "src", 2);
        let sub = lookup(&mut wire, src, "sub", 2);
        assert_ne!(sub, 0, "the directory is shown, so the look-up goes on");
        assert_eq!(lookup(&mut wire, sub, "deep.h", 2), 0);
        // A compiler probing -Ilib for a system header: nothing the project has.
        let lib = lookup(&mut wire, work, "lib", 2);
        assert_eq!(lookup(&mut wire, lib, "stdio.h", 2), 0);
        let found: Vec<String> = wire.0.findings().into_iter().collect();
        assert_eq!(found, vec!["src/sub/deep.h"]);
    }
}
