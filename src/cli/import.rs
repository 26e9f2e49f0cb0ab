//! `reprobe import ninja FILE`, and the `--ninja`/`--cmd` graph sources of `build`/`check`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::CommonArgs;
use crate::model::error::Exit;
use crate::model::graph::{Graph, DEFAULT_GRAPH_FILE};
use crate::report::import::{import_json, import_text};
use crate::sources::ninja::{self, ImportOptions, GENERATED_MARK};
use crate::sources::wholecmd::WholeCommand;

/// Flags of `reprobe import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// What to import.
    #[command(subcommand)]
    pub kind: ImportKind,
}

/// The formats `import` reads.
#[derive(Debug, clap::Subcommand)]
pub enum ImportKind {
    /// Turn a build.ninja (CMake, Meson, GN, hand-written) into a reprobe graph.
    Ninja(NinjaArgs),
}

/// Flags of `reprobe import ninja`.
#[derive(Debug, clap::Args)]
pub struct NinjaArgs {
    /// The build.ninja to import (build once with ninja first, so included headers are known).
    pub file: PathBuf,
    /// Where to write the graph; its directory becomes the graph's root
    /// [default: reprobe.toml in the deepest directory holding the build and the sources]
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The graph's root, when not given by -o.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub root: Option<PathBuf>,
    /// Import only what these targets need [default: the file's default targets].
    #[arg(long = "target", value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Overwrite an existing graph file that `import` did not write.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `reprobe import`.
pub fn run(args: ImportArgs) -> anyhow::Result<Exit> {
    match args.kind {
        ImportKind::Ninja(args) => match import_ninja(&args) {
            Ok(exit) => Ok(exit),
            Err(err) => {
                super::print_error(&err);
                Ok(Exit::BadInput)
            }
        },
    }
}

fn import_ninja(args: &NinjaArgs) -> anyhow::Result<Exit> {
    let output_dir = args.output.as_deref().map(|o| match o.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    });
    let options = ImportOptions {
        root: output_dir.or_else(|| args.root.clone()),
        targets: args.targets.clone(),
    };
    let imported = ninja::import(&args.file, &options)?;
    let output = match &args.output {
        Some(o) => imported
            .root
            .join(o.file_name().context("-o names no file")?),
        None => imported.root.join(DEFAULT_GRAPH_FILE),
    };
    let steps = imported.graph.steps.len();
    imported.validate(&output)?;
    refuse_to_clobber(&output, args.force)?;
    imported.write_toml(&args.file.display().to_string(), &output)?;
    report(args, &imported, steps, &output);
    // The process exits now: freeing a large graph step by step would only cost time.
    std::mem::forget(imported);
    Ok(Exit::Ok)
}

/// Refuses to replace what `import` did not write: a file without its mark (unless
/// `--force`), a symlink (unless `--force`, and then the link itself is replaced, never
/// its target), and anything that is not a file or a link (a directory, a FIFO).
fn refuse_to_clobber(output: &Path, force: bool) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(output) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => anyhow::bail!("{}: cannot look at it: {err}", output.display()),
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        if force {
            return Ok(());
        }
        let target = std::fs::read_link(output).unwrap_or_default();
        anyhow::bail!(
            "{}: is a symbolic link (to {}), which `import` never writes through; pass --force to replace the link itself (its target is left alone), or -o to write elsewhere",
            output.display(),
            target.display()
        );
    }
    if !kind.is_file() {
        anyhow::bail!(
            "{}: is a {}, not a graph file; remove it, or pass -o to write elsewhere",
            output.display(),
            crate::fsafe::regular::kind_name(kind)
        );
    }
    if force {
        return Ok(());
    }
    match written_by_import(output) {
        Ok(true) => Ok(()),
        Ok(false) => anyhow::bail!(
            "{}: exists and was not written by `reprobe import`; pass --force to replace it, or -o to write elsewhere",
            output.display()
        ),
        Err(err) => anyhow::bail!(
            "{}: cannot read it to see whether `reprobe import` wrote it ({err}); pass --force to replace it, or -o to write elsewhere",
            output.display()
        ),
    }
}

/// Whether a regular file starts with [`GENERATED_MARK`] (only its first bytes are read:
/// a large graph is not read whole).
fn written_by_import(output: &Path) -> std::io::Result<bool> {
    let file = crate::fsafe::regular::open_regular(output)?;
    let mut start = Vec::with_capacity(GENERATED_MARK.len());
    file.take(GENERATED_MARK.len() as u64)
        .read_to_end(&mut start)?;
    Ok(start.starts_with(GENERATED_MARK.as_bytes()))
}

fn report(args: &NinjaArgs, imported: &ninja::Import, steps: usize, output: &Path) {
    if args.common.json {
        print!("{}", import_json(imported, steps, output));
    } else if !args.common.quiet {
        print!("{}", import_text(imported, steps, output, &args.file));
    }
}

/// Where `build` and `check` take their graph from: a graph file (the positional
/// argument), a `build.ninja` (`--ninja`) or one whole command (`--cmd`, the positional
/// argument then naming the project directory).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GraphSource {
    /// Import this build.ninja on the fly instead of reading a graph file.
    #[arg(long, value_name = "FILE", conflicts_with = "cmd")]
    pub ninja: Option<PathBuf>,
    /// Build the whole project directory with one shell command, as a single step.
    #[arg(long, value_name = "COMMAND")]
    pub cmd: Option<String>,
    /// With --cmd: what the command produces (paths or DIR/**; repeatable or comma-separated).
    #[arg(long, value_name = "PATH", requires = "cmd", value_delimiter = ',')]
    pub outputs: Vec<String>,
    /// With --cmd: project files matching this glob are not inputs (repeatable).
    #[arg(long, value_name = "GLOB", requires = "cmd")]
    pub exclude: Vec<String>,
}

impl GraphSource {
    /// The graph to build: from `--ninja`, `--cmd`, or the graph argument.
    pub fn load(&self, graph_arg: Option<&Path>, quiet: bool) -> anyhow::Result<Graph> {
        if let Some(file) = &self.ninja {
            if let Some(arg) = graph_arg {
                anyhow::bail!(
                    "--ninja {} replaces the graph argument {}",
                    file.display(),
                    arg.display()
                );
            }
            let (graph, imported) = ninja::load_graph(file, &ImportOptions::default())?;
            if !quiet {
                for note in &imported.notes {
                    eprintln!("reprobe: note: {note}");
                }
            }
            return Ok(graph);
        }
        if let Some(command) = &self.cmd {
            let spec = WholeCommand {
                dir: graph_arg.unwrap_or(Path::new(".")).to_path_buf(),
                command: command.clone(),
                outputs: self.outputs.clone(),
                excludes: self.exclude.clone(),
            };
            return Ok(spec.graph()?);
        }
        super::load_graph(graph_arg)
    }
}
