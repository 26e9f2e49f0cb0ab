//! The build graph: parsing `reprobe.toml` (or `.json`), validating it, and ordering it.
//!
//! A graph file is read into [`GraphFile`] (the serde form, also what `import ninja`
//! writes), then checked into a [`Graph`]: every problem a user can make is reported with
//! the file, the step and what to do (docs/design.md section 2).

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use walkdir::WalkDir;

use crate::model::fasthash::FastMap;
use crate::model::hash::FileHash;

/// The file name looked up when a directory is given as the graph.
pub const DEFAULT_GRAPH_FILE: &str = "reprobe.toml";

/// The PATH a step gets when the graph declares none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The default per-step timeout (docs/design.md section 4).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

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
    fn read(&self) -> Result<u64, BadNumber> {
        match self {
            SizeDecl::Bytes(0) => Err(BadNumber::Zero),
            SizeDecl::Bytes(n) => Ok(*n),
            SizeDecl::Text(text) => read_size(text),
        }
    }

    fn shown(&self) -> String {
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

    fn is_empty(&self) -> bool {
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
    fn to_duration(&self) -> Result<Duration, BadNumber> {
        match self {
            TimeoutDecl::Seconds(0) => Err(BadNumber::Zero),
            TimeoutDecl::Seconds(s) => Ok(Duration::from_secs(*s)),
            TimeoutDecl::Text(text) => read_duration(text),
        }
    }

    fn shown(&self) -> String {
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

/// Parses "90", "90s", "10m", "1h" or "1.5h": more than zero and at most `u64::MAX`
/// seconds. `None` for anything else, never a panic.
pub fn parse_duration(text: &str) -> Option<Duration> {
    read_duration(text).ok()
}

/// Why a number in a graph file (or on the command line) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadNumber {
    /// Not a number with a known unit.
    Malformed,
    /// Zero (or a fraction that rounds down to zero): no limit a step could live with.
    Zero,
    /// More than the largest value reprobe holds (`u64::MAX` seconds or bytes).
    TooLarge,
}

/// [`parse_duration`], saying why a text is refused. Exact: no floating point (a
/// fraction finer than a nanosecond is dropped).
pub fn read_duration(text: &str) -> Result<Duration, BadNumber> {
    const NANOS: u128 = 1_000_000_000;
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit.trim() {
        "s" => NANOS,
        "m" => 60 * NANOS,
        "h" => 3600 * NANOS,
        _ => return Err(BadNumber::Malformed),
    };
    let nanos = scale_decimal(number.trim(), scale)?;
    let secs = u64::try_from(nanos / NANOS).map_err(|_| BadNumber::TooLarge)?;
    // The remainder is below 10^9: it always fits.
    let duration = Duration::new(secs, (nanos % NANOS) as u32);
    if duration.is_zero() {
        return Err(BadNumber::Zero);
    }
    Ok(duration)
}

/// A size: bytes ("1048576"), or a number with a unit: `k`, `M`, `G`, `T` (powers of
/// 1024; `KiB`, `MB`, `GiB`… are read the same), e.g. "512M", "1.5G"; at least one byte
/// and at most `u64::MAX`. Exact: no floating point (a fraction of a byte is dropped).
pub fn read_size(text: &str) -> Result<u64, BadNumber> {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let scale: u128 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(BadNumber::Malformed),
    };
    let bytes = scale_decimal(number.trim(), scale)?;
    match u64::try_from(bytes) {
        Ok(0) => Err(BadNumber::Zero),
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(BadNumber::TooLarge),
    }
}

/// Fraction digits [`scale_decimal`] reads: each later one is worth less than one unit
/// for any scale below 10^20, so they are ignored (they are still checked to be digits).
const FRACTION_DIGITS: usize = 20;

/// `number * scale` rounded down, for a plain decimal `number` (`12`, `1.5`, `.5`, `2.`:
/// digits and at most one dot, at least one digit), with checked integer arithmetic:
/// [`BadNumber::Malformed`] when it is no such number, [`BadNumber::TooLarge`] when the
/// product does not fit in a `u128`.
pub fn scale_decimal(number: &str, scale: u128) -> Result<u128, BadNumber> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(BadNumber::Malformed);
    }
    let value = |s: &str| {
        s.bytes()
            .try_fold(0u128, |acc, b| {
                acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
            })
            .ok_or(BadNumber::TooLarge)
    };
    let kept = &fraction[..fraction.len().min(FRACTION_DIGITS)];
    let denominator = 10u128.pow(kept.len() as u32);
    let part = value(kept)?.checked_mul(scale).ok_or(BadNumber::TooLarge)? / denominator;
    value(whole)?
        .checked_mul(scale)
        .and_then(|w| w.checked_add(part))
        .ok_or(BadNumber::TooLarge)
}

/// A validated step, ready to hash and run.
#[derive(Debug, Clone)]
pub struct Step {
    /// The step's name, unique in the graph.
    pub name: String,
    /// What it runs.
    pub command: Command,
    /// Declared input files, resolved from the patterns: sorted, relative, `/`-separated.
    pub inputs: Vec<String>,
    /// Declared outputs, relative.
    pub outputs: Vec<String>,
    /// Tool names, resolved on PATH when hashing.
    pub tools: Vec<String>,
    /// The exact environment: the graph's plus the step's.
    pub env: BTreeMap<String, String>,
    /// Names of the steps it depends on, sorted.
    pub deps: Vec<String>,
    /// Whether this is a fixed-output fetch with network access.
    pub network: bool,
    /// The declared hash of a fixed-output step's output.
    pub sha256: Option<FileHash>,
    /// How long it may run (`None`: the build's default, 1 h unless `--timeout`).
    pub timeout: Option<Duration>,
    /// Per-process memory limit in bytes (`None`: the build's default).
    pub memory: Option<u64>,
    /// Disk limit in bytes (`None`: the build's default).
    pub disk: Option<u64>,
    /// Process limit (`None`: the build's default).
    pub pids: Option<u64>,
}

#[cfg(test)]
impl Step {
    /// A step `name` running `run` by the shell, declaring nothing (for unit tests).
    pub(crate) fn shell_for_tests(name: &str, run: &str) -> Step {
        Step {
            name: name.into(),
            command: Command::Shell(run.into()),
            inputs: Vec::new(),
            outputs: Vec::new(),
            tools: Vec::new(),
            env: BTreeMap::new(),
            deps: Vec::new(),
            network: false,
            sha256: None,
            timeout: None,
            memory: None,
            disk: None,
            pids: None,
        }
    }
}

/// A validated graph, steps in a stable topological order.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The graph file.
    pub file: PathBuf,
    /// The directory every relative path is relative to (the graph file's directory).
    pub root: PathBuf,
    /// Steps in topological order (ties broken by name).
    pub steps: Vec<Step>,
    index: HashMap<String, usize>,
}

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

/// The most processes Linux can have at once (`PID_MAX_LIMIT` on 64-bit systems): a
/// larger `pids` is a mistake, and `RLIMIT_NPROC` may refuse it only when the step starts.
pub const MAX_PIDS: u64 = 1 << 22;

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

/// A graph file's text, read only from a regular file (a FIFO would block the read
/// forever, a device could never end).
fn read_graph_text(file: &Path) -> std::io::Result<String> {
    let bytes = crate::sources::ninja::files::read_regular(file)?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// Resolves a command-line graph argument: a file, or a directory holding `reprobe.toml`.
pub fn resolve_graph_path(arg: Option<&Path>) -> PathBuf {
    let path = arg.unwrap_or_else(|| Path::new("."));
    if path.is_dir() {
        path.join(DEFAULT_GRAPH_FILE)
    } else {
        path.to_path_buf()
    }
}

impl Graph {
    /// Reads and validates a graph file (TOML, or JSON when it ends in `.json`).
    pub fn load(file: &Path) -> Result<Graph, GraphError> {
        let fail = |step: Option<String>, problem| GraphError {
            file: file.to_path_buf(),
            step,
            problem,
        };
        let text = read_graph_text(file).map_err(|e| fail(None, Problem::Read(e)))?;
        let parsed =
            parse_graph_text(file, &text).map_err(|(step, problem)| fail(step, problem))?;
        let root = file
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        let root = fs::canonicalize(root).map_err(|e| fail(None, Problem::Read(e)))?;
        Graph::from_file(parsed, file, &root)
    }

    /// Validates a parsed graph whose relative paths are relative to `root`.
    pub fn from_file(parsed: GraphFile, file: &Path, root: &Path) -> Result<Graph, GraphError> {
        Graph::from_file_knowing(parsed, file, root, &|_| false)
    }

    /// [`Graph::from_file`] for a caller that has just seen some input files itself:
    /// `known_file(path)` may answer true only for a relative path naming a regular file
    /// below `root`, which is then not looked at again. Anything else (globs, directories,
    /// paths it does not know) is resolved as [`Graph::from_file`] does.
    pub fn from_file_knowing(
        parsed: GraphFile,
        file: &Path,
        root: &Path,
        known_file: &dyn Fn(&str) -> bool,
    ) -> Result<Graph, GraphError> {
        let (producers, order) = check_structure(&parsed, file)?;
        let mut steps = Vec::with_capacity(order.len());
        for name in order {
            let decl = &parsed.steps[name];
            let step = build_step(name, decl, &parsed.env, root, &producers, known_file)
                .map_err(|p| step_error(file, name, p))?;
            steps.push(step);
        }
        let index = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Ok(Graph {
            file: file.to_path_buf(),
            root: root.to_path_buf(),
            steps,
            index,
        })
    }

    /// Checks a parsed graph exactly as [`Graph::from_file_knowing`] does (same problems,
    /// same first error) without building it: for `import`, which only writes the graph.
    pub fn validate(
        parsed: &GraphFile,
        file: &Path,
        root: &Path,
        known_file: &dyn Fn(&str) -> bool,
    ) -> Result<(), GraphError> {
        let (producers, order) = check_structure(parsed, file)?;
        // Usually every step passes the cheap check, in any order; only otherwise does
        // the order matter, to report the first problem `from_file_knowing` would.
        let cheap = |decl: &StepDecl| inputs_known_and_free(decl, &producers, known_file);
        if parsed.steps.values().all(cheap) {
            return Ok(());
        }
        for name in order {
            let decl = &parsed.steps[name];
            if !cheap(decl) {
                step_inputs(decl, root, &producers, known_file)
                    .map_err(|p| step_error(file, name, p))?;
            }
        }
        Ok(())
    }

    /// Looks a step up by name.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.index.get(name).map(|&i| &self.steps[i])
    }

    /// The position of a step in [`Graph::steps`].
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Steps no other step depends on: the graph's final products.
    pub fn final_steps(&self) -> Vec<&Step> {
        let used: BTreeSet<&str> = self
            .steps
            .iter()
            .flat_map(|s| s.deps.iter().map(String::as_str))
            .collect();
        self.steps
            .iter()
            .filter(|s| !used.contains(s.name.as_str()))
            .collect()
    }

    /// Every step that depends on `name`, directly or not, in topological order.
    pub fn dependents(&self, name: &str) -> Vec<&Step> {
        let mut tainted: BTreeSet<&str> = BTreeSet::from([name]);
        let mut out = Vec::new();
        for step in &self.steps {
            if step.deps.iter().any(|d| tainted.contains(d.as_str())) {
                tainted.insert(&step.name);
                out.push(step);
            }
        }
        out
    }
}

fn step_error(file: &Path, step: &str, problem: Problem) -> GraphError {
    GraphError {
        file: file.to_path_buf(),
        step: Some(step.to_string()),
        problem,
    }
}

/// Output path -> the step declaring it (hashed: large graphs look every input up; the
/// keys are the graph file's own paths, so the fast hash of the Ninja import serves).
type Producers<'g> = FastMap<&'g str, &'g str>;

/// Everything [`Graph::from_file`] checks before it looks at files: names, shapes, env,
/// outputs (duplicates and overlaps), deps and cycles. Returns the producers of the
/// outputs and the steps in topological order.
fn check_structure<'g>(
    parsed: &'g GraphFile,
    file: &Path,
) -> Result<(Producers<'g>, Vec<&'g str>), GraphError> {
    let graph_error = |problem| GraphError {
        file: file.to_path_buf(),
        step: None,
        problem,
    };
    if parsed.steps.is_empty() {
        return Err(graph_error(Problem::NoSteps));
    }
    for name in parsed.env.keys() {
        check_env_name(name).map_err(graph_error)?;
    }
    let mut producers: Producers =
        FastMap::with_capacity_and_hasher(parsed.steps.len(), Default::default());
    for (name, decl) in &parsed.steps {
        check_step_shape(name, decl).map_err(|p| step_error(file, name, p))?;
        for output in &decl.outputs {
            let key = output.trim_end_matches('/');
            if let Some(other) = producers.insert(key, name) {
                let problem = if other == name {
                    Problem::OutputListedTwice(output.clone())
                } else {
                    Problem::DuplicateOutput {
                        output: output.clone(),
                        other: other.to_string(),
                    }
                };
                return Err(step_error(file, name, problem));
            }
        }
    }
    check_overlapping_outputs(&producers).map_err(|(step, p)| step_error(file, &step, p))?;
    let order = topological_order(&parsed.steps).map_err(|(step, p)| step_error(file, &step, p))?;
    Ok((producers, order))
}

/// Parses graph text; errors carry the step they are in when it can be found.
pub fn parse_graph_text(file: &Path, text: &str) -> Result<GraphFile, (Option<String>, Problem)> {
    if file.extension().is_some_and(|e| e == "json") {
        return serde_json::from_str(text)
            .map_err(|e| (None, Problem::Syntax(format!("invalid JSON graph: {e}"))));
    }
    toml::from_str(text).map_err(|e| {
        let step = e.span().and_then(|span| step_at(text, span.start));
        (step, Problem::Syntax(toml_message(text, &e)))
    })
}

/// The TOML reader's message, which quotes the line in error with a caret under the
/// column; a line longer than [`MAX_SHOWN`] is quoted around the column only.
fn toml_message(text: &str, error: &toml::de::Error) -> String {
    let full = error.to_string();
    let full = full.trim_end();
    let long = full.lines().any(|l| l.len() > MAX_SHOWN);
    let Some(span) = error.span().filter(|_| long) else {
        return clip(full, MAX_MESSAGE).into_owned();
    };
    let at = text.floor_char_boundary(span.start.min(text.len()));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = memchr::memchr_iter(b'\n', &text.as_bytes()[..at]).count() + 1;
    let column = text[line_start..at].chars().count() + 1;
    let from = text.floor_char_boundary(at.saturating_sub(MAX_SHOWN / 2).max(line_start));
    let to = text.ceil_char_boundary((at + MAX_SHOWN / 2).min(line_end));
    let lead = if from > line_start { "..." } else { "" };
    let trail = if to < line_end { "..." } else { "" };
    let caret = " ".repeat(lead.len() + text[from..at].chars().count());
    let gutter = " ".repeat(line.to_string().len());
    format!(
        "TOML parse error at line {line}, column {column}\n{gutter} |\n{line} | {lead}{}{trail}\n{gutter} | {caret}^\n{}",
        &text[from..to],
        clip(error.message().trim_end(), MAX_MESSAGE)
    )
}

/// The `[steps.NAME]` table that contains byte `offset` of a TOML text.
fn step_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    before.lines().rev().find_map(|line| {
        let line = line.trim();
        let inner = line.strip_prefix('[')?.strip_suffix(']')?.trim();
        let name = inner.strip_prefix("steps.")?;
        Some(name.trim_matches('"').to_string())
    })
}

fn check_env_name(name: &str) -> Result<(), Problem> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Err(Problem::BadEnvName(name.to_string()));
    }
    Ok(())
}

fn check_step_shape(name: &str, decl: &StepDecl) -> Result<(), Problem> {
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | ':'));
    if !name_ok {
        return Err(Problem::BadName);
    }
    if decl.run.is_empty() {
        return Err(Problem::EmptyRun);
    }
    if decl.outputs.is_empty() {
        return Err(Problem::NoOutputs);
    }
    for path in decl.outputs.iter().chain(&decl.inputs) {
        check_relative(path)?;
    }
    for key in decl.env.keys() {
        check_env_name(key)?;
    }
    if decl.deps.iter().any(|d| d == name) {
        return Err(Problem::Cycle(vec![name.to_string(), name.to_string()]));
    }
    match (decl.network, &decl.sha256) {
        (true, None) => return Err(Problem::NetworkWithoutSha),
        (false, Some(_)) => return Err(Problem::ShaWithoutNetwork),
        (true, Some(sha)) => {
            sha.parse::<FileHash>()
                .map_err(|_| Problem::BadSha(sha.clone()))?;
            if decl.outputs.len() != 1 {
                return Err(Problem::NetworkOutputs);
            }
        }
        (false, None) => {}
    }
    check_limits(decl)
}

/// `timeout`, `memory`, `disk` and `pids`: each one a value a step can run with.
fn check_limits(decl: &StepDecl) -> Result<(), Problem> {
    if let Some(timeout) = &decl.timeout {
        timeout.to_duration().map_err(|why| Problem::BadTimeout {
            value: timeout.shown(),
            why,
        })?;
    }
    for (key, size) in [("memory", &decl.memory), ("disk", &decl.disk)] {
        if let Some(size) = size {
            size.read().map_err(|why| Problem::BadSize {
                key,
                value: size.shown(),
                why,
            })?;
        }
    }
    match decl.pids {
        Some(0) => Err(Problem::ZeroPids),
        Some(pids) if pids > MAX_PIDS => Err(Problem::TooManyPids(pids)),
        _ => Ok(()),
    }
}

/// Rejects absolute paths and paths that climb out with `..`.
pub fn check_relative(path: &str) -> Result<(), Problem> {
    let bad = |why| {
        Err(Problem::BadPath {
            path: path.to_string(),
            why,
        })
    };
    if path.is_empty() {
        return bad("is empty");
    }
    // On `/`-separated text, what `Path::components` would find, without its cost.
    if path.starts_with('/') {
        return bad("is absolute");
    }
    if !path.starts_with('.') && !has_empty_or_dot_component(path) {
        // No component is empty or starts with a dot: none is `..` or `.`, and the first
        // is a name (the common case, settled without splitting).
        return Ok(());
    }
    if path.split('/').any(|c| c == "..") {
        return bad("escapes with `..`");
    }
    if path.split('/').all(|c| c.is_empty() || c == ".") {
        return bad("names the graph's directory itself");
    }
    Ok(())
}

/// Whether a `/` in `path` is followed by `.` or another `/`.
fn has_empty_or_dot_component(path: &str) -> bool {
    let bytes = path.as_bytes();
    let next = bytes.get(1..).unwrap_or_default();
    bytes
        .iter()
        .zip(next)
        .any(|(&byte, &after)| byte == b'/' && matches!(after, b'.' | b'/'))
}

/// One output inside another output of a different step is as much a clash as a duplicate.
/// Each output's parent directories are looked up among the outputs; the first clash in
/// path order is reported, so the message is the same from run to run.
fn check_overlapping_outputs(producers: &Producers) -> Result<(), (String, Problem)> {
    let enclosing = |output: &str, step: &str| {
        output
            .match_indices('/')
            .filter_map(|(at, _)| producers.get(&output[..at]))
            .find(|&&other| other != step)
            .map(|&other| other.to_string())
    };
    let mut clashes: Vec<(&str, &str, String)> = producers
        .iter()
        .filter_map(|(&output, &step)| Some((output, step, enclosing(output, step)?)))
        .collect();
    clashes.sort_unstable();
    match clashes.into_iter().next() {
        None => Ok(()),
        Some((output, step, other)) => Err((
            step.to_string(),
            Problem::DuplicateOutput {
                output: output.to_string(),
                other,
            },
        )),
    }
}

/// Kahn's algorithm with ties broken by name; a cycle is reported with its steps.
fn topological_order(steps: &BTreeMap<String, StepDecl>) -> Result<Vec<&str>, (String, Problem)> {
    // Steps by position in name order, so the smallest ready position is the first name.
    let names: Vec<&str> = steps.keys().map(String::as_str).collect();
    let positions: FastMap<&str, usize> = names.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut pending = vec![0usize; names.len()];
    // (dep, dependent) pairs, grouped by dep below.
    let mut links: Vec<(usize, usize)> = Vec::with_capacity(names.len());
    let mut deps = Vec::new();
    for (i, (name, decl)) in steps.iter().enumerate() {
        deps.clear();
        for dep in &decl.deps {
            let Some(&d) = positions.get(dep.as_str()) else {
                return Err((name.clone(), Problem::UnknownDep(dep.clone())));
            };
            deps.push(d);
        }
        deps.sort_unstable();
        deps.dedup();
        pending[i] = deps.len();
        links.extend(deps.iter().map(|&d| (d, i)));
    }
    links.sort_unstable();
    let mut first_link = vec![0usize; names.len() + 1];
    for &(d, _) in &links {
        first_link[d + 1] += 1;
    }
    for i in 0..names.len() {
        first_link[i + 1] += first_link[i];
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..names.len())
        .filter(|&i| pending[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(names[i]);
        for &(_, child) in &links[first_link[i]..first_link[i + 1]] {
            pending[child] -= 1;
            if pending[child] == 0 {
                ready.push(Reverse(child));
            }
        }
    }
    if order.len() == steps.len() {
        return Ok(order);
    }
    let cycle = find_cycle(steps, &names, &positions, &pending);
    Err((cycle[0].clone(), Problem::Cycle(cycle)))
}

/// Follows deps among the steps Kahn's algorithm left (`pending[i] > 0`, each of which
/// has such a dep) from the first by name until a step repeats: that loop is a cycle,
/// returned with its first step again at the end. Linear: each step joins the path once,
/// and its place on the path is kept, not searched for.
fn find_cycle(
    steps: &BTreeMap<String, StepDecl>,
    names: &[&str],
    positions: &FastMap<&str, usize>,
    pending: &[usize],
) -> Vec<String> {
    const OFF_PATH: usize = usize::MAX;
    let mut on_path = vec![OFF_PATH; names.len()];
    let mut path: Vec<usize> = Vec::new();
    let mut next = pending.iter().position(|&p| p > 0);
    while let Some(step) = next {
        if on_path[step] != OFF_PATH {
            let mut cycle: Vec<String> = path[on_path[step]..]
                .iter()
                .map(|&i| names[i].to_string())
                .collect();
            cycle.push(names[step].to_string());
            return cycle;
        }
        on_path[step] = path.len();
        path.push(step);
        next = steps[names[step]]
            .deps
            .iter()
            .filter_map(|dep| positions.get(dep.as_str()).copied())
            .find(|&dep| pending[dep] > 0);
    }
    // Not reached: every step left has a dep left. Name the path rather than panic.
    path.iter().map(|&i| names[i].to_string()).collect()
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

fn build_step(
    name: &str,
    decl: &StepDecl,
    graph_env: &BTreeMap<String, String>,
    root: &Path,
    producers: &Producers,
    known_file: &dyn Fn(&str) -> bool,
) -> Result<Step, Problem> {
    let mut env = graph_env.clone();
    env.extend(decl.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    let inputs = step_inputs(decl, root, producers, known_file)?;
    let mut deps = decl.deps.clone();
    deps.sort();
    deps.dedup();
    Ok(Step {
        name: name.to_string(),
        command: decl.run.clone(),
        inputs,
        outputs: decl
            .outputs
            .iter()
            .map(|o| o.trim_end_matches('/').to_string())
            .collect(),
        tools: decl.tools.clone(),
        env,
        deps,
        network: decl.network,
        sha256: decl.sha256.as_deref().and_then(|s| s.parse().ok()),
        timeout: decl.timeout.as_ref().and_then(|t| t.to_duration().ok()),
        memory: decl.memory.as_ref().and_then(SizeDecl::to_bytes),
        disk: decl.disk.as_ref().and_then(SizeDecl::to_bytes),
        pids: decl.pids,
    })
}

/// A step's input files; none may be another step's output.
fn step_inputs(
    decl: &StepDecl,
    root: &Path,
    producers: &Producers,
    known_file: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, Problem> {
    let inputs = resolve_inputs_knowing(&decl.inputs, root, known_file)?;
    if let Some((input, producer)) = inputs
        .iter()
        .find_map(|i| producers.get(i.as_str()).map(|p| (i, p)))
    {
        return Err(Problem::InputIsOutput {
            input: input.clone(),
            producer: producer.to_string(),
        });
    }
    Ok(inputs)
}

/// Whether every input of a step is a plain path `known_file` vouches for and none is an
/// output: then [`step_inputs`] would only copy and sort them and find no problem.
fn inputs_known_and_free(
    decl: &StepDecl,
    producers: &Producers,
    known_file: &dyn Fn(&str) -> bool,
) -> bool {
    decl.inputs
        .iter()
        .all(|input| is_known_file(input, known_file) && !producers.contains_key(input.as_str()))
}

/// Whether `pattern` is a plain path that `known_file` says is a regular file, taken as
/// it is without looking at the disk (even when its name has glob characters: an
/// imported `c[1].c` is that file).
fn is_known_file(pattern: &str, known_file: &dyn Fn(&str) -> bool) -> bool {
    is_normal(pattern) && known_file(pattern)
}

/// Whether `pattern` is to be expanded as a glob: it has glob characters and is not
/// the name of an existing file (a file named `c[1].c` is taken literally).
fn expands_as_glob(pattern: &str, root: &Path) -> bool {
    is_glob(pattern) && !root.join(pattern).is_file()
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// Expands input patterns into a sorted list of files relative to `root`. A directory
/// stands for every file below it.
pub fn resolve_inputs(patterns: &[String], root: &Path) -> Result<Vec<String>, Problem> {
    resolve_inputs_knowing(patterns, root, &|_| false)
}

/// [`resolve_inputs`], taking a plain path that `known_file` says is a regular file as it
/// is (what the file-system walk would find for it) instead of looking at it again.
fn resolve_inputs_knowing(
    patterns: &[String],
    root: &Path,
    known_file: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, Problem> {
    // A list sorted and deduplicated at the end: what a set would hold, built cheaper.
    let mut files = Vec::new();
    for pattern in patterns {
        let before = files.len();
        if is_known_file(pattern, known_file) {
            files.push(pattern.clone());
            continue;
        }
        if expands_as_glob(pattern, root) {
            expand_glob(pattern, root, &mut files)?;
        } else {
            let path = root.join(pattern);
            match fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => collect_dir(pattern, root, &path, &mut files)?,
                Ok(meta) if meta.is_file() => files.push(normalize(pattern)),
                Ok(meta) => return Err(special_input(pattern, pattern, meta.file_type())),
                Err(_) => {}
            }
        }
        if files.len() == before && !pattern_matched_existing(pattern, root, &files) {
            return Err(Problem::NoMatch(pattern.clone()));
        }
    }
    files.sort_unstable();
    files.dedup();
    Ok(files)
}

fn pattern_matched_existing(pattern: &str, root: &Path, files: &[String]) -> bool {
    // A pattern that only repeats files matched by an earlier pattern still matches.
    if expands_as_glob(pattern, root) {
        let Ok(glob) = Glob::new(pattern) else {
            return false;
        };
        let matcher = glob.compile_matcher();
        files.iter().any(|f| matcher.is_match(f))
    } else {
        root.join(pattern).exists()
    }
}

fn expand_glob(pattern: &str, root: &Path, files: &mut Vec<String>) -> Result<(), Problem> {
    let glob = Glob::new(pattern).map_err(|e| Problem::BadGlob {
        pattern: pattern.to_string(),
        error: e.kind().to_string(),
    })?;
    let set = GlobSetBuilder::new()
        .add(glob)
        .build()
        .map_err(|e| Problem::BadGlob {
            pattern: pattern.to_string(),
            error: e.to_string(),
        })?;
    let literal: PathBuf = Path::new(pattern)
        .components()
        .take_while(|c| !is_glob(&c.as_os_str().to_string_lossy()))
        .collect();
    let base = root.join(&literal);
    for entry in WalkDir::new(&base)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_dir() {
            continue;
        }
        let Some(rel) = relative_str(root, entry.path()) else {
            continue;
        };
        if set.is_match(&rel) {
            refuse_special(pattern, &entry, &rel)?;
            files.push(rel);
        }
    }
    Ok(())
}

fn collect_dir(
    input: &str,
    root: &Path,
    dir: &Path,
    files: &mut Vec<String>,
) -> Result<(), Problem> {
    for entry in WalkDir::new(dir).sort_by_file_name().into_iter().flatten() {
        if !entry.file_type().is_dir() {
            if let Some(rel) = relative_str(root, entry.path()) {
                refuse_special(input, &entry, &rel)?;
                files.push(rel);
            }
        }
    }
    Ok(())
}

/// Refuses a file taken in by a directory or glob input that is a FIFO, a socket or a
/// device (itself or through a symlink): hashing it could wait forever, or never end.
/// Only symlinks cost a `stat`; the walk already knows every other entry's type.
fn refuse_special(input: &str, entry: &walkdir::DirEntry, rel: &str) -> Result<(), Problem> {
    let mut kind = entry.file_type();
    if kind.is_symlink() {
        match fs::metadata(entry.path()) {
            Ok(meta) => kind = meta.file_type(),
            // Dangling: reported when the step's inputs are hashed, as before.
            Err(_) => return Ok(()),
        }
    }
    if kind.is_file() || kind.is_dir() {
        return Ok(());
    }
    Err(special_input(input, rel, kind))
}

fn special_input(input: &str, path: &str, kind: fs::FileType) -> Problem {
    Problem::SpecialInput {
        input: input.to_string(),
        path: path.to_string(),
        kind: crate::sources::ninja::files::kind_name(kind),
    }
}

fn relative_str(root: &Path, path: &Path) -> Option<String> {
    path.strip_prefix(root).ok()?.to_str().map(normalize)
}

/// Whether [`normalize`] leaves a relative path unchanged (no empty or `.` component).
fn is_normal(path: &str) -> bool {
    !path.split('/').any(|c| c.is_empty() || c == ".")
}

fn normalize(path: &str) -> String {
    Path::new(path)
        .components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<Graph, GraphError> {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/a.c"), "int a;").unwrap();
        fs::write(dir.path().join("src/b.h"), "int b;").unwrap();
        let file = dir.path().join("reprobe.toml");
        fs::write(&file, text).unwrap();
        Graph::load(&file)
    }

    fn problem(text: &str) -> String {
        load_str(text).unwrap_err().to_string()
    }

    #[test]
    fn valid_graph_is_ordered_and_inputs_resolved() {
        let g = load_str(
            r#"
[env]
PATH = "/usr/bin:/bin"
[steps.link]
run = "gcc a.o -o a"
deps = ["compile"]
outputs = ["a"]
[steps.compile]
run = "gcc -c src/a.c"
inputs = ["src/*.c", "src/b.h"]
outputs = ["a.o"]
env = { CFLAGS = "-O2" }
"#,
        )
        .unwrap();
        let names: Vec<_> = g.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["compile", "link"]);
        assert_eq!(g.steps[0].inputs, ["src/a.c", "src/b.h"]);
        assert_eq!(g.steps[0].env["CFLAGS"], "-O2");
        assert_eq!(g.steps[0].env["PATH"], "/usr/bin:/bin");
        assert_eq!(g.final_steps()[0].name, "link");
    }

    #[test]
    fn limit_keys_are_read_and_unset_ones_stay_unset() {
        let g = load_str(
            "[steps.a]\nrun = \"x\"\noutputs = [\"a\"]\nmemory = \"512M\"\ndisk = 1048576\npids = 100\ntimeout = \"90s\"\n[steps.b]\nrun = \"x\"\noutputs = [\"b\"]\n",
        )
        .unwrap();
        let a = &g.steps[0];
        assert_eq!(a.memory, Some(512 << 20));
        assert_eq!(a.disk, Some(1 << 20));
        assert_eq!(a.pids, Some(100));
        assert_eq!(a.timeout, Some(Duration::from_secs(90)));
        let b = &g.steps[1];
        assert_eq!(
            (b.memory, b.disk, b.pids, b.timeout),
            (None, None, None, None)
        );
    }

    #[test]
    fn bad_limits_are_named() {
        let step = "[steps.a]\nrun = \"x\"\noutputs = [\"a\"]\n";
        let err = problem(&format!("{step}memory = \"4X\"\n"));
        assert!(err.contains("`memory = \"4X\"` is not a size"), "{err}");
        let err = problem(&format!("{step}disk = 0\n"));
        assert!(err.contains("`disk = 0` is zero"), "{err}");
        let err = problem(&format!("{step}pids = 0\n"));
        assert!(err.contains("`pids = 0`"), "{err}");
        let err = problem(&format!("{step}pids = 4194305\n"));
        assert!(err.contains("`pids = 4194305` is more processes"), "{err}");
        let err = problem(&format!("{step}memory = \"16777216T\"\n"));
        assert!(err.contains("is more than the largest limit"), "{err}");
        let err = problem(&format!("{step}timeout = \"18446744073709551616s\"\n"));
        assert!(err.contains("is longer than any timeout"), "{err}");
        for zero in ["0", "\"0s\"", "\"0.0000000001s\""] {
            let err = problem(&format!("{step}timeout = {zero}\n"));
            assert!(
                err.contains(&format!("`timeout = {zero}` is zero")),
                "{err}"
            );
        }
        let err = problem(&format!("{step}timeout = -1\n"));
        assert!(
            err.contains("a timeout is whole seconds or a string"),
            "{err}"
        );
        let err = problem(&format!("{step}cpu = 2\n"));
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn cycle_is_printed() {
        let err = problem(
            r#"
[steps.a]
run = "x"
outputs = ["a"]
deps = ["c"]
[steps.b]
run = "x"
outputs = ["b"]
deps = ["a"]
[steps.c]
run = "x"
outputs = ["c"]
deps = ["b"]
"#,
        );
        assert!(err.contains("dependency cycle: a -> c -> b -> a"), "{err}");
    }

    /// A graph of steps `s0`..`s{n-1}`, each depending on the next; the last on `s{to}`.
    fn chain(n: usize, to: usize) -> GraphFile {
        let mut file = GraphFile::default();
        for i in 0..n {
            let dep = if i + 1 < n { i + 1 } else { to };
            let decl = StepDecl {
                run: Command::Shell("x".into()),
                outputs: vec![format!("o{i}")],
                deps: vec![format!("s{dep:06}")],
                ..StepDecl::default()
            };
            file.steps.insert(format!("s{i:06}"), decl);
        }
        file
    }

    #[test]
    fn a_long_cycle_is_found_in_linear_time_and_shown_shortened() {
        // 100,000 steps, the first two outside the cycle (a tail leading into it).
        let file = chain(100_000, 2);
        let err = Graph::from_file(file, Path::new("g.toml"), Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "g.toml: step `s000002`: dependency cycle of 99998 steps: s000002 -> s000003 -> s000004 -> s000005 -> s000006 -> s000007 -> s000008 -> s000009 -> s000010 -> s000011 -> ... (99987 more) ... -> s099999 -> s000002"
        );
    }

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

    #[test]
    fn unknown_dep_names_step_and_dep() {
        let err = problem("[steps.link]\nrun = \"x\"\noutputs = [\"a\"]\ndeps = [\"compil\"]\n");
        assert!(err.contains("step `link`: unknown dep `compil`"), "{err}");
    }

    #[test]
    fn duplicate_output_names_both_steps() {
        let err = problem("[steps.a]\nrun = \"x\"\noutputs = [\"o\"]\n[steps.b]\nrun = \"x\"\noutputs = [\"o\"]\n");
        assert!(
            err.contains("output `o` is also declared by step `a`"),
            "{err}"
        );
    }

    #[test]
    fn output_listed_twice_in_one_step_says_so() {
        let err = problem("[steps.a]\nrun = \"x\"\noutputs = [\"o\", \"o/\"]\n");
        assert!(
            err.contains("step `a`: output `o/` is listed twice"),
            "{err}"
        );
    }

    #[test]
    fn nested_output_is_a_clash_even_with_a_sibling_sorting_between() {
        // `o-x` sorts between `o` and `o/y` (`-` before `/`).
        let err = problem("[steps.a]\nrun = \"x\"\noutputs = [\"o\"]\n[steps.b]\nrun = \"x\"\noutputs = [\"o-x\"]\n[steps.c]\nrun = \"x\"\noutputs = [\"o/y\"]\n");
        assert!(
            err.contains("step `c`: output `o/y` is also declared by step `a`"),
            "{err}"
        );
    }

    #[test]
    fn nested_output_of_another_step_is_a_clash() {
        let err = problem("[steps.a]\nrun = \"x\"\noutputs = [\"o\"]\n[steps.b]\nrun = \"x\"\noutputs = [\"o/x\"]\n");
        assert!(err.contains("also declared by step `a`"), "{err}");
    }

    #[test]
    fn absolute_and_parent_paths_are_rejected() {
        let err = problem("[steps.a]\nrun = \"x\"\noutputs = [\"/etc/o\"]\n");
        assert!(err.contains("step `a`: path `/etc/o` is absolute"), "{err}");
        let err = problem("[steps.a]\nrun = \"x\"\noutputs = [\"o\"]\ninputs = [\"../x\"]\n");
        assert!(err.contains("`../x` escapes with `..`"), "{err}");
    }

    #[test]
    fn glob_matching_nothing_is_rejected() {
        let err = problem("[steps.a]\nrun = \"x\"\noutputs = [\"o\"]\ninputs = [\"src/*.rs\"]\n");
        assert!(err.contains("input `src/*.rs` matches no file"), "{err}");
    }

    #[test]
    fn a_file_whose_name_looks_like_a_glob_is_taken_literally() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("c[1].c"), "").unwrap();
        fs::write(dir.path().join("c1.c"), "").unwrap();
        fs::write(dir.path().join("d.c"), "").unwrap();
        let inputs = |p: &str| resolve_inputs(&[p.to_string()], dir.path()).unwrap();
        assert_eq!(inputs("c[1].c"), vec!["c[1].c"]);
        assert_eq!(inputs("c[0-9].c"), vec!["c1.c"]);
        assert_eq!(inputs("*.c"), vec!["c1.c", "c[1].c", "d.c"]);
    }

    #[test]
    fn fifos_and_devices_are_no_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("sub/ff");
        fs::create_dir(dir.path().join("sub")).unwrap();
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("null")).unwrap();
        let err = |p: &str| resolve_inputs(&[p.to_string()], dir.path()).unwrap_err();
        assert!(err("sub/ff").to_string().contains("`sub/ff` is a FIFO"));
        assert!(err("sub").to_string().contains("takes in `sub/ff`, a FIFO"));
        assert!(err("*").to_string().contains("`null`, a character device"));
        assert!(err("null")
            .to_string()
            .contains("`null` is a character device"));
    }

    #[test]
    fn unknown_key_names_the_step_line_and_column() {
        let err = problem("[steps.a]\nrun = \"x\"\noutputz = [\"o\"]\n");
        assert!(err.contains("step `a`"), "{err}");
        assert!(err.contains("unknown field `outputz`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn long_lines_and_names_make_short_messages() {
        let long = "x".repeat(5_000_000);
        let err = problem(&format!("[steps.a]\nrun = \"{long}\" junk\n"));
        assert!(err.len() < 1000, "{} bytes", err.len());
        assert!(
            err.contains("TOML parse error at line 2, column 5000010"),
            "{err}"
        );
        assert!(err.contains("\n2 | ...xxxxx"), "{err}");
        assert!(err.contains("xxxxx\" junk\n  |"), "{err}");
        let caret = err.lines().nth(3).unwrap();
        assert_eq!(caret.find('^'), err.lines().nth(2).unwrap().find("junk"));
        let err = problem(&format!(
            "[steps.\"{long}/\"]\nrun = \"x\"\noutputs = [\"a\"]\n"
        ));
        assert!(err.len() < 1000, "{} bytes", err.len());
        assert!(err.contains("(4999802 bytes left out)"), "{err}");
        assert!(err.ends_with("step name is not allowed: use letters, digits and . _ - + : only"));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = problem("[steps.a]\nrun = \"x\noutputs = []\n");
        assert!(err.contains("line 2, column"), "{err}");
    }

    #[test]
    fn network_needs_sha256() {
        let err = problem("[steps.f]\nrun = \"curl\"\noutputs = [\"o\"]\nnetwork = true\n");
        assert!(err.contains("needs `sha256"), "{err}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1 fortnight"), None);
        assert_eq!(parse_duration(".5m"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_duration("0.000000001s"),
            Some(Duration::from_nanos(1))
        );
        let most = Duration::new(u64::MAX, 999_999_999);
        assert_eq!(
            parse_duration("18446744073709551615.9999999999s"),
            Some(most)
        );
        assert_eq!(
            read_duration("18446744073709551616s"),
            Err(BadNumber::TooLarge)
        );
        assert_eq!(
            read_duration("18446744073709551615h"),
            Err(BadNumber::TooLarge)
        );
        assert_eq!(read_duration(&"9".repeat(100)), Err(BadNumber::TooLarge));
        assert_eq!(read_duration("0.0000000001s"), Err(BadNumber::Zero));
        for bad in ["", ".", "1.2.3s", "inf", "NaN", "1e3", "+1", "1_000", "--1"] {
            assert_eq!(read_duration(bad), Err(BadNumber::Malformed), "{bad}");
        }
    }

    #[test]
    fn sizes_are_exact_and_bounded() {
        assert_eq!(read_size("1.5G"), Ok(3 << 29));
        assert_eq!(
            read_size("16777215.999999T"),
            Ok((16777215 << 40) + 1099510528264)
        );
        assert_eq!(read_size("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(read_size("18446744073709551616"), Err(BadNumber::TooLarge));
        assert_eq!(read_size("16777216T"), Err(BadNumber::TooLarge));
        assert_eq!(read_size("0.5"), Err(BadNumber::Zero));
        assert_eq!(read_size("4X"), Err(BadNumber::Malformed));
        assert_eq!(scale_decimal(&"1".repeat(50), 1), Err(BadNumber::TooLarge));
        assert_eq!(
            scale_decimal(&format!("1.{}", "9".repeat(1000)), 10),
            Ok(19)
        );
    }

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
