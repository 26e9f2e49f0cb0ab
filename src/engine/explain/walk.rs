//! The explaining reader of the canonical walk (docs/style.md, "One walk, two readers").
//!
//! [`WalkRecord`] implements [`InputVisitor`] and is driven by [`inputs::walk`], the very
//! function that feeds the hasher, so `explain` sees exactly the fields the input hash
//! covers, in the same order: a fixed-output step shows only its declared hash, and a
//! tool is known by its resolved path and bytes, as the key knows it.

use std::collections::BTreeMap;

use crate::model::graph::Command;
use crate::model::hash::{Digest, FileHash};
use crate::model::inputs::{self, DepKey, InputFile, InputTool, InputVisitor, StepInputs};

/// What one walk over a step's inputs visited, keyed for comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkRecord {
    /// The command, unless the step is fixed-output.
    pub command: Option<Command>,
    /// Environment variables, by name (the walk's order).
    pub env: BTreeMap<String, String>,
    /// Input files, by path (the walk's order).
    pub files: BTreeMap<String, InputFile>,
    /// Tools, in the walk's (declared) order.
    pub tools: Vec<InputTool>,
    /// Deps by step name, with the key the walk was asked for.
    pub deps: BTreeMap<String, Digest>,
    /// A fixed-output step's declared hash.
    pub fixed_output: Option<FileHash>,
}

impl InputVisitor for WalkRecord {
    fn command(&mut self, command: &Command) {
        self.command = Some(command.clone());
    }
    fn env(&mut self, name: &str, value: &str) {
        self.env.insert(name.to_string(), value.to_string());
    }
    fn file(&mut self, file: &InputFile) {
        self.files.insert(file.path.clone(), file.clone());
    }
    fn tool(&mut self, tool: &InputTool) {
        self.tools.push(tool.clone());
    }
    fn dep(&mut self, step: &str, key: &Digest) {
        self.deps.insert(step.to_string(), *key);
    }
    fn fixed_output(&mut self, sha256: &FileHash) {
        self.fixed_output = Some(*sha256);
    }
}

impl WalkRecord {
    /// Records the walk that the cache key (the input hash) is computed from.
    pub fn of(step_inputs: &StepInputs) -> WalkRecord {
        let mut record = WalkRecord::default();
        inputs::walk(step_inputs, DepKey::Content, &mut record);
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hash::{ContentHash, DerivationHash};
    use crate::model::inputs::InputDep;

    fn sample() -> StepInputs {
        StepInputs {
            command: Command::Shell("cc -c a.c".into()),
            env: BTreeMap::from([("PATH".into(), "/usr/bin".into())]),
            files: vec![InputFile {
                path: "a.c".into(),
                executable: false,
                sha256: FileHash(Digest::of_bytes(b"a")),
                size: 1,
                link: None,
            }],
            tools: vec![],
            deps: vec![InputDep {
                step: "gen".into(),
                content_hash: ContentHash(Digest::of_bytes(b"content")),
                derivation_hash: DerivationHash(Digest::of_bytes(b"derivation")),
            }],
            fixed_output: None,
        }
    }

    #[test]
    fn the_record_holds_what_the_key_holds_with_deps_by_content() {
        let record = WalkRecord::of(&sample());
        assert!(record.command.is_some());
        assert_eq!(record.files.len(), 1);
        assert_eq!(record.deps["gen"], Digest::of_bytes(b"content"));
    }

    #[test]
    fn a_fixed_output_step_records_only_its_declared_hash() {
        let mut inputs = sample();
        inputs.fixed_output = Some(FileHash(Digest::of_bytes(b"out")));
        let record = WalkRecord::of(&inputs);
        assert!(record.command.is_none() && record.files.is_empty() && record.deps.is_empty());
        assert!(record.fixed_output.is_some());
    }
}
