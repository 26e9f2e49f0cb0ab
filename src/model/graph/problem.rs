//! What can be wrong with a graph ([`Problem`]), said with the file and the step it is in
//! ([`GraphError`]), and the bounds that keep a message about a user's huge name or line
//! short.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use super::decl::MAX_PIDS;
use super::units::BadNumber;

/// What is wrong with a graph.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The file cannot be read.
    #[error("cannot read the graph file: {0}")]
    Read(std::io::Error),
    /// TOML or JSON syntax or schema error (carries line and column).
    #[error("{0}")]
    Syntax(String),
    /// No steps.
    #[error("the graph has no steps; add a [steps.NAME] table")]
    NoSteps,
    /// A step name with characters reprobe does not allow.
    #[error("step name is not allowed: use letters, digits and . _ - + : only")]
    BadName,
    /// Empty command.
    #[error("`run` is empty")]
    EmptyRun,
    /// No outputs.
    #[error("`outputs` is empty: a step must declare what it produces")]
    NoOutputs,
    /// A dep that is not a step.
    #[error("unknown dep `{0}` (no step has that name)")]
    UnknownDep(String),
    /// A cycle through deps: its steps, the first again at the end.
    #[error("{}", describe_cycle(.0, "steps"))]
    Cycle(Vec<String>),
    /// One step lists the same output twice.
    #[error("output `{0}` is listed twice in `outputs`; list each output once")]
    OutputListedTwice(String),
    /// Two steps claim one output.
    #[error("output `{output}` is also declared by step `{other}`")]
    DuplicateOutput {
        /// The output path.
        output: String,
        /// The other step.
        other: String,
    },
    /// A path that is absolute or escapes with `..`.
    #[error("path `{path}` {why}; paths are relative to the graph's directory and stay inside it")]
    BadPath {
        /// The path as written.
        path: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An input pattern matching nothing.
    #[error("input `{0}` matches no file")]
    NoMatch(String),
    /// An input that is (or takes in) a FIFO, a socket or a device.
    #[error("{}", special_input_message(.input, .path, .kind))]
    SpecialInput {
        /// The input as written.
        input: String,
        /// The special file, relative to the graph's directory.
        path: String,
        /// What it is ("FIFO", "character device", ...).
        kind: &'static str,
    },
    /// An input pattern that is not a valid glob.
    #[error("input `{pattern}` is not a valid glob: {error}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// The parser's message.
        error: String,
    },
    /// network = true without sha256.
    #[error(
        "`network = true` needs `sha256 = \"...\"`: only fixed-output steps may use the network"
    )]
    NetworkWithoutSha,
    /// A fixed-output step must have exactly one output.
    #[error("a fixed-output step (network = true) must declare exactly one output")]
    NetworkOutputs,
    /// sha256 on a step that is not a fetch.
    #[error("`sha256` is only meaningful with `network = true`")]
    ShaWithoutNetwork,
    /// sha256 that is not 64 hex digits.
    #[error("`sha256 = \"{0}\"` is not 64 hex digits")]
    BadSha(String),
    /// An unparsable, zero or too long timeout.
    #[error("`timeout = {value}` {}", timeout_why(*.why))]
    BadTimeout {
        /// The value as written.
        value: String,
        /// What is wrong with it.
        why: BadNumber,
    },
    /// An unparsable, zero or too large `memory` or `disk`.
    #[error("`{key} = {value}` {}", size_why(*.why))]
    BadSize {
        /// `memory` or `disk`.
        key: &'static str,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        why: BadNumber,
    },
    /// `pids = 0`.
    #[error("`pids = 0` would not even let the step's own process run")]
    ZeroPids,
    /// More processes than Linux can have.
    #[error("`pids = {0}` is more processes than Linux can ever run at once ({MAX_PIDS}); leave `pids` out for the default")]
    TooManyPids(u64),
    /// An input that another step produces.
    #[error(
        "input `{input}` is an output of step `{producer}`: list `{producer}` in `deps` instead"
    )]
    InputIsOutput {
        /// The input path.
        input: String,
        /// The producing step.
        producer: String,
    },
    /// An environment variable name that cannot be set.
    #[error("environment variable name `{0}` is not allowed")]
    BadEnvName(String),
}

fn special_input_message(input: &str, path: &str, kind: &str) -> String {
    let what = if input == path {
        format!("input `{input}` is a {kind}")
    } else {
        format!("input `{input}` takes in `{path}`, a {kind}")
    };
    format!("{what}, not a regular file: reading it could wait forever; inputs are regular files and directories of them (remove it, or name the files you mean)")
}

fn timeout_why(why: BadNumber) -> &'static str {
    match why {
        BadNumber::Malformed => "is not a duration (write seconds, or \"90s\", \"10m\", \"1h\")",
        BadNumber::Zero => {
            "is zero: give the step time to run (write seconds, or \"90s\", \"10m\", \"1h\")"
        }
        BadNumber::TooLarge => {
            "is longer than any timeout reprobe can wait for (at most 18446744073709551615 seconds)"
        }
    }
}

fn size_why(why: BadNumber) -> &'static str {
    match why {
        BadNumber::Malformed => "is not a size (write bytes, or \"512M\", \"4G\")",
        BadNumber::Zero => "is zero: no step can run in it (write bytes, or \"512M\", \"4G\")",
        BadNumber::TooLarge => {
            "is more than the largest limit there is (18446744073709551615 bytes, 16 EiB)"
        }
    }
}

/// A graph problem with the file and (where there is one) the step it is in.
#[derive(Debug, thiserror::Error)]
pub struct GraphError {
    /// The graph file.
    pub file: PathBuf,
    /// The step the problem is in.
    pub step: Option<String>,
    /// The problem. Not a `#[source]`: the message above already prints it, and a
    /// source would print it a second time in `{err:#}`.
    pub problem: Problem,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(step) = &self.step {
            write!(f, "step `{}`: ", clip(step, MAX_SHOWN))?;
        }
        write!(f, "{}", clip(&self.problem.to_string(), MAX_MESSAGE))
    }
}

/// The most of one name or line taken from a user's file that a message shows.
pub const MAX_SHOWN: usize = 200;

/// The longest message about one problem: names and lines in it are the user's, and a
/// 10 MB step name must not make a 10 MB message.
pub const MAX_MESSAGE: usize = 2000;

/// `text`, or (when longer than `max` bytes) its start and its end with how much of the
/// middle is left out.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let head = text.floor_char_boundary(max * 2 / 3);
    let tail = text.ceil_char_boundary(text.len() - max / 3);
    Cow::Owned(format!(
        "{} ... ({} bytes left out) ... {}",
        &text[..head],
        tail - head,
        &text[tail..]
    ))
}

/// Steps of a cycle shown by name before the rest is summed up (a cycle of 100,000 steps
/// would otherwise make a message of megabytes).
const SHOWN_CYCLE: usize = 10;

/// "dependency cycle: a -> b -> a" for a cycle given with its first node again at the
/// end; a long one shows its first [`SHOWN_CYCLE`] nodes, how many are left out, and its
/// last: "dependency cycle of 100000 steps: s0 -> ... -> s9 -> ... (99989 more) ... ->
/// s99999 -> s0". `unit` names what the nodes are ("steps", "files"). Shared by the graph
/// and the Ninja import.
pub fn describe_cycle(nodes: &[String], unit: &str) -> String {
    let length = nodes.len().saturating_sub(1);
    if nodes.len() <= SHOWN_CYCLE + 3 {
        return format!("dependency cycle: {}", nodes.join(" -> "));
    }
    let first = nodes[..SHOWN_CYCLE].join(" -> ");
    let left_out = length - SHOWN_CYCLE - 1;
    format!(
        "dependency cycle of {length} {unit}: {first} -> ... ({left_out} more) ... -> {} -> {}",
        nodes[length - 1],
        nodes[length]
    )
}

/// A [`GraphError`] in step `step` of graph file `file`.
pub(super) fn step_error(file: &Path, step: &str, problem: Problem) -> GraphError {
    GraphError {
        file: file.to_path_buf(),
        step: Some(step.to_string()),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_cycles_are_shown_whole() {
        let nodes: Vec<String> = (0..13).map(|i| format!("n{}", i % 12)).collect();
        let text = describe_cycle(&nodes, "steps");
        assert_eq!(text, format!("dependency cycle: {}", nodes.join(" -> ")));
        let nodes: Vec<String> = (0..14).map(|i| format!("n{}", i % 13)).collect();
        let text = describe_cycle(&nodes, "files");
        assert!(
            text.starts_with("dependency cycle of 13 files: n0 -> "),
            "{text}"
        );
        assert!(
            text.ends_with(" -> n9 -> ... (2 more) ... -> n12 -> n0"),
            "{text}"
        );
    }
}
