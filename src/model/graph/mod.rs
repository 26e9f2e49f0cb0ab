//! The build graph: what a graph file declares, how it is checked and ordered into a
//! [`Graph`] of [`Step`]s ready to hash and run.
//!
//! A graph file is read (`load`) into [`GraphFile`] (`decl`, the serde form, also what
//! `import ninja` writes), then checked into a [`Graph`]: first its structure
//! (`structure`, with the step order from `order`), then each step's inputs on disk
//! (`input_patterns`). Every problem a user can make is reported with the file, the step
//! and what to do (`problem`; docs/design.md section 2). Limits are read by `units`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::model::hash::FileHash;
use input_patterns::{inputs_known_and_free, step_inputs};
use load::read_graph_text;
use problem::step_error;
use structure::{check_structure, Producers};

mod decl;
mod input_patterns;
mod load;
mod order;
mod problem;
mod structure;
mod units;

pub use decl::{Command, GraphFile, SizeDecl, StepDecl, TimeoutDecl, MAX_PIDS, ROOT_PLACEHOLDER};
pub use input_patterns::resolve_inputs;
pub use load::{parse_graph_text, resolve_graph_path, DEFAULT_GRAPH_FILE};
pub use problem::{clip, describe_cycle, GraphError, Problem, MAX_MESSAGE, MAX_SHOWN};
pub use structure::check_relative;
pub use units::{parse_duration, read_duration, read_size, scale_decimal, BadNumber};

/// The PATH a step gets when the graph declares none.
pub(crate) const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The default per-step timeout (docs/design.md section 4).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

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
    pub(crate) fn from_file_knowing(
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
    pub(crate) fn final_steps(&self) -> Vec<&Step> {
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
    fn network_needs_sha256() {
        let err = problem("[steps.f]\nrun = \"curl\"\noutputs = [\"o\"]\nnetwork = true\n");
        assert!(err.contains("needs `sha256"), "{err}");
    }
}
