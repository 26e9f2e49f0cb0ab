//! A step's input tree and the single walk over it that yields both cache keys.
//!
//! As in n2's `hash.rs`, one function ([`walk`]) visits the inputs in canonical order and
//! feeds a [`InputVisitor`]: the hasher builds the input and derivation hashes from it,
//! and `explain` reads the same recorded [`StepInputs`], so the explanation can never
//! disagree with the key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::sys::stat::SFlag;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::fsafe::beneath::{self, BeneathError, Links};
use crate::model::graph::{Command, Graph, Step};
use crate::model::hash::{
    hash_reader, CanonicalHasher, ContentHash, DerivationHash, Digest, FileHash, InputHash,
};

/// One declared input file, as hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// Path relative to the graph's directory.
    pub path: String,
    /// Whether any executable bit is set.
    pub executable: bool,
    /// sha256 of the content.
    pub sha256: FileHash,
    /// Size in bytes (recorded, not hashed: the hash covers it).
    pub size: u64,
    /// For a symlink whose target is not a file of the project (an absolute path, a
    /// climb out with `..`, a directory, nothing): the target. Such an input is placed
    /// in the work directory as the same link and keyed by this string (`sha256` is the
    /// hash of its bytes); what it points to is never read.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub link: Option<String>,
}

/// One tool (an executable the step runs), as hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTool {
    /// The name as declared.
    pub name: String,
    /// Where it resolved on the step's PATH (a system path, never the project's).
    pub path: String,
    /// sha256 of the executable.
    pub sha256: FileHash,
}

/// One dependency, with both of its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDep {
    /// The dep's step name.
    pub step: String,
    /// The content hash of what it produced (joins the input hash).
    pub content_hash: ContentHash,
    /// Its derivation hash (joins the derivation hash).
    pub derivation_hash: DerivationHash,
}

/// Everything that goes into a step's keys: recorded in manifests for `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInputs {
    /// The command as declared.
    pub command: Command,
    /// The step's exact environment.
    pub env: BTreeMap<String, String>,
    /// Declared input files, sorted by path.
    pub files: Vec<InputFile>,
    /// Tools, in declared order.
    pub tools: Vec<InputTool>,
    /// Deps, sorted by step name.
    pub deps: Vec<InputDep>,
    /// For a fixed-output step, the declared output hash: it replaces command and files.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fixed_output: Option<FileHash>,
}

/// Which key of a dep enters a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKey {
    /// Its content hash: the input hash (what reprobe caches by).
    Content,
    /// Its derivation hash: the Nix input-addressed model.
    Derivation,
}

/// A reader of the canonical walk over a step's inputs.
pub trait InputVisitor {
    /// The command.
    fn command(&mut self, command: &Command);
    /// One environment variable.
    fn env(&mut self, name: &str, value: &str);
    /// One input file.
    fn file(&mut self, file: &InputFile);
    /// One tool.
    fn tool(&mut self, tool: &InputTool);
    /// One dep, with the chosen key.
    fn dep(&mut self, step: &str, key: &crate::model::hash::Digest);
    /// A fixed-output step's declared hash.
    fn fixed_output(&mut self, sha256: &FileHash);
}

/// Visits a step's inputs in canonical order. A fixed-output step is keyed by its
/// declared hash alone (as a Nix fixed-output derivation): a changed URL with the same
/// content is no rebuild.
pub fn walk(inputs: &StepInputs, key: DepKey, visitor: &mut dyn InputVisitor) {
    if let Some(sha) = &inputs.fixed_output {
        visitor.fixed_output(sha);
        return;
    }
    visitor.command(&inputs.command);
    for (name, value) in &inputs.env {
        visitor.env(name, value);
    }
    for file in &inputs.files {
        visitor.file(file);
    }
    for tool in &inputs.tools {
        visitor.tool(tool);
    }
    for dep in &inputs.deps {
        let digest = match key {
            DepKey::Content => dep.content_hash.0,
            DepKey::Derivation => dep.derivation_hash.0,
        };
        visitor.dep(&dep.step, &digest);
    }
}

impl InputVisitor for CanonicalHasher {
    fn command(&mut self, command: &Command) {
        match command {
            Command::Shell(script) => self.str(b'c', script),
            Command::Argv(argv) => {
                self.bytes(b'a', &(argv.len() as u64).to_le_bytes());
                for arg in argv {
                    self.str(b'a', arg);
                }
            }
        }
    }
    fn env(&mut self, name: &str, value: &str) {
        self.str(b'e', name);
        self.str(b'v', value);
    }
    fn file(&mut self, file: &InputFile) {
        self.str(b'f', &file.path);
        if let Some(target) = &file.link {
            // A tag no regular file has: a link never keys like a file holding its target.
            self.str(b'l', target);
            return;
        }
        self.flag(b'x', file.executable);
        self.digest(b'h', &file.sha256.0);
    }
    fn tool(&mut self, tool: &InputTool) {
        self.str(b't', &tool.path);
        self.digest(b'h', &tool.sha256.0);
    }
    fn dep(&mut self, step: &str, key: &crate::model::hash::Digest) {
        self.str(b'd', step);
        self.digest(b'h', key);
    }
    fn fixed_output(&mut self, sha256: &FileHash) {
        self.digest(b'o', &sha256.0);
    }
}

impl StepInputs {
    /// The cache key: inputs with each dep's content hash.
    pub fn input_hash(&self) -> InputHash {
        let mut hasher = CanonicalHasher::new("reprobe/input/1");
        walk(self, DepKey::Content, &mut hasher);
        InputHash(hasher.finish())
    }

    /// The input-addressed key: inputs with each dep's derivation hash.
    pub fn derivation_hash(&self) -> DerivationHash {
        let mut hasher = CanonicalHasher::new("reprobe/input/1");
        walk(self, DepKey::Derivation, &mut hasher);
        DerivationHash(hasher.finish())
    }
}

/// Why a step's inputs could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// An input file vanished or cannot be read.
    #[error("step `{step}`: cannot read input `{path}`: {source}")]
    File {
        /// The step.
        step: String,
        /// The input path.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An input is a FIFO, socket or device: reading one could block forever or have
    /// effects, and its "content" is no content.
    #[error(
        "step `{step}`: input `{path}` is {kind}; special files cannot be inputs (remove \
         it from the project, or narrow the step's `inputs` so that they do not match it)"
    )]
    Special {
        /// The step.
        step: String,
        /// The input path.
        path: String,
        /// What it is: "a FIFO", "a socket", "a character device", ...
        kind: &'static str,
    },
    /// An input lies beyond a symlink that leads out of the project (a declared
    /// directory that is a link to `/etc`): its bytes are never read.
    #[error(
        "step `{step}`: input `{path}` goes through the symlink {link} -> {target}, which \
         leads out of the project; inputs must be inside the project (copy the files in, \
         or point the link inside the project)"
    )]
    OutsideProject {
        /// The step.
        step: String,
        /// The input path.
        path: String,
        /// The symlink, relative to the project.
        link: String,
        /// Where it points.
        target: String,
    },
    /// A tool is not on the step's PATH.
    #[error("step `{step}`: tool `{tool}` is not on the step's PATH ({path}); install it or fix `tools`")]
    ToolNotFound {
        /// The step.
        step: String,
        /// The tool name.
        tool: String,
        /// The PATH searched.
        path: String,
    },
    /// A tool cannot be read.
    #[error("step `{step}`: cannot read tool `{tool}`: {source}")]
    Tool {
        /// The step.
        step: String,
        /// The tool.
        tool: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// What an input path is, as far as reprobe may look: a project file (opened, ready to
/// read) or a link kept as a link.
pub enum InputEntry {
    /// A regular file of the project (reached, maybe, through links that stay inside
    /// it), open for reading.
    File(File),
    /// A symlink whose target is not a regular file of the project: its target.
    Link(String),
}

/// Opens the project directory `root` for [`open_input`].
pub fn open_root(root: &Path) -> std::io::Result<OwnedFd> {
    beneath::open_root(root)
}

/// Looks at the input `rel` below the project `root` without ever reading outside it:
/// links on the way may only lead to places inside the project; a last component that
/// is a link is followed when it names a regular file of the project, and kept as a
/// link otherwise; a FIFO, socket or device is refused without being opened.
pub fn open_input(root: BorrowedFd<'_>, step: &str, rel: &str) -> Result<InputEntry, InputError> {
    let problem = |err: BeneathError| input_error(step, rel, err);
    let (parent, name) = beneath::open_parent(root, rel, Links::StayInside).map_err(problem)?;
    let stat = beneath::lstat_at(parent.as_fd(), name).map_err(|source| InputError::File {
        step: step.to_string(),
        path: rel.to_string(),
        source,
    })?;
    match beneath::kind(&stat) {
        SFlag::S_IFREG => beneath::open_file(root, rel, Links::StayInside)
            .map(InputEntry::File)
            .map_err(problem),
        SFlag::S_IFLNK => match beneath::open_file(root, rel, Links::StayInside) {
            Ok(file) => Ok(InputEntry::File(file)),
            Err(_) => {
                let target = beneath::read_link_at(parent.as_fd(), name).map_err(|source| {
                    InputError::File {
                        step: step.to_string(),
                        path: rel.to_string(),
                        source,
                    }
                })?;
                Ok(InputEntry::Link(target.to_string_lossy().into_owned()))
            }
        },
        SFlag::S_IFDIR => Err(InputError::File {
            step: step.to_string(),
            path: rel.to_string(),
            source: std::io::Error::other("it is a directory"),
        }),
        _ => Err(InputError::Special {
            step: step.to_string(),
            path: rel.to_string(),
            kind: beneath::describe_kind(&stat),
        }),
    }
}

fn input_error(step: &str, rel: &str, err: BeneathError) -> InputError {
    let file = |source| InputError::File {
        step: step.to_string(),
        path: rel.to_string(),
        source,
    };
    match err {
        BeneathError::ThroughLink { link, target, .. } => InputError::OutsideProject {
            step: step.to_string(),
            path: rel.to_string(),
            link,
            target,
        },
        BeneathError::Missing(_) => file(std::io::Error::from(std::io::ErrorKind::NotFound)),
        BeneathError::NotPlain(_) => file(std::io::Error::other("not a plain relative path")),
        BeneathError::Io { source, .. } => file(source),
    }
}

/// Checks, before anything runs, that no step's input is a special file (a FIFO would
/// block the build) or lies beyond a symlink leading out of the project. Only looks
/// (`lstat`); nothing is opened.
pub fn check_graph_inputs(graph: &Graph) -> Result<(), InputError> {
    let root = open_root(&graph.root).map_err(|source| InputError::File {
        step: String::new(),
        path: graph.root.display().to_string(),
        source,
    })?;
    let mut seen = HashSet::new();
    for step in &graph.steps {
        for rel in &step.inputs {
            if !seen.insert(rel.as_str()) {
                continue;
            }
            check_input(root.as_fd(), &step.name, rel)?;
        }
    }
    Ok(())
}

/// [`check_graph_inputs`] for one input. A missing file is left to the step (it is
/// reported when the step gathers its inputs).
fn check_input(root: BorrowedFd<'_>, step: &str, rel: &str) -> Result<(), InputError> {
    let (parent, name) = match beneath::open_parent(root, rel, Links::StayInside) {
        Ok(found) => found,
        Err(err @ BeneathError::ThroughLink { .. }) => return Err(input_error(step, rel, err)),
        Err(_) => return Ok(()),
    };
    let Ok(stat) = beneath::lstat_at(parent.as_fd(), name) else {
        return Ok(());
    };
    match beneath::kind(&stat) {
        SFlag::S_IFREG | SFlag::S_IFLNK | SFlag::S_IFDIR => Ok(()),
        _ => Err(InputError::Special {
            step: step.to_string(),
            path: rel.to_string(),
            kind: beneath::describe_kind(&stat),
        }),
    }
}

/// An input as hashed: a file's hash, size and executable bit, or a link's target.
#[derive(Debug, Clone)]
enum Hashed {
    File {
        sha256: FileHash,
        size: u64,
        executable: bool,
    },
    Link(String),
}

/// Hashes input files once per build, however many steps share them.
#[derive(Debug, Default)]
pub struct FileHashCache {
    hashes: Mutex<HashMap<PathBuf, Hashed>>,
}

impl FileHashCache {
    fn get(&self, path: &Path) -> std::io::Result<Option<Hashed>> {
        Ok(self.hashes.lock().map_err(poisoned)?.get(path).cloned())
    }

    fn put(&self, path: &Path, hashed: &Hashed) -> std::io::Result<()> {
        self.hashes
            .lock()
            .map_err(poisoned)?
            .insert(path.to_path_buf(), hashed.clone());
        Ok(())
    }

    /// The input `rel` below the project (`root`, opened as `root_fd`), as hashed.
    fn input(
        &self,
        root: &Path,
        root_fd: BorrowedFd<'_>,
        step: &str,
        rel: &str,
    ) -> Result<Hashed, InputError> {
        let key = root.join(rel);
        let cached = self.get(&key).map_err(|source| InputError::File {
            step: step.to_string(),
            path: rel.to_string(),
            source,
        })?;
        if let Some(found) = cached {
            return Ok(found);
        }
        let hashed = match open_input(root_fd, step, rel)? {
            InputEntry::Link(target) => Hashed::Link(target),
            InputEntry::File(file) => hash_open_file(file).map_err(|source| InputError::File {
                step: step.to_string(),
                path: rel.to_string(),
                source,
            })?,
        };
        let _ = self.put(&key, &hashed);
        Ok(hashed)
    }

    /// A tool, by its resolved host path (links followed: the tool's real bytes count).
    fn tool(&self, path: &Path) -> std::io::Result<FileHash> {
        if let Some(Hashed::File { sha256, .. }) = self.get(path)? {
            return Ok(sha256);
        }
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?;
        let hashed = hash_open_file(file)?;
        self.put(path, &hashed)?;
        match hashed {
            Hashed::File { sha256, .. } => Ok(sha256),
            Hashed::Link(_) => Err(std::io::Error::other("not a regular file")),
        }
    }
}

/// Hashes an open file, which must be a regular one.
fn hash_open_file(file: File) -> std::io::Result<Hashed> {
    use std::os::unix::fs::PermissionsExt;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let executable = meta.permissions().mode() & 0o111 != 0;
    let (sha256, size) = hash_reader(file)?;
    Ok(Hashed::File {
        sha256,
        size,
        executable,
    })
}

fn poisoned<T>(_: T) -> std::io::Error {
    std::io::Error::other("hash cache lock poisoned")
}

/// Gathers a step's inputs: hashes its files (in parallel) and tools, and takes its
/// deps' keys from `deps` (which the caller fills from the deps' results).
pub fn gather(
    step: &Step,
    root: &Path,
    deps: Vec<InputDep>,
    cache: &FileHashCache,
) -> Result<StepInputs, InputError> {
    let root_fd = open_root(root).map_err(|source| InputError::File {
        step: step.name.clone(),
        path: root.display().to_string(),
        source,
    })?;
    let files = step
        .inputs
        .par_iter()
        .map(|path| {
            let hashed = cache.input(root, root_fd.as_fd(), &step.name, path)?;
            Ok(input_file(path, hashed))
        })
        // Every file is hashed; the error reported is the first in input order.
        .collect::<Vec<Result<_, InputError>>>()
        .into_iter()
        .collect::<Result<Vec<_>, InputError>>()?;
    let tools = step
        .tools
        .iter()
        .map(|tool| hash_tool(step, tool, cache))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StepInputs {
        command: step.command.clone(),
        env: step.env.clone(),
        files,
        tools,
        deps,
        fixed_output: step.sha256,
    })
}

/// The recorded input for `path`: a file, or a link keyed by its target.
fn input_file(path: &str, hashed: Hashed) -> InputFile {
    match hashed {
        Hashed::File {
            sha256,
            size,
            executable,
        } => InputFile {
            path: path.to_string(),
            executable,
            sha256,
            size,
            link: None,
        },
        Hashed::Link(target) => InputFile {
            path: path.to_string(),
            executable: false,
            sha256: FileHash(Digest::of_bytes(target.as_bytes())),
            size: target.len() as u64,
            link: Some(target),
        },
    }
}

fn hash_tool(step: &Step, tool: &str, cache: &FileHashCache) -> Result<InputTool, InputError> {
    let search_path = step.env.get("PATH").map(String::as_str).unwrap_or_default();
    let resolved = resolve_on_path(tool, search_path).ok_or_else(|| InputError::ToolNotFound {
        step: step.name.clone(),
        tool: tool.to_string(),
        path: search_path.to_string(),
    })?;
    let sha256 = cache.tool(&resolved).map_err(|source| InputError::Tool {
        step: step.name.clone(),
        tool: tool.to_string(),
        source,
    })?;
    Ok(InputTool {
        name: tool.to_string(),
        path: resolved.to_string_lossy().into_owned(),
        sha256,
    })
}

/// Finds an executable on a PATH string, as a shell would. Symlinks are resolved so
/// the tool's real bytes are hashed (`cc` -> `gcc-12`).
pub fn resolve_on_path(name: &str, search_path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    let found = if name.contains('/') {
        let p = PathBuf::from(name);
        (p.is_absolute() && is_executable(&p)).then_some(p)
    } else {
        search_path
            .split(':')
            .filter(|dir| dir.starts_with('/'))
            .map(|dir| Path::new(dir).join(name))
            .find(|p| is_executable(p))
    }?;
    std::fs::canonicalize(&found).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StepInputs {
        StepInputs {
            command: Command::Shell("gcc -c a.c".into()),
            env: BTreeMap::from([("PATH".into(), "/usr/bin".into())]),
            files: vec![InputFile {
                path: "a.c".into(),
                executable: false,
                sha256: FileHash(Digest::of_bytes(b"int a;")),
                size: 6,
                link: None,
            }],
            tools: vec![],
            deps: vec![InputDep {
                step: "gen".into(),
                content_hash: ContentHash(Digest::of_bytes(b"c")),
                derivation_hash: DerivationHash(Digest::of_bytes(b"d")),
            }],
            fixed_output: None,
        }
    }

    #[test]
    fn every_field_changes_the_input_hash() {
        let base = sample().input_hash();
        let mut s = sample();
        s.command = Command::Shell("gcc -O2 -c a.c".into());
        assert_ne!(s.input_hash(), base);
        let mut s = sample();
        s.env.insert("X".into(), "1".into());
        assert_ne!(s.input_hash(), base);
        let mut s = sample();
        s.files[0].executable = true;
        assert_ne!(s.input_hash(), base);
        let mut s = sample();
        s.deps[0].content_hash = ContentHash(Digest::of_bytes(b"other"));
        assert_ne!(s.input_hash(), base);
    }

    #[test]
    fn derivation_hash_follows_dep_derivations_not_contents() {
        let mut s = sample();
        let derivation = s.derivation_hash();
        s.deps[0].content_hash = ContentHash(Digest::of_bytes(b"other"));
        assert_eq!(s.derivation_hash(), derivation);
        s.deps[0].derivation_hash = DerivationHash(Digest::of_bytes(b"other"));
        assert_ne!(s.derivation_hash(), derivation);
    }

    #[test]
    fn fixed_output_is_keyed_by_declared_hash_only() {
        let mut a = sample();
        a.fixed_output = Some(FileHash(Digest::of_bytes(b"out")));
        let mut b = a.clone();
        b.command = Command::Shell("curl other-url".into());
        assert_eq!(a.input_hash(), b.input_hash());
    }

    #[test]
    fn sizes_do_not_enter_the_hash_but_size_is_recorded() {
        let mut s = sample();
        let base = s.input_hash();
        s.files[0].size = 999;
        assert_eq!(s.input_hash(), base);
    }

    #[test]
    fn tools_resolve_on_path() {
        let sh = resolve_on_path("sh", "/usr/bin:/bin").unwrap();
        assert!(sh.is_absolute());
        assert!(resolve_on_path("definitely-not-a-tool", "/usr/bin").is_none());
        assert!(resolve_on_path("sh", "relative/dir").is_none());
    }

    #[test]
    fn an_ordinary_file_keys_as_it_always_did() {
        let s = sample();
        let mut expected = CanonicalHasher::new("reprobe/input/1");
        expected.str(b'c', "gcc -c a.c");
        expected.str(b'e', "PATH");
        expected.str(b'v', "/usr/bin");
        expected.str(b'f', "a.c");
        expected.flag(b'x', false);
        expected.digest(b'h', &Digest::of_bytes(b"int a;"));
        expected.str(b'd', "gen");
        expected.digest(b'h', &Digest::of_bytes(b"c"));
        assert_eq!(s.input_hash(), InputHash(expected.finish()));
    }

    #[test]
    fn a_link_never_keys_like_a_file_holding_its_target() {
        let mut file = sample();
        file.files[0].sha256 = FileHash(Digest::of_bytes(b"/etc/shadow"));
        let mut link = file.clone();
        link.files[0].link = Some("/etc/shadow".into());
        assert_ne!(file.input_hash(), link.input_hash());
        let mut other = link.clone();
        other.files[0].link = Some("/etc/passwd".into());
        assert_ne!(link.input_hash(), other.input_hash());
    }

    /// A project with a file, links in and out of it, a FIFO and a linked directory.
    fn project() -> tempfile::TempDir {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.c"), "int a;").unwrap();
        symlink("/etc/hostname", root.join("src/host")).unwrap();
        symlink("a.c", root.join("src/alias.c")).unwrap();
        symlink("../..", root.join("src/up")).unwrap();
        symlink("/etc", root.join("etc")).unwrap();
        let fifo = root.join("src/fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        dir
    }

    fn step_with(inputs: &[&str]) -> Step {
        let mut step = Step::shell_for_tests("s", "true");
        step.inputs = inputs.iter().map(|s| s.to_string()).collect();
        step.outputs = vec!["o".into()];
        step
    }

    #[test]
    fn links_out_of_the_project_are_kept_as_links_and_inside_ones_followed() {
        let dir = project();
        let step = step_with(&["src/a.c", "src/alias.c", "src/host", "src/up"]);
        let inputs = gather(&step, dir.path(), vec![], &FileHashCache::default()).unwrap();
        let by_path = |p: &str| inputs.files.iter().find(|f| f.path == p).unwrap().clone();
        assert_eq!(by_path("src/a.c").link, None);
        assert_eq!(by_path("src/alias.c").link, None);
        assert_eq!(by_path("src/alias.c").sha256, by_path("src/a.c").sha256);
        assert_eq!(by_path("src/host").link.as_deref(), Some("/etc/hostname"));
        assert_eq!(by_path("src/up").link.as_deref(), Some("../.."));
    }

    #[test]
    fn special_files_and_paths_through_outside_links_are_refused() {
        let dir = project();
        let cache = FileHashCache::default();
        let err = gather(&step_with(&["src/fifo"]), dir.path(), vec![], &cache).unwrap_err();
        assert_eq!(
            err.to_string(),
            "step `s`: input `src/fifo` is a FIFO; special files cannot be inputs (remove it \
             from the project, or narrow the step's `inputs` so that they do not match it)"
        );
        let err = gather(&step_with(&["etc/passwd"]), dir.path(), vec![], &cache).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("step `s`: input `etc/passwd` goes through the symlink etc -> /etc"),
            "{err}"
        );
        let err = gather(
            &step_with(&["src/up/etc/passwd"]),
            dir.path(),
            vec![],
            &cache,
        )
        .unwrap_err();
        assert!(matches!(err, InputError::OutsideProject { .. }), "{err}");
    }
}
