//! A step's input tree and the single walk over it that yields both cache keys.
//!
//! As in n2's `hash.rs`, one function ([`walk`]) visits the inputs in canonical order and
//! feeds a [`InputVisitor`]: the hasher builds the input and derivation hashes from it,
//! and `explain` reads the same recorded [`StepInputs`], so the explanation can never
//! disagree with the key.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::graph::{Command, Step};
use crate::hash::{hash_file, CanonicalHasher, ContentHash, DerivationHash, FileHash, InputHash};

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
    fn dep(&mut self, step: &str, key: &crate::hash::Digest);
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
        self.flag(b'x', file.executable);
        self.digest(b'h', &file.sha256.0);
    }
    fn tool(&mut self, tool: &InputTool) {
        self.str(b't', &tool.path);
        self.digest(b'h', &tool.sha256.0);
    }
    fn dep(&mut self, step: &str, key: &crate::hash::Digest) {
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

/// Hashes input files once per build, however many steps share them.
#[derive(Debug, Default)]
pub struct FileHashCache {
    hashes: Mutex<HashMap<PathBuf, (FileHash, u64, bool)>>,
}

impl FileHashCache {
    fn get_or_hash(&self, path: &Path) -> std::io::Result<(FileHash, u64, bool)> {
        if let Some(found) = self.hashes.lock().map_err(poisoned)?.get(path) {
            return Ok(*found);
        }
        use std::os::unix::fs::PermissionsExt;
        let executable = std::fs::metadata(path)?.permissions().mode() & 0o111 != 0;
        let (hash, size) = hash_file(path)?;
        self.hashes
            .lock()
            .map_err(poisoned)?
            .insert(path.to_path_buf(), (hash, size, executable));
        Ok((hash, size, executable))
    }
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
    let files = step
        .inputs
        .par_iter()
        .map(|path| {
            let (sha256, size, executable) =
                cache
                    .get_or_hash(&root.join(path))
                    .map_err(|source| InputError::File {
                        step: step.name.clone(),
                        path: path.clone(),
                        source,
                    })?;
            Ok(InputFile {
                path: path.clone(),
                executable,
                sha256,
                size,
            })
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

fn hash_tool(step: &Step, tool: &str, cache: &FileHashCache) -> Result<InputTool, InputError> {
    let search_path = step.env.get("PATH").map(String::as_str).unwrap_or_default();
    let resolved = resolve_on_path(tool, search_path).ok_or_else(|| InputError::ToolNotFound {
        step: step.name.clone(),
        tool: tool.to_string(),
        path: search_path.to_string(),
    })?;
    let (sha256, _, _) = cache
        .get_or_hash(&resolved)
        .map_err(|source| InputError::Tool {
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
    use crate::hash::Digest;

    fn sample() -> StepInputs {
        StepInputs {
            command: Command::Shell("gcc -c a.c".into()),
            env: BTreeMap::from([("PATH".into(), "/usr/bin".into())]),
            files: vec![InputFile {
                path: "a.c".into(),
                executable: false,
                sha256: FileHash(Digest::of_bytes(b"int a;")),
                size: 6,
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
}
