//! Turns a parsed `build.ninja` into a reprobe graph.
//!
//! - **Which edges**: those reachable from the requested targets (default: the file's
//!   `default` targets, else every output nothing consumes). Phony edges are aliases, not
//!   steps: an input naming one stands for the phony's own inputs.
//! - **Inputs and deps**: explicit and implicit inputs, plus the headers the compiler
//!   discovered on a previous build (`.ninja_deps`, depfiles). An input produced by another
//!   edge makes that edge a dep; a project file becomes an input; files outside the root
//!   (system headers) are left out and counted in the notes. Order-only inputs only order
//!   Ninja's build, so they are ignored, except for edges with a depfile whose discovered
//!   dependencies are unknown: there they usually name generated headers, so they are kept
//!   as deps until a first build tells the truth.
//! - **Root and commands**: see [`super::paths`]. Each step runs
//!   `mkdir -p <output dirs> && cd <build dir> || exit 1` and then Ninja's command, with
//!   the root's absolute spellings rewritten to relative paths.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::deps::{parse_depfile, read_ninja_deps};
use super::parse::{canonicalize_path, parse_file, shell_escape, BuildFile, Edge, NinjaError};
use super::paths::{
    common_ancestor, is_system_path, normalize_abs, normalize_join, relative_inside,
    relative_inside_str, Rewriter,
};
use crate::graph::{Command, Graph, GraphError, GraphFile, StepDecl, DEFAULT_PATH};

/// Words that start a shell command but are no tool whose bytes matter.
const SHELL_BUILTINS: &[&str] = &[
    ":", "cd", "echo", "printf", "test", "[", "true", "false", "exit", "set", "export", "exec",
    "env", "then", "else", "fi", "do", "done", "if", "for", "while",
];

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The graph's root; default: the deepest directory holding the build directory and
    /// every source the selected edges read.
    pub root: Option<PathBuf>,
    /// Targets to import; default: the `default` targets, else every final output.
    pub targets: Vec<String>,
}

/// An imported graph and what the user should know about it.
#[derive(Debug, Clone)]
pub struct Import {
    /// The graph, with paths relative to [`Import::root`].
    pub graph: GraphFile,
    /// The graph's root directory (absolute).
    pub root: PathBuf,
    /// The Ninja build directory, relative to the root (`""` when it is the root).
    pub build_dir: String,
    /// Steps that compile with a depfile but whose discovered dependencies are unknown.
    pub undiscovered: Vec<String>,
    /// Human-readable remarks: missing discovery, files left out, unsupported features.
    pub notes: Vec<String>,
}

/// Why a build file cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The Ninja file is invalid.
    #[error(transparent)]
    Parse(#[from] NinjaError),
    /// The build directory or the root is unusable.
    #[error("{file}: {message}")]
    Layout {
        /// The Ninja file.
        file: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// One edge cannot become a step.
    #[error("{location}: {message}")]
    Edge {
        /// Where the edge is written (`build.ninja:12`).
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The imported graph does not validate.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// Parses `ninja_file` and imports it.
pub fn import(ninja_file: &Path, options: &ImportOptions) -> Result<Import, ImportError> {
    let parsed = parse_file(ninja_file)?;
    import_parsed(&parsed, ninja_file, options)
}

/// Imports `ninja_file` and validates the result into a [`Graph`] (for `--ninja`).
pub fn load_graph(
    ninja_file: &Path,
    options: &ImportOptions,
) -> Result<(Graph, Import), ImportError> {
    let imported = import(ninja_file, options)?;
    let file = imported.root.join(&imported.build_dir).join(
        ninja_file
            .file_name()
            .unwrap_or(std::ffi::OsStr::new("build.ninja")),
    );
    let graph = Graph::from_file(imported.graph.clone(), &file, &imported.root)?;
    Ok((graph, imported))
}

/// Imports an already parsed file (its directory is the build directory).
pub fn import_parsed(
    parsed: &BuildFile,
    ninja_file: &Path,
    options: &ImportOptions,
) -> Result<Import, ImportError> {
    let layout = Layout::new(ninja_file)?;
    let mut importer = Importer::new(parsed, layout);
    importer.discover()?;
    let targets = importer.targets(&options.targets)?;
    let selected = importer.select(&targets);
    importer.choose_root(&selected, options.root.as_deref())?;
    importer.name_steps(&selected);
    let mut graph = GraphFile::default();
    for &edge in &selected {
        let (name, step) = importer.step(edge)?;
        graph.steps.insert(name, step);
    }
    if graph.steps.is_empty() {
        return Err(importer
            .layout
            .error("no build edge to import (every selected target is phony or a source file)"));
    }
    Ok(importer.finish(graph))
}

/// The build directory as the user named it and as it really is.
struct Layout {
    file: String,
    /// The canonical build directory.
    build: PathBuf,
    /// The same, as a string.
    build_str: String,
    /// `(spelling, canonical)`: a symlinked prefix the build directory was reached through.
    alias: Option<(PathBuf, PathBuf)>,
    /// The same, as strings.
    alias_str: Option<(String, String)>,
}

impl Layout {
    fn new(ninja_file: &Path) -> Result<Layout, ImportError> {
        let file = ninja_file.display().to_string();
        let dir = match ninja_file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let fail = |e: std::io::Error| ImportError::Layout {
            file: file.clone(),
            message: format!("cannot resolve its directory: {e}"),
        };
        let given = normalize_abs(&std::path::absolute(dir).map_err(fail)?);
        let build = std::fs::canonicalize(dir).map_err(fail)?;
        let alias = symlink_alias(&given, &build);
        let alias_str = alias.as_ref().map(|(a, b)| {
            (
                a.to_string_lossy().into_owned(),
                b.to_string_lossy().into_owned(),
            )
        });
        Ok(Layout {
            file,
            build_str: build.to_string_lossy().into_owned(),
            build,
            alias,
            alias_str,
        })
    }

    fn error(&self, message: impl Into<String>) -> ImportError {
        ImportError::Layout {
            file: self.file.clone(),
            message: message.into(),
        }
    }

    /// A Ninja path as an absolute, normalized host path.
    fn absolute(&self, path: &str) -> String {
        let normal = normalize_join(&self.build_str, path);
        if let Some((spelling, real)) = &self.alias_str {
            if let Some(rest) = relative_inside_str(spelling, &normal) {
                return normalize_join(real, rest);
            }
        }
        normal
    }
}

/// When the build directory was named through a symlink (`/tmp` -> `/private/tmp`), the
/// differing leading directories of the two spellings.
fn symlink_alias(given: &Path, real: &Path) -> Option<(PathBuf, PathBuf)> {
    if given == real {
        return None;
    }
    let mut a: Vec<_> = given.components().collect();
    let mut b: Vec<_> = real.components().collect();
    while a.len() > 2 && b.len() > 2 && a.last() == b.last() {
        a.pop();
        b.pop();
    }
    Some((a.iter().collect(), b.iter().collect()))
}

/// Where one Ninja path lands.
enum Source {
    /// The output of an edge.
    Step(usize),
    /// A project file, relative to the root.
    File(String),
    /// Outside the root (a system file).
    Outside(String),
    /// Under the root but not there (or a directory).
    Missing(String),
}

#[derive(Default)]
struct Tally {
    outside: usize,
    outside_example: Option<String>,
    missing: usize,
    missing_example: Option<String>,
    undiscovered: Vec<String>,
    dyndep: Vec<String>,
    deps_log: Option<String>,
}

struct Importer<'a> {
    file: &'a BuildFile,
    layout: Layout,
    /// Each output's absolute path -> its edge (`a.h` and `/abs/build/a.h` are one file).
    index: HashMap<String, usize>,
    discovered: HashMap<String, Vec<String>>,
    root: PathBuf,
    root_str: String,
    build_rel: String,
    rewriter: Rewriter,
    names: HashMap<usize, String>,
    phony_memo: HashMap<usize, Vec<String>>,
    kinds: HashMap<String, Option<bool>>,
    tools: HashMap<String, bool>,
    tally: Tally,
}

impl<'a> Importer<'a> {
    fn new(file: &'a BuildFile, layout: Layout) -> Importer<'a> {
        let mut index = HashMap::with_capacity(file.edges.len());
        for (i, edge) in file.edges.iter().enumerate() {
            for output in edge.all_outputs() {
                index.insert(layout.absolute(output), i);
            }
        }
        Importer {
            file,
            layout,
            index,
            discovered: HashMap::new(),
            root: PathBuf::new(),
            root_str: String::new(),
            build_rel: String::new(),
            rewriter: Rewriter::new(Vec::new(), ""),
            names: HashMap::new(),
            phony_memo: HashMap::new(),
            kinds: HashMap::new(),
            tools: HashMap::new(),
            tally: Tally::default(),
        }
    }

    /// Loads `.ninja_deps` and the depfiles left on disk.
    fn discover(&mut self) -> Result<(), ImportError> {
        let log = self.layout.build.join(".ninja_deps");
        let log_present = log.is_file();
        if log_present {
            match read_ninja_deps(&log) {
                Ok(deps) => self.discovered = deps,
                Err(err) => self.tally.deps_log = Some(err.to_string()),
            }
        }
        for edge in &self.file.edges {
            let Some(first) = edge.outputs.first() else {
                continue;
            };
            // With a deps log, `deps = gcc` depfiles were moved into it and deleted.
            let in_log = log_present && !edge.deps.is_empty();
            if edge.depfile.is_empty() || in_log || self.discovered.contains_key(first) {
                continue;
            }
            let path = self.layout.absolute(&edge.depfile);
            if let Ok(text) = std::fs::read_to_string(&path) {
                let found = parse_depfile(&text)
                    .iter()
                    .map(|p| canonicalize_path(p))
                    .collect();
                self.discovered.insert(first.clone(), found);
            }
        }
        Ok(())
    }

    fn targets(&self, wanted: &[String]) -> Result<Vec<String>, ImportError> {
        if !wanted.is_empty() {
            for target in wanted {
                if self.producer(&canonicalize_path(target)).is_none() {
                    return Err(self.layout.error(format!("unknown target '{target}'")));
                }
            }
            return Ok(wanted.iter().map(|t| canonicalize_path(t)).collect());
        }
        if !self.file.defaults.is_empty() {
            return Ok(self.file.defaults.clone());
        }
        Ok(self.final_outputs())
    }

    /// The edge producing a Ninja path, if any.
    fn producer(&self, path: &str) -> Option<usize> {
        self.index.get(&self.layout.absolute(path)).copied()
    }

    /// Outputs no edge consumes (Ninja's default without `default`), generators excepted.
    fn final_outputs(&self) -> Vec<String> {
        let consumed: HashSet<usize> = self
            .file
            .edges
            .iter()
            .flat_map(all_inputs)
            .filter_map(|p| self.producer(p))
            .collect();
        self.file
            .edges
            .iter()
            .enumerate()
            .filter(|(i, e)| !e.generator && !consumed.contains(i))
            .filter_map(|(_, e)| e.outputs.first().cloned())
            .collect()
    }

    /// The non-phony edges the targets need, in file order.
    fn select(&self, targets: &[String]) -> Vec<usize> {
        let mut seen = vec![false; self.file.edges.len()];
        let mut stack: Vec<&str> = targets.iter().map(String::as_str).collect();
        while let Some(path) = stack.pop() {
            let Some(i) = self.producer(path) else {
                continue;
            };
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let edge = &self.file.edges[i];
            stack.extend(
                all_inputs(edge)
                    .chain(&edge.validations)
                    .map(String::as_str),
            );
            if let Some(found) = edge.outputs.first().and_then(|o| self.discovered.get(o)) {
                stack.extend(found.iter().map(String::as_str));
            }
        }
        (0..self.file.edges.len())
            .filter(|&i| seen[i] && !self.file.edges[i].is_phony())
            .collect()
    }

    /// Sets the root: the one asked for (which must hold everything), or the deepest
    /// directory holding the build directory and the sources.
    fn choose_root(
        &mut self,
        selected: &[usize],
        wanted: Option<&Path>,
    ) -> Result<(), ImportError> {
        let mut root = self.layout.build.clone();
        for &i in selected {
            for input in &self.file.edges[i].inputs {
                if self.producer(input).is_some() {
                    continue;
                }
                let abs = PathBuf::from(self.layout.absolute(input));
                if !is_system_path(&abs) {
                    root = common_ancestor(&root, abs.parent().unwrap_or(&abs));
                }
            }
        }
        if let Some(wanted) = wanted {
            let wanted = std::fs::canonicalize(wanted).map_err(|e| {
                self.layout
                    .error(format!("the root {}: {e}", wanted.display()))
            })?;
            if !root.starts_with(&wanted) {
                return Err(self.layout.error(format!(
                    "the build reads files in {}, which is not inside the graph's root {}: put the graph in a directory that holds both the build directory and the sources",
                    root.display(),
                    wanted.display()
                )));
            }
            root = wanted;
        }
        if root.parent().is_none() {
            return Err(self.layout.error(
                "the build directory and the sources have no common directory but /: pass --root DIR (or -o DIR/reprobe.toml) to choose the graph's root",
            ));
        }
        self.set_root(root);
        Ok(())
    }

    fn set_root(&mut self, root: PathBuf) {
        self.build_rel = relative_inside(&root, &self.layout.build).unwrap_or_default();
        let mut aliases = vec![root.to_string_lossy().into_owned()];
        if let Some((spelling, real)) = &self.layout.alias {
            if let Ok(rest) = root.strip_prefix(real) {
                aliases.push(spelling.join(rest).to_string_lossy().into_owned());
            }
        }
        self.rewriter = Rewriter::new(aliases, &self.build_rel);
        self.root_str = root.to_string_lossy().into_owned();
        self.root = root;
    }

    /// Step names from each edge's first output, made unique.
    fn name_steps(&mut self, selected: &[usize]) {
        let mut used = HashSet::new();
        for &i in selected {
            let first = self.file.edges[i]
                .outputs
                .first()
                .map_or("step", String::as_str);
            let base = sanitize_name(first);
            let mut name = base.clone();
            let mut n = 2;
            while !used.insert(name.clone()) {
                name = format!("{base}-{n}");
                n += 1;
            }
            self.names.insert(i, name);
        }
    }

    fn edge_error(&self, edge: &Edge, message: String) -> ImportError {
        ImportError::Edge {
            location: edge.location.to_string(),
            message,
        }
    }

    /// One edge as a step.
    fn step(&mut self, i: usize) -> Result<(String, StepDecl), ImportError> {
        let edge = &self.file.edges[i];
        let outputs = self.outputs(edge)?;
        let mut deps = BTreeSet::new();
        let mut inputs = BTreeSet::new();
        for path in self.wanted_inputs(edge) {
            for source in self.classify(&path) {
                match source {
                    Source::Step(j) if j != i => {
                        deps.insert(self.names[&j].clone());
                        deps.extend(self.thin_archive_members(j));
                    }
                    Source::Step(_) => {}
                    Source::File(rel) => {
                        inputs.insert(rel);
                    }
                    Source::Outside(p) => {
                        count(&mut self.tally.outside, &mut self.tally.outside_example, p)
                    }
                    Source::Missing(p) => {
                        count(&mut self.tally.missing, &mut self.tally.missing_example, p)
                    }
                }
            }
        }
        if !edge.dyndep.is_empty() {
            self.tally.dyndep.push(edge.location.to_string());
        }
        let step = StepDecl {
            run: Command::Shell(self.script(edge, &outputs)),
            inputs: inputs.into_iter().collect(),
            outputs,
            tools: self.tools_of(&edge.command),
            deps: deps.into_iter().collect(),
            ..StepDecl::default()
        };
        Ok((self.names[&i].clone(), step))
    }

    /// A thin archive (`ar T`, Meson's static libraries) only names its members: whoever
    /// links it needs the member objects too, so they become deps of the consumer.
    fn thin_archive_members(&mut self, j: usize) -> Vec<String> {
        let edge = &self.file.edges[j];
        if !is_thin_archive_command(&edge.command) {
            return Vec::new();
        }
        let mut members = Vec::new();
        for input in &edge.inputs {
            for source in self.classify(input) {
                if let Source::Step(k) = source {
                    members.push(self.names[&k].clone());
                }
            }
        }
        members
    }

    fn outputs(&self, edge: &Edge) -> Result<Vec<String>, ImportError> {
        let mut seen = HashSet::new();
        edge.all_outputs()
            .filter(|o| seen.insert(self.layout.absolute(o)))
            .map(|o| {
                relative_inside_str(&self.root_str, &self.layout.absolute(o))
                    .filter(|rel| !rel.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        self.edge_error(
                            edge,
                            format!(
                                "output '{o}' is outside the graph's root {}",
                                self.root.display()
                            ),
                        )
                    })
            })
            .collect()
    }

    /// Explicit, implicit and discovered inputs (order-only ones when discovery is missing).
    fn wanted_inputs(&mut self, edge: &Edge) -> Vec<String> {
        let mut wanted: Vec<String> = edge
            .inputs
            .iter()
            .chain(&edge.implicit_inputs)
            .cloned()
            .collect();
        let uses_depfile = !edge.depfile.is_empty() || !edge.deps.is_empty();
        match edge.outputs.first().and_then(|o| self.discovered.get(o)) {
            Some(found) => wanted.extend(found.iter().cloned()),
            None if uses_depfile => {
                self.tally
                    .undiscovered
                    .push(edge.outputs.first().cloned().unwrap_or_default());
                wanted.extend(edge.order_only.iter().cloned());
            }
            None => {}
        }
        wanted
    }

    /// Where a path lands; a phony path stands for its own inputs.
    fn classify(&mut self, path: &str) -> Vec<Source> {
        self.expand_phony(path)
            .into_iter()
            .map(|p| match self.producer(&p) {
                Some(j) if !self.file.edges[j].is_phony() => Source::Step(j),
                _ => self.file_source(&p),
            })
            .collect()
    }

    fn expand_phony(&mut self, path: &str) -> Vec<String> {
        let Some(j) = self.producer(path) else {
            return vec![path.to_string()];
        };
        let edge = &self.file.edges[j];
        if !edge.is_phony() || all_inputs(edge).next().is_none() {
            return vec![path.to_string()];
        }
        if let Some(done) = self.phony_memo.get(&j) {
            return done.clone();
        }
        self.phony_memo.insert(j, Vec::new());
        let mut out = Vec::new();
        for input in all_inputs(edge) {
            out.extend(self.expand_phony(input));
        }
        self.phony_memo.insert(j, out.clone());
        out
    }

    fn file_source(&mut self, path: &str) -> Source {
        let abs = self.layout.absolute(path);
        let Some(rel) = relative_inside_str(&self.root_str, &abs)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
        else {
            return Source::Outside(path.to_string());
        };
        let is_file = *self
            .kinds
            .entry(abs)
            .or_insert_with_key(|p| std::fs::metadata(p).ok().map(|m| m.is_file()));
        match is_file {
            Some(true) => Source::File(rel),
            _ => Source::Missing(rel),
        }
    }

    /// The shell script of a step: create output dirs, enter the build dir, run.
    fn script(&self, edge: &Edge, outputs: &[String]) -> String {
        let mut dirs: BTreeSet<&str> = outputs
            .iter()
            .filter_map(|o| o.rsplit_once('/').map(|(dir, _)| dir))
            .collect();
        if !self.build_rel.is_empty() {
            dirs.insert(&self.build_rel);
        }
        let mut prepare = Vec::new();
        let leaves: Vec<&str> = dirs
            .iter()
            .filter(|d| {
                !dirs
                    .iter()
                    .any(|o| o.len() > d.len() && o.starts_with(&format!("{d}/")))
            })
            .copied()
            .collect();
        if !leaves.is_empty() {
            let list: Vec<String> = leaves.iter().map(|d| shell_escape(d)).collect();
            prepare.push(format!("mkdir -p {}", list.join(" ")));
        }
        if !self.build_rel.is_empty() {
            prepare.push(format!("cd {}", shell_escape(&self.build_rel)));
        }
        if !edge.rspfile.is_empty() {
            prepare.push(format!(
                "printf '%s' {} > {}",
                shell_escape(&self.rewriter.rewrite(&edge.rspfile_content)),
                shell_escape(&edge.rspfile)
            ));
        }
        let command = self.rewriter.rewrite(&edge.command);
        if prepare.is_empty() {
            command
        } else {
            format!("{} || exit 1\n{command}", prepare.join(" && "))
        }
    }

    /// Programs the command starts, when they are outside the project: their bytes join
    /// the input hash (a compiler upgrade is a cache miss).
    fn tools_of(&mut self, command: &str) -> Vec<String> {
        let mut found = BTreeSet::new();
        for segment in command.split(['&', '|', ';', '(', ')', '\n']) {
            let Some(word) = segment.split_whitespace().next() else {
                continue;
            };
            let plausible = !SHELL_BUILTINS.contains(&word)
                && !word.contains(['$', '=', '\'', '"', '`', '<', '>'])
                && (word.starts_with('/') || !word.contains('/'));
            if plausible && self.is_tool(word) {
                found.insert(word.to_string());
            }
        }
        found.into_iter().collect()
    }

    fn is_tool(&mut self, word: &str) -> bool {
        if let Some(&known) = self.tools.get(word) {
            return known;
        }
        let outside = !word.starts_with('/') || !Path::new(word).starts_with(&self.root);
        let known = outside && crate::inputs::resolve_on_path(word, DEFAULT_PATH).is_some();
        self.tools.insert(word.to_string(), known);
        known
    }

    fn finish(self, graph: GraphFile) -> Import {
        let notes = notes(&self.tally, &self.layout.file);
        Import {
            graph,
            root: self.root,
            build_dir: self.build_rel,
            undiscovered: self.tally.undiscovered,
            notes,
        }
    }
}

/// Whether a command creates a thin archive: `ar`/`gcc-ar`/`llvm-ar` with a `T` modifier
/// or `--thin`.
fn is_thin_archive_command(command: &str) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    words.windows(2).any(|pair| {
        let program = pair[0].rsplit('/').next().unwrap_or(pair[0]);
        let is_ar = program == "ar" || program.ends_with("-ar");
        let flags = pair[1];
        is_ar
            && (flags == "--thin"
                || (!flags.starts_with("--")
                    && flags.trim_start_matches('-').contains('T')
                    && flags
                        .trim_start_matches('-')
                        .chars()
                        .all(|c| c.is_ascii_alphabetic())))
    })
}

fn count(counter: &mut usize, example: &mut Option<String>, path: String) {
    *counter += 1;
    example.get_or_insert(path);
}

fn all_inputs(edge: &Edge) -> impl Iterator<Item = &String> {
    edge.inputs
        .iter()
        .chain(&edge.implicit_inputs)
        .chain(&edge.order_only)
}

/// A step name from a path: characters reprobe does not allow become `_`.
pub fn sanitize_name(path: &str) -> String {
    let name: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "step".to_string()
    } else {
        name
    }
}

fn notes(tally: &Tally, file: &str) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(err) = &tally.deps_log {
        notes.push(format!(
            "the deps log could not be read ({err}); depfiles on disk were used instead"
        ));
    }
    if !tally.undiscovered.is_empty() {
        let dir = Path::new(file)
            .parent()
            .map_or(".".into(), |p| p.display().to_string());
        notes.push(format!(
            "{} step(s) compile with a depfile but Ninja has not recorded what they include (no .ninja_deps entry, no depfile on disk), e.g. `{}`: the headers they read are not inputs yet, so they may fail in the sandbox or miss header changes. Build once with `ninja -C {}`, then import again.",
            tally.undiscovered.len(),
            tally.undiscovered[0],
            if dir.is_empty() { "." } else { &dir }
        ));
    }
    if let Some(example) = &tally.outside_example {
        notes.push(format!(
            "{} input(s) outside the graph's root were left out, e.g. `{example}`: system files belong to the toolchain (the compiler itself is hashed as a tool)",
            tally.outside
        ));
    }
    if let Some(example) = &tally.missing_example {
        notes.push(format!(
            "{} input(s) named by the build file or the deps log are not files on disk and were left out, e.g. `{example}`",
            tally.missing
        ));
    }
    for location in &tally.dyndep {
        notes.push(format!("{location}: the edge uses `dyndep`, which reprobe does not read: its dynamic dependencies are missing"));
    }
    notes
}

impl Import {
    /// The graph as TOML, with a header saying where it came from.
    pub fn to_toml(&self, source: &str) -> Result<String, toml::ser::Error> {
        let body = match write_steps_toml(&self.graph) {
            Some(text) => text,
            None => toml::to_string(&self.graph)?,
        };
        Ok(format!("{GENERATED_MARK} from {source}.\n# Re-run the import after changing the build; edits here are lost.\n\n{body}"))
    }
}

/// A fast TOML writer for the graphs `import` produces (shell commands and path lists):
/// large build files make tens of thousands of steps, which the general serializer writes
/// slowly. `None` when the graph uses anything else.
fn write_steps_toml(graph: &GraphFile) -> Option<String> {
    if !graph.env.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(graph.steps.len() * 256);
    for (name, step) in &graph.steps {
        let simple =
            step.env.is_empty() && !step.network && step.sha256.is_none() && step.timeout.is_none();
        let Command::Shell(run) = &step.run else {
            return None;
        };
        if !simple {
            return None;
        }
        out.push_str("[steps.");
        toml_key(&mut out, name);
        out.push_str("]\nrun = ");
        toml_string(&mut out, run);
        out.push('\n');
        toml_list(&mut out, "inputs", &step.inputs, false);
        toml_list(&mut out, "outputs", &step.outputs, true);
        toml_list(&mut out, "tools", &step.tools, false);
        toml_list(&mut out, "deps", &step.deps, false);
        out.push('\n');
    }
    Some(out)
}

fn toml_key(out: &mut String, key: &str) {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        out.push_str(key);
    } else {
        toml_string(out, key);
    }
}

fn toml_list(out: &mut String, key: &str, items: &[String], always: bool) {
    if items.is_empty() && !always {
        return;
    }
    out.push_str(key);
    out.push_str(" = [");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        toml_string(out, item);
    }
    out.push_str("]\n");
}

/// A TOML basic string; a multi-line one (`"""`) when the text has newlines.
fn toml_string(out: &mut String, text: &str) {
    let multiline = text.contains('\n');
    out.push_str(if multiline { "\"\"\"\n" } else { "\"" });
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' if multiline => out.push('\n'),
            '\t' => out.push('\t'),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push_str(if multiline { "\"\"\"" } else { "\"" });
}

/// The first words of every graph written by `reprobe import ninja`.
pub const GENERATED_MARK: &str = "# Generated by `reprobe import ninja`";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_toml_writer_reads_back_as_the_same_graph() {
        let mut graph = GraphFile::default();
        graph.steps.insert(
            "a/b \"c\".o".into(),
            StepDecl {
                run: Command::Shell(
                    "mkdir -p x || exit 1\necho \"$HOME\" 'q' \\ \t\u{1} \"\"\"".into(),
                ),
                inputs: vec!["src/a b.c".into(), "ü\\\"".into()],
                outputs: vec!["out/a.o".into()],
                tools: vec!["/usr/bin/cc".into()],
                deps: vec!["gen".into()],
                ..StepDecl::default()
            },
        );
        graph.steps.insert(
            "gen".into(),
            StepDecl {
                run: Command::Shell("true".into()),
                outputs: vec!["gen.h".into()],
                ..StepDecl::default()
            },
        );
        let text = write_steps_toml(&graph).unwrap();
        let back: GraphFile = toml::from_str(&text).unwrap();
        assert_eq!(back, graph, "{text}");
    }
}
