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
//!
//! The parts: `layout` places the build's paths on the host, `discover` reads what the
//! compiler discovered, `select` walks the edges the targets need, `phony` expands phony
//! aliases, `step_names` names the steps, `command_words` reads commands for the files and
//! tools they name, `script` writes each step's script, `notes` tells what was left out,
//! and `toml_writer` writes the graph out.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::build_file::{BuildFile, Edge, NinjaError};
use super::canonical::canonicalize_path;
use super::file_kinds::FileKinds;
use super::parse::parse_file;
use super::paths::{
    common_ancestor, is_system_str, relative_inside, relative_inside_str, Rewriter,
};
use crate::model::fasthash::{FastMap, FastSet};
use crate::model::graph::{
    clip, describe_cycle, Command, Graph, GraphError, GraphFile, StepDecl, DEFAULT_PATH,
    MAX_MESSAGE,
};
use command_words::{command_path_words, is_thin_archive_command, program_words};
use discover::discover;
use layout::{Layout, Resolved, Resolver};
use notes::{count, notes, Tally};
use phony::Phonies;
use script::{step_script, SCANNED_OUTPUTS};
use step_names::step_names;

mod command_words;
mod discover;
mod layout;
mod notes;
mod phony;
mod script;
mod select;
mod step_names;
mod toml_writer;

pub use step_names::sanitize_name;
pub use toml_writer::GENERATED_MARK;

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
pub(crate) fn load_graph(
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
    let layout = Layout::new(ninja_file).map_err(|e| ImportError::Layout {
        file: ninja_file.display().to_string(),
        message: format!("cannot resolve its directory: {e}"),
    })?;
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
        return Err(importer.layout_error(
            "no build edge to import (every selected target is phony or a source file)",
        ));
    }
    Ok(importer.finish(graph))
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

/// One import under way: the parsed file, where its paths land, and what is worked out
/// once and shared by the steps (step names, phony expansions, thin archives, tools).
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
    /// What the phony edges stand for.
    phonies: Phonies<'a>,
    /// For a thin archive's edge, the edges of its members.
    thin_members: FastMap<usize, Vec<usize>>,
    tools: FastMap<String, bool>,
    tally: Tally,
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
            phonies: Phonies::default(),
            thin_members: FastMap::default(),
            tools: FastMap::default(),
            tally,
        }
    }

    fn targets(&self, wanted: &[String]) -> Result<Vec<String>, ImportError> {
        if !wanted.is_empty() {
            for target in wanted {
                if self.producer(&canonicalize_path(target)).is_none() {
                    return Err(self.layout_error(format!("unknown target '{target}'")));
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
            .flat_map(Edge::all_inputs)
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

    /// The non-phony edges the targets need, in file order (see [`select::select`]); a
    /// dependency cycle among them is an error at the edge that closes it.
    fn select(&mut self, targets: &[String]) -> Result<Vec<usize>, ImportError> {
        let roots: Vec<usize> = targets.iter().filter_map(|t| self.producer(t)).collect();
        let (resolved, layout, index) = (&mut self.resolved, &self.layout, &self.index);
        let mut producer = |path: &'a str| resolved.resolve(layout, index, path).producer;
        select::select(self.file, self.discovered, roots, &mut producer).map_err(|cycle| {
            let closing = &self.file.edges[cycle.closing_edge];
            self.edge_error(closing, describe_cycle(&cycle.paths, "files"))
        })
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
            let wanted = std::fs::canonicalize(wanted)
                .map_err(|e| self.layout_error(format!("the root {}: {e}", wanted.display())))?;
            if !root.starts_with(&wanted) {
                return Err(self.layout_error(format!(
                    "the build reads files in {}, which is not inside the graph's root {}: put the graph in a directory that holds both the build directory and the sources",
                    root.display(),
                    wanted.display()
                )));
            }
            root = wanted;
        }
        if root.parent().is_none() {
            return Err(self.layout_error(
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

    /// Step names from each edge's first output, made unique (see [`step_names`]).
    fn name_steps(&mut self, selected: &[usize]) {
        self.names = step_names(self.file, selected);
    }

    /// An error about the build directory or the root, naming the build file.
    fn layout_error(&self, message: impl Into<String>) -> ImportError {
        ImportError::Layout {
            file: self.layout.file.clone(),
            message: clip(&message.into(), MAX_MESSAGE).into_owned(),
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
            run: Command::Shell(step_script(edge, &outputs, &self.build_rel, &self.rewriter)),
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

    /// Appends what a path stands for (see [`Phonies::expand`]).
    fn expand_phony(&mut self, path: &'a str, out: &mut Vec<&'a str>) -> Result<(), ImportError> {
        let (resolved, layout, index) = (&mut self.resolved, &self.layout, &self.index);
        let mut producer = |p: &'a str| resolved.resolve(layout, index, p).producer;
        self.phonies
            .expand(self.file, path, out, &mut producer)
            .map_err(|too_many| {
                let edge = &self.file.edges[too_many.edge];
                self.edge_error(edge, too_many.message(self.file))
            })
    }

    /// Programs the command starts, when they are outside the project: their bytes join
    /// the input hash (a compiler upgrade is a cache miss).
    fn tools_of(&mut self, command: &str) -> Vec<String> {
        let mut found = Vec::new();
        for word in program_words(command) {
            if self.is_tool(word) {
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
}
