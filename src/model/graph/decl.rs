//! The graph file as written (docs/design.md section 2): [`GraphFile`] and its steps'
//! declarations, the serde form users write and `import ninja` produces, before anything
//! is checked.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::units::{read_duration, read_size, BadNumber};

/// The serde form of a graph file, exactly as written by users (and by `import ninja`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GraphFile {
    /// Graph-wide environment; nothing else from the host environment leaks in.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The steps, by name.
    #[serde(default)]
    pub steps: BTreeMap<String, StepDecl>,
}

/// One step as declared in the graph file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepDecl {
    /// The command: a string run by `/bin/sh -c`, or an argv array.
    pub run: Command,
    /// Files, directories or globs relative to the graph's directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Files or directories the step must produce.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Executables resolved on PATH whose bytes join the input hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Step-specific environment, added to the graph's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Steps whose outputs are placed in this step's work directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<String>,
    /// Fixed-output fetch: the only kind of step allowed network access.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub network: bool,
    /// The sha256 a fixed-output step's single output must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Per-step timeout: seconds, or a string such as "90s", "10m", "1h".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TimeoutDecl>,
    /// Per-process memory limit: bytes, or a string such as "512M", "4G".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<SizeDecl>,
    /// Limit of the work directory, `/tmp` and `/dev/shm` together: bytes, or "1G".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<SizeDecl>,
    /// Most processes (and threads) the step may have at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
}

/// A size as written in a graph file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a size is a whole number of bytes or a string such as \"512M\" or \"4G\""
)]
pub enum SizeDecl {
    /// Bytes.
    Bytes(u64),
    /// A number with a unit: `k`, `M`, `G`, `T` (powers of 1024).
    Text(String),
}

impl SizeDecl {
    /// The size in bytes, if it is one.
    pub fn to_bytes(&self) -> Option<u64> {
        self.read().ok()
    }

    /// The size in bytes, or why it is none.
    pub(super) fn read(&self) -> Result<u64, BadNumber> {
        match self {
            SizeDecl::Bytes(0) => Err(BadNumber::Zero),
            SizeDecl::Bytes(n) => Ok(*n),
            SizeDecl::Text(text) => read_size(text),
        }
    }

    pub(super) fn shown(&self) -> String {
        match self {
            SizeDecl::Bytes(n) => n.to_string(),
            SizeDecl::Text(t) => format!("\"{t}\""),
        }
    }
}

/// A step's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "`run` is a string (run by /bin/sh -c) or an array of strings (the argv)"
)]
pub enum Command {
    /// Run by `/bin/sh -c`.
    Shell(String),
    /// Executed directly; the program is resolved on the step's PATH.
    Argv(Vec<String>),
}

impl Default for Command {
    fn default() -> Self {
        Command::Shell(String::new())
    }
}

impl Command {
    /// The argv the sandbox executes.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Shell(script) => vec!["/bin/sh".into(), "-c".into(), script.clone()],
            Command::Argv(argv) => argv.clone(),
        }
    }

    /// [`Command::argv`] as it runs with the project at `root`: every [`ROOT_PLACEHOLDER`]
    /// replaced by that absolute path (the key keeps the placeholder).
    pub fn argv_at(&self, root: &str) -> Vec<String> {
        self.argv()
            .into_iter()
            .map(|arg| arg.replace(ROOT_PLACEHOLDER, root))
            .collect()
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            Command::Shell(script) => script.trim().is_empty(),
            Command::Argv(argv) => argv.first().is_none_or(|p| p.is_empty()),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Shell(script) => f.write_str(script),
            Command::Argv(argv) => f.write_str(&argv.join(" ")),
        }
    }
}

/// A timeout as written in a graph file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a timeout is whole seconds or a string such as \"90s\", \"10m\" or \"1.5h\""
)]
pub enum TimeoutDecl {
    /// Whole seconds.
    Seconds(u64),
    /// A number with a unit: `s`, `m` or `h`.
    Text(String),
}

impl TimeoutDecl {
    pub(super) fn to_duration(&self) -> Result<Duration, BadNumber> {
        match self {
            TimeoutDecl::Seconds(0) => Err(BadNumber::Zero),
            TimeoutDecl::Seconds(s) => Ok(Duration::from_secs(*s)),
            TimeoutDecl::Text(text) => read_duration(text),
        }
    }

    pub(super) fn shown(&self) -> String {
        match self {
            TimeoutDecl::Seconds(s) => s.to_string(),
            TimeoutDecl::Text(t) => format!("\"{t}\""),
        }
    }
}

/// Stands, in a command, for the absolute path of the project's root where the step runs
/// (`/build/project` in a sandbox, another path in `check`'s second build), exactly as a
/// native build names its checkout. The input hash keeps the placeholder, so the key is
/// the same in any checkout while the command runs as the user's build runs it.
/// `import ninja` writes it for every absolute spelling of the root (CMake names every
/// source by its absolute path).
pub const ROOT_PLACEHOLDER: &str = "${REPROBE_ROOT}";

/// The most processes Linux can have at once (`PID_MAX_LIMIT` on 64-bit systems): a
/// larger `pids` is a mistake, and `RLIMIT_NPROC` may refuse it only when the step starts.
pub const MAX_PIDS: u64 = 1 << 22;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_file_round_trips_through_toml() {
        let mut file = GraphFile::default();
        file.steps.insert(
            "a".into(),
            StepDecl {
                run: Command::Argv(vec!["cc".into(), "-c".into()]),
                outputs: vec!["a.o".into()],
                ..StepDecl::default()
            },
        );
        let text = toml::to_string(&file).unwrap();
        assert_eq!(toml::from_str::<GraphFile>(&text).unwrap(), file);
    }
}
