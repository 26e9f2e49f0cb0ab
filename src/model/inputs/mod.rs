//! A step's input tree and the single walk over it that yields both cache keys.
//!
//! As in n2's `hash.rs`, one function ([`walk`]) visits the inputs in canonical order and
//! feeds a [`InputVisitor`]: the hasher builds the input and derivation hashes from it,
//! and `explain` reads the same recorded [`StepInputs`], so the explanation can never
//! disagree with the key.
//!
//! The inputs are found on disk by `open` (below the project root, never leaving it) and
//! hashed by `gather`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::graph::Command;
use crate::model::hash::{CanonicalHasher, ContentHash, DerivationHash, FileHash, InputHash};

mod gather;
mod open;

pub use gather::{gather, resolve_on_path, FileHashCache};
pub use open::{check_graph_inputs, open_input, open_root, InputEntry};

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

/// The domain of both keys of a step's inputs (the input hash and the derivation hash).
const INPUT_DOMAIN: &str = "reprobe/input/1";

impl StepInputs {
    /// The cache key: inputs with each dep's content hash.
    pub fn input_hash(&self) -> InputHash {
        let mut hasher = CanonicalHasher::new(INPUT_DOMAIN);
        walk(self, DepKey::Content, &mut hasher);
        InputHash(hasher.finish())
    }

    /// The input-addressed key: inputs with each dep's derivation hash.
    pub fn derivation_hash(&self) -> DerivationHash {
        let mut hasher = CanonicalHasher::new(INPUT_DOMAIN);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hash::Digest;

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
}
