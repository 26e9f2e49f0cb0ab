//! What parsing a Ninja file yields ([`BuildFile`]): every build edge with its paths and
//! its rule variables expanded, the default targets and the pools, as Ninja itself would
//! see them; and [`NinjaError`], which names the file and the line of a problem.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A problem in a Ninja file.
#[derive(Debug, thiserror::Error)]
pub enum NinjaError {
    /// Invalid syntax or meaning, at a line of a file.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file, as named by the user or the `include` statement.
        file: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file (the manifest or an included one) cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Where a statement was written.
#[derive(Debug, Clone, Default)]
pub struct Location {
    /// The file.
    pub file: Arc<str>,
    /// The 1-based line of the statement's first line.
    pub line: usize,
}

/// Locations never make two edges differ: one graph written twice has other line numbers.
impl PartialEq for Location {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Location {}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One build edge with its paths (canonicalized, relative to the build directory unless
/// absolute) and its rule variables expanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edge {
    /// The rule's name (`phony` for phony edges).
    pub rule: String,
    /// Explicit outputs (`$out`).
    pub outputs: Vec<String>,
    /// Implicit outputs (after `|` in the outputs).
    pub implicit_outputs: Vec<String>,
    /// Explicit inputs (`$in`).
    pub inputs: Vec<String>,
    /// Implicit inputs (after `|`).
    pub implicit_inputs: Vec<String>,
    /// Order-only inputs (after `||`).
    pub order_only: Vec<String>,
    /// Validations (after `|@`).
    pub validations: Vec<String>,
    /// The expanded command (empty for phony edges).
    pub command: String,
    /// The expanded description.
    pub description: String,
    /// The depfile the command writes, if any.
    pub depfile: String,
    /// `deps = gcc` or `deps = msvc`: Ninja moves the depfile into `.ninja_deps`.
    pub deps: String,
    /// The pool (`console`, a declared pool, or empty).
    pub pool: String,
    /// A response file written before the command runs.
    pub rspfile: String,
    /// The response file's content.
    pub rspfile_content: String,
    /// Whether the edge regenerates the build files (`generator = 1`).
    pub generator: bool,
    /// A dyndep file (not supported by the importer, which says so).
    pub dyndep: String,
    /// Where the edge was declared.
    pub location: Location,
}

impl Edge {
    /// Whether this is a `phony` edge (an alias, not a command).
    pub fn is_phony(&self) -> bool {
        self.rule == "phony"
    }

    /// Explicit and implicit outputs.
    pub fn all_outputs(&self) -> impl Iterator<Item = &String> {
        self.outputs.iter().chain(&self.implicit_outputs)
    }

    /// Explicit, implicit and order-only inputs.
    pub(crate) fn all_inputs(&self) -> impl Iterator<Item = &String> {
        self.inputs
            .iter()
            .chain(&self.implicit_inputs)
            .chain(&self.order_only)
    }

    /// The `k`-th of [`Edge::all_inputs`], found without walking the ones before it.
    pub(crate) fn input_at(&self, k: usize) -> Option<&str> {
        let mut k = k;
        for list in [&self.inputs, &self.implicit_inputs, &self.order_only] {
            match list.get(k) {
                Some(path) => return Some(path),
                None => k -= list.len(),
            }
        }
        None
    }
}

/// A parsed Ninja manifest: its edges in file order, its default targets and pools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFile {
    /// Every build edge, in the order written (includes and subninjas inline).
    pub edges: Vec<Edge>,
    /// The targets of `default` statements, in order.
    pub defaults: Vec<String>,
    /// Declared pools and their depth.
    pub pools: BTreeMap<String, usize>,
}
