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
//!   the root's absolute spellings replaced by the root placeholder (`${REPROBE_ROOT}`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::deps::{parse_depfile, read_ninja_deps};
use super::files::FileKinds;
use super::parse::{
    canonicalize_path, parse_file, push_shell_escaped, BuildFile, Edge, NinjaError,
};
use super::paths::{
    common_ancestor, is_system_str, join_to_normal, join_to_normal_into, normalize_abs,
    relative_inside, relative_inside_str, Rewriter,
};
use crate::model::fasthash::{FastMap, FastSet};
use crate::model::graph::{
    clip, describe_cycle, Command, Graph, GraphError, GraphFile, StepDecl, DEFAULT_PATH,
    MAX_MESSAGE, MAX_SHOWN,
};

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
    /// What the import saw of the project's files.
    files: FileKinds,
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
    let graph = Graph::from_file_knowing(
        imported.graph.clone(),
        &file,
        &imported.root,
        &imported.seen_file(),
    )?;
    Ok((graph, imported))
}

/// Imports an already parsed file (its directory is the build directory).
pub fn import_parsed(
    parsed: &BuildFile,
    ninja_file: &Path,
    options: &ImportOptions,
) -> Result<Import, ImportError> {
    let layout = Layout::new(ninja_file)?;
    let mut files = FileKinds::default();
    let mut tally = Tally::default();
    let discovered = discover(parsed, &layout, &mut files, &mut tally);
    let mut importer = Importer::new(parsed, layout, &discovered, files, tally);
    let targets = importer.targets(&options.targets)?;
    let selected = importer.select(&targets)?;
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

/// Where the walk of [`Importer::select`] is with an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    /// Not reached yet.
    New,
    /// On the walk's stack: reaching it again closes a cycle.
    Open,
    /// It and everything it depends on are walked.
    Done,
}

/// An edge on the stack of [`Importer::select`].
struct Frame<'a> {
    edge: usize,
    /// The path it was reached through (for a cycle's message).
    via: &'a str,
    /// Its next dependency to look at (see [`Importer::dependency`]).
    next: usize,
}

impl<'a> Frame<'a> {
    fn new(edge: usize, via: &'a str) -> Frame<'a> {
        Frame { edge, via, next: 0 }
    }
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
            message: clip(&message.into(), MAX_MESSAGE).into_owned(),
        }
    }

    /// A Ninja path as an absolute, normalized host path.
    fn absolute(&self, path: &str) -> String {
        let mut out = String::new();
        self.absolute_into(path, &mut out);
        out
    }

    /// [`Layout::absolute`] into `out` (cleared first).
    fn absolute_into(&self, path: &str, out: &mut String) {
        // Both directories are canonical: only `path` needs normalizing.
        join_to_normal_into(out, &self.build_str, path);
        if let Some((spelling, real)) = &self.alias_str {
            if let Some(rest) = relative_inside_str(spelling, out) {
                *out = join_to_normal(real, rest);
            }
        }
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
enum Source<'a> {
    /// The output of an edge.
    Step(usize),
    /// A project file, relative to the root.
    File(String),
    /// Outside the root (a system file), as the build file spells it.
    Outside(&'a str),
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

/// A Ninja path on the host, worked out once per spelling.
#[derive(Clone, Copy)]
struct Resolved {
    /// Where the absolute, normalized host path lies in [`Resolver::text`].
    start: usize,
    /// Where it ends.
    end: usize,
    /// The edge producing it, if any.
    producer: Option<usize>,
}

/// The paths already resolved, by spelling: the same text always lands in the same place,
/// so a path named by many edges (an object every link reads) is worked out once. Their
/// absolute paths share one buffer instead of one allocation each.
#[derive(Default)]
struct Resolver<'a> {
    known: FastMap<&'a str, Resolved>,
    /// Every absolute path resolved, one after another.
    text: String,
    /// Where a path is worked out before it joins `text`.
    scratch: String,
}

impl<'a> Resolver<'a> {
    fn with_capacity(paths: usize) -> Resolver<'a> {
        Resolver {
            known: FastMap::with_capacity_and_hasher(paths, Default::default()),
            text: String::with_capacity(paths * 64),
            scratch: String::new(),
        }
    }

    /// Where `path` lands, computed on first use.
    fn resolve(
        &mut self,
        layout: &Layout,
        index: &FastMap<String, usize>,
        path: &'a str,
    ) -> Resolved {
        if let Some(&known) = self.known.get(path) {
            return known;
        }
        layout.absolute_into(path, &mut self.scratch);
        let start = self.text.len();
        self.text.push_str(&self.scratch);
        let resolved = Resolved {
            start,
            end: self.text.len(),
            producer: index.get(&self.scratch).copied(),
        };
        self.known.insert(path, resolved);
        resolved
    }

    /// The absolute path of a resolved path.
    fn abs(&self, resolved: Resolved) -> &str {
        &self.text[resolved.start..resolved.end]
    }
}

struct Importer<'a> {
    file: &'a BuildFile,
    layout: Layout,
    /// Each output's absolute path -> its edge (`a.h` and `/abs/build/a.h` are one file).
    index: FastMap<String, usize>,
    resolved: Resolver<'a>,
    discovered: &'a HashMap<String, Vec<String>>,
    files: FileKinds,
    root: PathBuf,
    root_str: String,
    build_rel: String,
    rewriter: Rewriter,
    /// Step names by edge (empty for edges not imported).
    names: Vec<String>,
    phony_memo: FastMap<usize, Vec<&'a str>>,
    /// Paths the phony edges have stood for so far (see [`MAX_PHONY_PATHS`]).
    phony_paths: usize,
    /// For a thin archive's edge, the edges of its members.
    thin_members: FastMap<usize, Vec<usize>>,
    tools: FastMap<String, bool>,
    tally: Tally,
}

/// Loads `.ninja_deps` and the depfiles left on disk: each output's discovered inputs.
fn discover(
    file: &BuildFile,
    layout: &Layout,
    files: &mut FileKinds,
    tally: &mut Tally,
) -> HashMap<String, Vec<String>> {
    let mut discovered = HashMap::new();
    let log = layout.build.join(".ninja_deps");
    let log_present = log.is_file();
    if log_present {
        match read_ninja_deps(&log) {
            Ok(deps) => discovered = deps,
            Err(err) => tally.deps_log = Some(err.to_string()),
        }
    }
    for edge in &file.edges {
        let Some(first) = edge.outputs.first() else {
            continue;
        };
        // With a deps log, `deps = gcc` depfiles were moved into it and deleted.
        let in_log = log_present && !edge.deps.is_empty();
        if edge.depfile.is_empty() || in_log || discovered.contains_key(first) {
            continue;
        }
        let path = layout.absolute(&edge.depfile);
        // Only a regular file: a FIFO named as a depfile would block the read forever.
        if files.kind(&path) != Some(true) {
            continue;
        }
        let read = super::files::read_regular(Path::new(&path));
        if let Some(text) = read.ok().and_then(|bytes| String::from_utf8(bytes).ok()) {
            let found = parse_depfile(&text)
                .iter()
                .map(|p| canonicalize_path(p))
                .collect();
            discovered.insert(first.clone(), found);
        }
    }
    discovered
}

impl<'a> Importer<'a> {
    fn new(
        file: &'a BuildFile,
        layout: Layout,
        discovered: &'a HashMap<String, Vec<String>>,
        files: FileKinds,
        tally: Tally,
    ) -> Importer<'a> {
        let mut index = FastMap::with_capacity_and_hasher(file.edges.len(), Default::default());
        for (i, edge) in file.edges.iter().enumerate() {
            for output in edge.all_outputs() {
                index.insert(layout.absolute(output), i);
            }
        }
        Importer {
            file,
            layout,
            index,
            resolved: Resolver::with_capacity(file.edges.len() * 2),
            discovered,
            files,
            root: PathBuf::new(),
            root_str: String::new(),
            build_rel: String::new(),
            rewriter: Rewriter::new(Vec::new()),
            names: Vec::new(),
            phony_memo: FastMap::default(),
            phony_paths: 0,
            thin_members: FastMap::default(),
            tools: FastMap::default(),
            tally,
        }
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

    /// The edge producing a Ninja path, if any (for paths not from the build file).
    fn producer(&self, path: &str) -> Option<usize> {
        self.index.get(&self.layout.absolute(path)).copied()
    }

    /// Where a path of the build file lands.
    fn resolve(&mut self, path: &'a str) -> Resolved {
        self.resolved.resolve(&self.layout, &self.index, path)
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

    /// The non-phony edges the targets need, in file order. A dependency cycle among the
    /// edges they reach is an error, as in Ninja ("dependency cycle: a -> b -> a"): its
    /// edges would wait for each other forever. The walk is an iterative depth-first
    /// search (no recursion to overflow on long chains), linear in the edges and paths
    /// it reaches; validations are walked as targets of their own, as Ninja does.
    fn select(&mut self, targets: &[String]) -> Result<Vec<usize>, ImportError> {
        let file = self.file;
        let mut state = vec![Visit::New; file.edges.len()];
        let mut roots: Vec<usize> = targets.iter().filter_map(|t| self.producer(t)).collect();
        roots.reverse();
        let mut stack: Vec<Frame<'a>> = Vec::new();
        while let Some(root) = roots.pop() {
            if state[root] != Visit::New {
                continue;
            }
            state[root] = Visit::Open;
            stack.push(Frame::new(root, ""));
            while let Some(frame) = stack.last_mut() {
                let edge = frame.edge;
                let Some(path) = self.dependency(edge, frame.next) else {
                    state[edge] = Visit::Done;
                    let validations = file.edges[edge].validations.iter();
                    roots.extend(validations.filter_map(|v| self.resolve(v).producer));
                    stack.pop();
                    continue;
                };
                frame.next += 1;
                let Some(j) = self.resolve(path).producer else {
                    continue;
                };
                match state[j] {
                    Visit::New => {
                        state[j] = Visit::Open;
                        stack.push(Frame::new(j, path));
                    }
                    Visit::Open if j == edge && self.ignores_itself(edge, frame.next - 1) => {}
                    Visit::Open => return Err(self.cycle_error(&stack, j, path)),
                    Visit::Done => {}
                }
            }
        }
        Ok((0..file.edges.len())
            .filter(|&i| state[i] == Visit::Done && !file.edges[i].is_phony())
            .collect())
    }

    /// The `k`-th path edge `i` depends on, as Ninja sees it: its inputs, implicit and
    /// order-only inputs, then what the compiler discovered (found by position, so the
    /// walk allocates nothing per edge).
    fn dependency(&self, i: usize, k: usize) -> Option<&'a str> {
        let edge = &self.file.edges[i];
        if let Some(path) = input_at(edge, k) {
            return Some(path);
        }
        let listed = edge.inputs.len() + edge.implicit_inputs.len() + edge.order_only.len();
        let discovered = edge.outputs.first().and_then(|o| self.discovered.get(o))?;
        discovered.get(k - listed).map(String::as_str)
    }

    /// Whether the `k`-th dependency of edge `i`, which names `i` itself, is left out
    /// rather than a cycle: in a phony edge of one output (Ninja drops those, which old
    /// CMake versions wrote), or among the discovered dependencies (a depfile naming its
    /// own output; the importer never made that a dep).
    fn ignores_itself(&self, i: usize, k: usize) -> bool {
        let edge = &self.file.edges[i];
        let listed = edge.inputs.len() + edge.implicit_inputs.len() + edge.order_only.len();
        let phony_alias = edge.is_phony()
            && edge.outputs.len() == 1
            && edge.implicit_outputs.is_empty()
            && edge.implicit_inputs.is_empty();
        phony_alias || k >= listed
    }

    /// "build.ninja:3: dependency cycle: a -> b -> c -> a": `path` (made by edge `j`, open
    /// on the stack) closes the loop from the top of the stack.
    fn cycle_error(&self, stack: &[Frame], j: usize, path: &str) -> ImportError {
        let from = stack.iter().rposition(|f| f.edge == j).unwrap_or(0);
        let mut nodes = vec![path.to_string()];
        nodes.extend(stack[from + 1..].iter().map(|f| f.via.to_string()));
        nodes.push(path.to_string());
        let closing = stack.last().map_or(j, |f| f.edge);
        self.edge_error(&self.file.edges[closing], describe_cycle(&nodes, "files"))
    }

    /// Sets the root: the one asked for (which must hold everything), or the deepest
    /// directory holding the build directory and the sources.
    fn choose_root(
        &mut self,
        selected: &[usize],
        wanted: Option<&Path>,
    ) -> Result<(), ImportError> {
        let file = self.file;
        let mut root = self.layout.build.clone();
        let mut root_str = self.layout.build_str.clone();
        for &i in selected {
            for input in &file.edges[i].inputs {
                let resolved = self.resolve(input);
                let abs = self.resolved.abs(resolved);
                if resolved.producer.is_some() || is_system_str(abs) {
                    continue;
                }
                let parent = match abs.rsplit_once('/') {
                    Some((dir, _)) if !dir.is_empty() => dir,
                    _ => "/",
                };
                if relative_inside_str(&root_str, parent).is_none() {
                    root = common_ancestor(&root, Path::new(parent));
                    root_str = root.to_string_lossy().into_owned();
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
        self.rewriter = Rewriter::new(aliases);
        self.root_str = root.to_string_lossy().into_owned();
        self.root = root;
    }

    /// Step names from each edge's first output, made unique.
    fn name_steps(&mut self, selected: &[usize]) {
        let mut used = FastSet::with_capacity_and_hasher(selected.len(), Default::default());
        self.names = vec![String::new(); self.file.edges.len()];
        for &i in selected {
            let first = self.file.edges[i]
                .outputs
                .first()
                .map_or("step", String::as_str);
            let mut name = sanitize_name(first);
            if !used.insert(name.clone()) {
                let base = std::mem::take(&mut name);
                for n in 2.. {
                    name = format!("{base}-{n}");
                    if used.insert(name.clone()) {
                        break;
                    }
                }
            }
            self.names[i] = name;
        }
    }

    fn edge_error(&self, edge: &Edge, message: String) -> ImportError {
        ImportError::Edge {
            location: edge.location.to_string(),
            message: clip(&message, MAX_MESSAGE).into_owned(),
        }
    }

    /// One edge as a step.
    fn step(&mut self, i: usize) -> Result<(String, StepDecl), ImportError> {
        let file = self.file;
        let edge = &file.edges[i];
        let outputs = self.outputs(edge)?;
        let mut dep_edges = Vec::new();
        let mut inputs = Vec::new();
        let mut expanded = Vec::new();
        for path in self.wanted_inputs(edge) {
            expanded.clear();
            self.expand_phony(path, &mut expanded)?;
            for &path in &expanded {
                match self.classify(path) {
                    Source::Step(j) if j != i => {
                        dep_edges.push(j);
                        dep_edges.extend_from_slice(self.thin_archive_members(j)?);
                    }
                    Source::Step(_) => {}
                    Source::File(rel) => inputs.push(rel),
                    Source::Outside(p) => count(
                        &mut self.tally.outside,
                        &mut self.tally.outside_example,
                        p.to_string(),
                    ),
                    Source::Missing(p) => {
                        count(&mut self.tally.missing, &mut self.tally.missing_example, p)
                    }
                }
            }
        }
        self.named_in_command(i, edge, &mut inputs, &mut dep_edges)?;
        if !edge.dyndep.is_empty() {
            self.tally.dyndep.push(edge.location.to_string());
        }
        inputs.sort_unstable();
        inputs.dedup();
        dep_edges.sort_unstable();
        dep_edges.dedup();
        let mut deps: Vec<String> = dep_edges.iter().map(|&j| self.names[j].clone()).collect();
        deps.sort_unstable();
        let step = StepDecl {
            run: Command::Shell(self.script(edge, &outputs)),
            inputs,
            outputs,
            tools: self.tools_of(&edge.command),
            deps,
            ..StepDecl::default()
        };
        Ok((self.names[i].clone(), step))
    }

    /// Files the command names that Ninja's edge does not list: a linker version script
    /// or linker script in the flags, the shared library Meson links by name while its
    /// edge depends only on the library's `.symbols` file. An output of another edge
    /// becomes a dep, a project file an input; anything else (system files, directories,
    /// option values that are no file) is left alone, and so are files in a separate
    /// build directory that no edge produces (depfiles and other leftovers of a native
    /// build), whose discovered dependencies already come from the depfiles.
    fn named_in_command(
        &mut self,
        i: usize,
        edge: &'a Edge,
        inputs: &mut Vec<String>,
        dep_edges: &mut Vec<usize>,
    ) -> Result<(), ImportError> {
        let texts = [edge.command.as_str(), edge.rspfile_content.as_str()];
        for word in texts.into_iter().flat_map(command_path_words) {
            if word == edge.depfile || word == edge.rspfile {
                continue;
            }
            match self.classify(word) {
                Source::Step(j) if j != i => {
                    dep_edges.push(j);
                    dep_edges.extend_from_slice(self.thin_archive_members(j)?);
                }
                Source::File(rel) => {
                    let leftover = !self.build_rel.is_empty()
                        && relative_inside_str(&self.build_rel, &rel).is_some();
                    if !leftover {
                        inputs.push(rel);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A thin archive (`ar T`, Meson's static libraries) only names its members: whoever
    /// links it needs the member objects too, so they become deps of the consumer.
    fn thin_archive_members(&mut self, j: usize) -> Result<&[usize], ImportError> {
        if !self.thin_members.contains_key(&j) {
            let file = self.file;
            let edge = &file.edges[j];
            let mut members = Vec::new();
            if is_thin_archive_command(&edge.command) {
                let mut expanded = Vec::new();
                for input in &edge.inputs {
                    self.expand_phony(input, &mut expanded)?;
                }
                for path in expanded {
                    if let Source::Step(k) = self.classify(path) {
                        members.push(k);
                    }
                }
            }
            self.thin_members.insert(j, members);
        }
        Ok(self.thin_members.get(&j).map_or(&[], Vec::as_slice))
    }

    fn outputs(&mut self, edge: &'a Edge) -> Result<Vec<String>, ImportError> {
        let mut out: Vec<String> = Vec::with_capacity(edge.outputs.len());
        // Few outputs (nearly every edge) are compared; many go through a set, so an edge
        // of 100,000 outputs costs no quadratic time.
        let many = edge.outputs.len() + edge.implicit_outputs.len() > SCANNED_OUTPUTS;
        let mut seen: FastSet<String> = FastSet::default();
        for o in edge.all_outputs() {
            let resolved = self.resolve(o);
            let abs = self.resolved.abs(resolved);
            let Some(rel) = relative_inside_str(&self.root_str, abs).filter(|r| !r.is_empty())
            else {
                let message = format!(
                    "output '{o}' is outside the graph's root {}",
                    self.root.display()
                );
                return Err(self.edge_error(edge, message));
            };
            // One file spelled twice (`a.h`, `/abs/build/a.h`) is one output.
            let fresh = if many {
                seen.insert(rel.to_string())
            } else {
                !out.iter().any(|seen| seen == rel)
            };
            if fresh {
                out.push(rel.to_string());
            }
        }
        Ok(out)
    }

    /// Explicit, implicit and discovered inputs (order-only ones when discovery is missing).
    fn wanted_inputs(&mut self, edge: &'a Edge) -> Vec<&'a str> {
        let mut wanted: Vec<&'a str> = edge
            .inputs
            .iter()
            .chain(&edge.implicit_inputs)
            .map(String::as_str)
            .collect();
        let uses_depfile = !edge.depfile.is_empty() || !edge.deps.is_empty();
        match edge.outputs.first().and_then(|o| self.discovered.get(o)) {
            Some(found) => wanted.extend(found.iter().map(String::as_str)),
            None if uses_depfile => {
                self.tally
                    .undiscovered
                    .push(edge.outputs.first().cloned().unwrap_or_default());
                wanted.extend(edge.order_only.iter().map(String::as_str));
            }
            None => {}
        }
        wanted
    }

    /// Where a path (no phony one) lands.
    fn classify(&mut self, path: &'a str) -> Source<'a> {
        let resolved = self.resolve(path);
        if let Some(j) = resolved.producer {
            if !self.file.edges[j].is_phony() {
                return Source::Step(j);
            }
        }
        let abs = self.resolved.abs(resolved);
        let Some(rel) = relative_inside_str(&self.root_str, abs)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
        else {
            return Source::Outside(path);
        };
        match self.files.kind(abs) {
            Some(true) => Source::File(rel),
            _ => Source::Missing(rel),
        }
    }

    /// Appends what a path stands for: itself, or a phony path's own inputs (through
    /// phony edges of phony edges).
    fn expand_phony(&mut self, path: &'a str, out: &mut Vec<&'a str>) -> Result<(), ImportError> {
        let Some(j) = self.phony_with_inputs(path) else {
            out.push(path);
            return Ok(());
        };
        if !self.phony_memo.contains_key(&j) {
            self.expand_phony_edge(j)?;
        }
        let done = self.phony_memo.get(&j).map_or(&[][..], Vec::as_slice);
        self.phony_paths = self.phony_paths.saturating_add(done.len());
        out.extend_from_slice(done);
        self.check_phony_paths(j)
    }

    /// The phony edge with inputs that makes `path`, if one does.
    fn phony_with_inputs(&mut self, path: &'a str) -> Option<usize> {
        let j = self.resolve(path).producer?;
        let edge = &self.file.edges[j];
        (edge.is_phony() && input_at(edge, 0).is_some()).then_some(j)
    }

    /// Works out what phony edge `j` stands for, and every phony edge below it, each
    /// once, children first; each list sorted and without duplicates (a phony made of
    /// two of another, forty times over, stands for as few paths as it names). An
    /// explicit stack: a chain of 100,000 phony edges overflows no stack.
    fn expand_phony_edge(&mut self, j: usize) -> Result<(), ImportError> {
        let file = self.file;
        // (phony edge, its next input, the paths it stands for so far)
        let mut stack: Vec<(usize, usize, Vec<&'a str>)> = vec![(j, 0, Vec::new())];
        // Started ones are remembered empty at once: a loop (refused by `select` before
        // any step is made) would end here instead of running on.
        self.phony_memo.insert(j, Vec::new());
        while let Some(top) = stack.last_mut() {
            let edge = &file.edges[top.0];
            let Some(input) = input_at(edge, top.1) else {
                let (edge, _, mut paths) = stack.pop().unwrap_or_default();
                paths.sort_unstable();
                paths.dedup();
                if let Some(parent) = stack.last_mut() {
                    parent.2.extend_from_slice(&paths);
                    self.phony_paths = self.phony_paths.saturating_add(paths.len());
                }
                self.phony_memo.insert(edge, paths);
                self.check_phony_paths(j)?;
                continue;
            };
            top.1 += 1;
            let Some(k) = self.phony_with_inputs(input) else {
                self.phony_paths = self.phony_paths.saturating_add(1);
                if let Some(top) = stack.last_mut() {
                    top.2.push(input);
                }
                self.check_phony_paths(j)?;
                continue;
            };
            match self.phony_memo.get(&k) {
                Some(done) => {
                    self.phony_paths = self.phony_paths.saturating_add(done.len());
                    if let Some(top) = stack.last_mut() {
                        top.2.extend_from_slice(done);
                    }
                    self.check_phony_paths(j)?;
                }
                None => {
                    self.phony_memo.insert(k, Vec::new());
                    stack.push((k, 0, Vec::new()));
                }
            }
        }
        Ok(())
    }

    /// Refuses to go on once the phony edges have stood for more than
    /// [`MAX_PHONY_PATHS`] paths in all (phony edge `j` being expanded).
    fn check_phony_paths(&self, j: usize) -> Result<(), ImportError> {
        if self.phony_paths <= MAX_PHONY_PATHS {
            return Ok(());
        }
        let message = format!(
            "the phony targets of the build stand for more than {MAX_PHONY_PATHS} paths in all (here '{}'): phony targets that each name many others?",
            self.file.edges[j].outputs.first().map_or("", String::as_str)
        );
        Err(self.edge_error(&self.file.edges[j], message))
    }

    /// The shell script of a step: create output dirs, enter the build dir, run.
    fn script(&self, edge: &Edge, outputs: &[String]) -> String {
        let mut dirs: Vec<&str> = outputs
            .iter()
            .filter_map(|o| o.rsplit_once('/').map(|(dir, _)| dir))
            .collect();
        if !self.build_rel.is_empty() {
            dirs.push(&self.build_rel);
        }
        dirs.sort_unstable();
        dirs.dedup();
        let mut script = String::with_capacity(edge.command.len() + 64);
        let parents = (dirs.len() > SCANNED_OUTPUTS).then(|| ancestors(&dirs));
        // Only the deepest directories: `mkdir -p` creates their parents.
        for dir in &dirs {
            let has_subdir = match &parents {
                Some(parents) => parents.contains(dir),
                None => dirs
                    .iter()
                    .any(|o| relative_inside_str(dir, o).is_some_and(|rest| !rest.is_empty())),
            };
            if !has_subdir {
                script.push_str(if script.is_empty() { "mkdir -p " } else { " " });
                push_shell_escaped(&mut script, dir);
            }
        }
        let and = |script: &mut String| {
            if !script.is_empty() {
                script.push_str(" && ");
            }
        };
        if !self.build_rel.is_empty() {
            and(&mut script);
            script.push_str("cd ");
            push_shell_escaped(&mut script, &self.build_rel);
        }
        if !edge.rspfile.is_empty() {
            and(&mut script);
            script.push_str("printf '%s' ");
            push_shell_escaped(&mut script, &self.rewriter.rewrite(&edge.rspfile_content));
            script.push_str(" > ");
            push_shell_escaped(&mut script, &edge.rspfile);
        }
        if !script.is_empty() {
            script.push_str(" || exit 1\n");
        }
        self.rewriter.rewrite_into(&mut script, &edge.command);
        script
    }

    /// Programs the command starts, when they are outside the project: their bytes join
    /// the input hash (a compiler upgrade is a cache miss).
    fn tools_of(&mut self, command: &str) -> Vec<String> {
        let mut found = Vec::new();
        for segment in command_segments(command) {
            let Some(word) = segment.split_whitespace().next() else {
                continue;
            };
            let plausible = !SHELL_BUILTINS.contains(&word)
                && !word.contains(['$', '=', '\'', '"', '`', '<', '>'])
                && (word.starts_with('/') || !word.contains('/'));
            if plausible && self.is_tool(word) {
                found.push(word.to_string());
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    fn is_tool(&mut self, word: &str) -> bool {
        if let Some(&known) = self.tools.get(word) {
            return known;
        }
        let outside = !word.starts_with('/') || !Path::new(word).starts_with(&self.root);
        let known = outside && crate::model::inputs::resolve_on_path(word, DEFAULT_PATH).is_some();
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
            files: self.files,
        }
    }
}

/// Outputs (or output directories) of one edge compared pairwise; more go through a set.
const SCANNED_OUTPUTS: usize = 16;

/// Every proper ancestor of the relative directories `dirs` (`a` and `a/b` for `a/b/c`).
fn ancestors<'d>(dirs: &[&'d str]) -> FastSet<&'d str> {
    let mut parents = FastSet::default();
    for dir in dirs {
        let mut dir: &str = dir;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            // Its own ancestors are in already.
            if !parents.insert(parent) {
                break;
            }
            dir = parent;
        }
    }
    parents
}

/// The pieces of a shell command between `&`, `|`, `;`, `(`, `)` and newlines (what
/// `split` on those characters gives, found by a byte scan: they are all ASCII).
fn command_segments(command: &str) -> impl Iterator<Item = &str> {
    let separator = |b: &u8| matches!(b, b'&' | b'|' | b';' | b'(' | b')' | b'\n');
    let mut start = 0;
    let ends = command
        .bytes()
        .enumerate()
        .filter(move |(_, b)| separator(b));
    ends.map(|(at, _)| at)
        .chain(std::iter::once(command.len()))
        .map(move |end| {
            let segment = command.get(start..end).unwrap_or_default();
            start = end + 1;
            segment
        })
}

/// Options whose value is a name the command writes or records, not a file it reads:
/// `-o out`, a shared library's `-soname libfoo.so.1` (the name of a symlink another step
/// makes, and which depends on this one), a depfile's `-MF`/`-MT`/`-MQ`.
const NAME_OPTIONS: &[&str] = &["-o", "-soname", "-h", "-install_name", "-MF", "-MT", "-MQ"];

/// The words of a command that may name a file: shell words with their quotes taken off,
/// split at the commas of `-Wl,a,b` and the `=` of `--opt=value`, and the value of a
/// one-letter option written together with it (`-T../link.ld`); never the value of one of
/// [`NAME_OPTIONS`].
fn command_path_words(command: &str) -> Vec<&str> {
    let is_separator =
        |c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')' | '<' | '>');
    let pieces = command
        .split(is_separator)
        .map(|word| word.trim_matches(|c| matches!(c, '\'' | '"' | '`')))
        .flat_map(|word| word.split([',', '=']))
        .map(|piece| piece.trim_matches(|c| matches!(c, '\'' | '"')))
        .filter(|piece| !piece.is_empty());
    let mut words = Vec::new();
    let mut names_next = false;
    for piece in pieces {
        if std::mem::replace(&mut names_next, NAME_OPTIONS.contains(&piece)) {
            continue;
        }
        let piece = match piece.strip_prefix('-') {
            Some(option) if option.starts_with('-') => continue,
            Some(option) => match option.get(1..) {
                Some(value) => value,
                None => continue,
            },
            None => piece.strip_prefix('@').unwrap_or(piece),
        };
        let plausible = !piece.is_empty()
            && piece != "."
            && piece != ".."
            && !piece.contains(['$', '*', '?', '\\']);
        if plausible {
            words.push(piece);
        }
    }
    words
}

/// Whether a command creates a thin archive: `ar`/`gcc-ar`/`llvm-ar` with a `T` modifier
/// or `--thin`.
fn is_thin_archive_command(command: &str) -> bool {
    if !command.contains("ar") {
        return false;
    }
    let words = command.split_whitespace();
    words.clone().zip(words.skip(1)).any(|(first, flags)| {
        let program = first.rsplit('/').next().unwrap_or(first);
        let is_ar = program == "ar" || program.ends_with("-ar");
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

/// The `k`-th of an edge's inputs, implicit and order-only inputs (what [`all_inputs`]
/// gives), found without walking the ones before it.
fn input_at(edge: &Edge, k: usize) -> Option<&str> {
    let mut k = k;
    for list in [&edge.inputs, &edge.implicit_inputs, &edge.order_only] {
        match list.get(k) {
            Some(path) => return Some(path),
            None => k -= list.len(),
        }
    }
    None
}

/// Most paths the phony edges of a build may stand for, all expansions together (what a
/// step's inputs and deps are made of): far above a real build's, far below what phony
/// targets that each name many others could ask for.
const MAX_PHONY_PATHS: usize = 32_000_000;

fn all_inputs(edge: &Edge) -> impl Iterator<Item = &String> {
    edge.inputs
        .iter()
        .chain(&edge.implicit_inputs)
        .chain(&edge.order_only)
}

/// A step name from a path: characters reprobe does not allow become `_`.
pub fn sanitize_name(path: &str) -> String {
    let allowed =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b':');
    // ASCII paths (nearly all) are mapped byte by byte.
    if path.is_ascii() && !path.is_empty() {
        let mut bytes = path.as_bytes().to_vec();
        for byte in &mut bytes {
            if !allowed(*byte) {
                *byte = b'_';
            }
        }
        if let Ok(name) = String::from_utf8(bytes) {
            return name;
        }
    }
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
            clip(&tally.undiscovered[0], MAX_SHOWN),
            if dir.is_empty() { "." } else { &dir }
        ));
    }
    if let Some(example) = &tally.outside_example {
        let example = clip(example, MAX_SHOWN);
        notes.push(format!(
            "{} input(s) outside the graph's root were left out, e.g. `{example}`: system files belong to the toolchain (the compiler itself is hashed as a tool)",
            tally.outside
        ));
    }
    if let Some(example) = &tally.missing_example {
        let example = clip(example, MAX_SHOWN);
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
    /// Checks the graph exactly as `reprobe build` will when it reads it from
    /// `graph_file`, except that input files the import has just seen listed as regular
    /// files are not looked at again.
    pub fn validate(&self, graph_file: &Path) -> Result<(), GraphError> {
        Graph::validate(&self.graph, graph_file, &self.root, &self.seen_file())
    }

    /// Answers whether the import saw a path relative to the root listed as a regular
    /// file, reusing one buffer for the absolute path (no allocation per question).
    fn seen_file(&self) -> impl Fn(&str) -> bool + '_ {
        let root = self.root.to_string_lossy().into_owned();
        let path = std::cell::RefCell::new(String::new());
        move |rel| {
            let mut path = path.borrow_mut();
            path.clear();
            path.push_str(&root);
            path.push('/');
            path.push_str(rel);
            self.files.listed_file(&path)
        }
    }

    /// The graph as TOML, with a header saying where it came from.
    pub fn to_toml(&self, source: &str) -> Result<String, toml::ser::Error> {
        let mut out = String::with_capacity(self.graph.steps.len() * 320 + 256);
        self.emit_toml(source, &mut out, &mut |_| Ok(()))?;
        Ok(out)
    }

    /// Writes [`Import::to_toml`]'s text to `path`, a chunk at a time (a large graph is
    /// never held whole in memory). The text goes to a new temporary file beside `path`,
    /// created only once the text is known to serialize, which is then renamed over
    /// `path`: a symlink at `path` is replaced itself, never written through (its target
    /// is left alone), and a reader never sees half a graph.
    pub fn write_toml(&self, source: &str, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context;
        use std::io::Write;
        let cannot = || format!("cannot write {}", path.display());
        let mut temp: Option<TempFile> = None;
        let mut flush = |chunk: &mut String| -> anyhow::Result<()> {
            let temp = match &mut temp {
                Some(temp) => temp,
                None => temp.insert(TempFile::beside(path).with_context(cannot)?),
            };
            temp.file.write_all(chunk.as_bytes()).with_context(cannot)?;
            chunk.clear();
            Ok(())
        };
        let mut chunk = String::with_capacity(2 * TOML_CHUNK);
        self.emit_toml(source, &mut chunk, &mut flush)?;
        flush(&mut chunk)?;
        match temp {
            Some(temp) => temp.rename_over(path).with_context(cannot),
            None => Ok(()),
        }
    }

    /// Appends the TOML text to `out`, handing it to `flush` whenever a chunk is full.
    fn emit_toml<E: From<toml::ser::Error>>(
        &self,
        source: &str,
        out: &mut String,
        flush: &mut dyn FnMut(&mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        out.push_str(&format!("{GENERATED_MARK} from {source}.\n# Re-run the import after changing the build; edits here are lost.\n\n"));
        if fast_toml_fits(&self.graph) {
            write_steps_toml(&self.graph, out, flush)
        } else {
            out.push_str(&toml::to_string(&self.graph)?);
            Ok(())
        }
    }
}

/// A new file in the directory of the file it will replace, removed unless it is
/// renamed over it.
struct TempFile {
    path: PathBuf,
    file: std::fs::File,
    kept: bool,
}

impl TempFile {
    /// Creates `.NAME.tmp-PID-N` beside `dest` (never an existing file: `O_EXCL`).
    fn beside(dest: &Path) -> std::io::Result<TempFile> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = dest.file_name().unwrap_or(std::ffi::OsStr::new("graph"));
        let mut attempt = 0u32;
        loop {
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(".tmp-{}-{attempt}", std::process::id()));
            let path = dir.join(temp_name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        kept: false,
                    })
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Flushes the file to disk and renames it over `dest`.
    fn rename_over(mut self, dest: &Path) -> std::io::Result<()> {
        self.file.sync_all()?;
        std::fs::rename(&self.path, dest)?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// How much TOML text is gathered before it is written out.
const TOML_CHUNK: usize = 64 * 1024;

/// Whether [`write_steps_toml`] can write the graph: only shell commands and path lists,
/// what `import` produces.
fn fast_toml_fits(graph: &GraphFile) -> bool {
    graph.env.is_empty()
        && graph.steps.values().all(|step| {
            step.env.is_empty()
                && !step.network
                && step.sha256.is_none()
                && step.timeout.is_none()
                && step.memory.is_none()
                && step.disk.is_none()
                && step.pids.is_none()
                && matches!(step.run, Command::Shell(_))
        })
}

/// A fast TOML writer for the graphs `import` produces (shell commands and path lists;
/// see [`fast_toml_fits`]): large build files make tens of thousands of steps, which the
/// general serializer writes slowly. Appends to `out`, handing it to `flush` whenever it
/// holds [`TOML_CHUNK`] bytes.
fn write_steps_toml<E>(
    graph: &GraphFile,
    out: &mut String,
    flush: &mut dyn FnMut(&mut String) -> Result<(), E>,
) -> Result<(), E> {
    for (name, step) in &graph.steps {
        let Command::Shell(run) = &step.run else {
            continue;
        };
        out.push_str("[steps.");
        toml_key(out, name);
        out.push_str("]\nrun = ");
        toml_string(out, run);
        out.push('\n');
        toml_list(out, "inputs", &step.inputs, false);
        toml_list(out, "outputs", &step.outputs, true);
        toml_list(out, "tools", &step.tools, false);
        toml_list(out, "deps", &step.deps, false);
        out.push('\n');
        if out.len() >= TOML_CHUNK {
            flush(out)?;
        }
    }
    Ok(())
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
    let multiline = text.as_bytes().contains(&b'\n');
    if multiline {
        out.push_str("\"\"\"\n");
    } else {
        out.push('"');
    }
    // Copy runs of plain text whole; escape the few (ASCII) characters that need it.
    let bytes = text.as_bytes();
    let mut run = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Eight plain bytes at a time; a word that may hold one to escape goes bytewise.
        if let Some(word) = bytes.get(at..at + 8).and_then(|w| w.try_into().ok()) {
            if !may_need_escape(u64::from_le_bytes(word)) {
                at += 8;
                continue;
            }
        }
        let byte = bytes[at];
        at += 1;
        let escaped = match byte {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            b'\n' if multiline => continue,
            b'\t' => continue,
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        out.push_str(&text[run..at - 1]);
        if escaped.is_empty() {
            out.push_str(&format!("\\u{byte:04X}"));
        } else {
            out.push_str(escaped);
        }
        run = at;
    }
    out.push_str(&text[run..]);
    if multiline {
        out.push_str("\"\"\"");
    } else {
        out.push('"');
    }
}

/// Whether any of eight bytes (a little-endian word) may need escaping in a TOML string:
/// a control character, `"`, `\\` or DEL. Never wrong when it says no (bit tricks from
/// "Bit Twiddling Hacks": `hasless` and `haszero`).
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let has_control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0;
    has_control
        || has_zero(word ^ (ONES * u64::from(b'"')))
        || has_zero(word ^ (ONES * u64::from(b'\\')))
        || has_zero(word ^ (ONES * 0x7f))
}

/// The first words of every graph written by `reprobe import ninja`.
pub const GENERATED_MARK: &str = "# Generated by `reprobe import ninja`";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_command_writes_or_records_are_no_inputs() {
        let words = command_path_words(
            "/usr/bin/cc -fPIC -shared -Wl,-soname,libfoo.so.1 -o libfoo.so.1.2.3 foo.o -Wl,--version-script,/p/f.map -T../link.ld -Wl,--version-script,\"/p/quoted.map\"",
        );
        assert!(!words.contains(&"libfoo.so.1"), "{words:?}");
        assert!(!words.contains(&"libfoo.so.1.2.3"), "{words:?}");
        for wanted in ["foo.o", "/p/f.map", "../link.ld", "/p/quoted.map"] {
            assert!(words.contains(&wanted), "{wanted}: {words:?}");
        }
    }

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
        let mut text = String::new();
        assert!(fast_toml_fits(&graph));
        write_steps_toml::<std::io::Error>(&graph, &mut text, &mut |_| Ok(())).unwrap();
        let back: GraphFile = toml::from_str(&text).unwrap();
        assert_eq!(back, graph, "{text}");
    }

    #[test]
    fn ancestors_are_the_directories_with_a_subdirectory() {
        let dirs = ["a", "a/b", "a/b/c", "ab", "x/y", "x/z"];
        let parents = ancestors(&dirs);
        for dir in dirs {
            let pairwise = dirs
                .iter()
                .any(|o| relative_inside_str(dir, o).is_some_and(|rest| !rest.is_empty()));
            assert_eq!(parents.contains(dir), pairwise, "{dir}");
        }
        assert!(parents.contains("x"));
    }

    #[test]
    fn command_segments_split_as_str_split_does() {
        for command in ["", "a && b | c;d(e)f\ng", "&&", "x", "cc -c a.c", "ü|é"] {
            let want: Vec<&str> = command.split(['&', '|', ';', '(', ')', '\n']).collect();
            assert_eq!(
                command_segments(command).collect::<Vec<_>>(),
                want,
                "{command}"
            );
        }
        assert_eq!(sanitize_name("obj/a b.o"), "obj_a_b.o");
        assert_eq!(sanitize_name("x/ü"), "x__");
        assert_eq!(sanitize_name(""), "step");
    }

    #[test]
    fn the_word_test_flags_every_byte_that_needs_escaping() {
        for byte in 0..=255u8 {
            let needs = matches!(byte, 0..=0x1f | b'"' | b'\\' | 0x7f);
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = byte;
                let flagged = may_need_escape(u64::from_le_bytes(word));
                assert!(flagged || !needs, "byte {byte:#x} at {at}");
            }
        }
        assert!(!may_need_escape(u64::from_le_bytes(*b"cc -O2 /")));
    }
}
