//! `reprobe explain [OLD] [NEW]`: why steps of NEW missed the cache of OLD.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::{colour_enabled, CommonArgs};
use crate::engine::explain::content::BlobSource;
use crate::engine::explain::history::{self, LoadedBuild};
use crate::engine::explain::{self, BuildRef, ExplainOptions, ExplainReport};
use crate::model::error::Exit;
use crate::model::graph;
use crate::report::explain::{html, markdown, terminal};
use crate::report::json;
use crate::store::Store;

/// Flags of `reprobe explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The older build: a manifest file or a build id (or a unique prefix) in the store
    /// [default: the second-to-last build of the graph]
    pub old: Option<String>,
    /// The newer build [default: the last build of the graph]
    pub new: Option<String>,
    /// The graph file, or a directory holding reprobe.toml, whose builds to compare
    /// [default: ./reprobe.toml]
    #[arg(long, value_name = "GRAPH")]
    pub graph: Option<PathBuf>,
    /// Show the full input tree of STEP in both builds, equal or not.
    #[arg(long, value_name = "STEP")]
    pub step: Option<String>,
    /// Most lines shown of each input file's diff.
    #[arg(long, default_value_t = 40, value_name = "N")]
    pub diff_lines: usize,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Markdown summary.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Compare NEW with the latest build any machine published for the graph on the
    /// remote cache (`build --remote`), instead of OLD (docs/remote.md).
    #[command(flatten)]
    pub remote: super::remote_args::RemoteArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `reprobe explain`: 0 when explained (whatever changed), 2 on bad input.
pub fn run(mut args: ExplainArgs) -> anyhow::Result<Exit> {
    take_positional_graph(&mut args);
    let graph_file = graph::resolve_graph_path(args.graph.as_deref());
    let store = find_existing_store(&args.common, &graph_file)?;
    let (old, new) = if args.remote.given() {
        super::remote_args::remote_pair(
            &args.remote,
            args.old.as_deref(),
            store.as_ref(),
            &graph_file,
        )?
    } else {
        pick_builds(&args, store.as_ref(), &graph_file)?
    };
    let blobs = BlobSource::new(store.into_iter().collect());
    let options = ExplainOptions {
        step: args.step.clone(),
        max_diff_lines: args.diff_lines.max(1),
    };
    let report = explain::explain(
        &build_ref(&old),
        &old.manifest,
        &build_ref(&new),
        &new.manifest,
        &blobs,
        &options,
    )?;
    write_reports(&args, &report)?;
    print(&args, &report)?;
    Ok(Exit::Ok)
}

fn build_ref(build: &LoadedBuild) -> BuildRef {
    BuildRef::of(&build.manifest, &build.path.display().to_string())
}

/// The store: `--store` (it must exist), else `.reprobe/` beside the graph if present.
/// Never creates one: explain only reads.
pub fn find_existing_store(
    common: &CommonArgs,
    graph_file: &Path,
) -> anyhow::Result<Option<Store>> {
    if let Some(dir) = &common.store {
        if !dir.join("builds").is_dir() {
            bail!(
                "--store {}: not a reprobe store (no builds/ in it)",
                dir.display()
            );
        }
        return Ok(Some(Store::open_explicit(dir)?));
    }
    let dir = default_store_dir(graph_file);
    if dir.join("builds").is_dir() {
        return Ok(Some(Store::open(&dir)?));
    }
    Ok(None)
}

/// `reprobe explain DIR` (or a graph file), as `reprobe build DIR` takes it: a lone
/// positional argument that names a directory or a graph file (and no build) is the
/// graph, not the older build.
fn take_positional_graph(args: &mut ExplainArgs) {
    if args.graph.is_some() || args.new.is_some() {
        return;
    }
    let Some(first) = args.old.as_deref() else {
        return;
    };
    let path = Path::new(first);
    let graph_like = path.is_dir()
        || (path.is_file() && [".toml", ".ninja"].iter().any(|ext| first.ends_with(ext)));
    if graph_like {
        args.graph = args.old.take().map(PathBuf::from);
    }
}

/// Where the graph's store is by default: `.reprobe/` beside the graph file, or, for a
/// Ninja file (`build --ninja`), beside the root its import chooses.
fn default_store_dir(graph_file: &Path) -> PathBuf {
    if graph_file.extension().is_some_and(|e| e == "ninja") {
        let options = crate::sources::ninja::import::ImportOptions::default();
        if let Ok(imported) = crate::sources::ninja::import::import(graph_file, &options) {
            return imported.root.join(".reprobe");
        }
    }
    let root = graph_file.parent().filter(|p| !p.as_os_str().is_empty());
    root.unwrap_or(Path::new(".")).join(".reprobe")
}

/// OLD and NEW from the arguments, or the last builds of the graph.
fn pick_builds(
    args: &ExplainArgs,
    store: Option<&Store>,
    graph_file: &Path,
) -> anyhow::Result<(LoadedBuild, LoadedBuild)> {
    let graph = history::GraphKey::of_file(graph_file);
    let need_store = || {
        store.with_context(|| {
            format!(
                "no store beside {} (.reprobe/ with recorded builds): run `reprobe build` there twice, pass --store DIR, or pass two manifests (reprobe explain OLD.json NEW.json)",
                graph_file.display()
            )
        })
    };
    match (&args.old, &args.new) {
        (Some(old), Some(new)) => {
            Ok((history::resolve(old, store)?, history::resolve(new, store)?))
        }
        (Some(old), None) => {
            let old = history::resolve(old, store)?;
            let mut latest =
                history::latest_builds(need_store()?, &graph, 1, Some(&old.manifest.id))?;
            Ok((old, latest.remove(0)))
        }
        (None, _) => {
            let mut pair = history::latest_builds(need_store()?, &graph, 2, None)?;
            let new = pair.remove(1);
            Ok((pair.remove(0), new))
        }
    }
}

fn write_reports(args: &ExplainArgs, report: &ExplainReport) -> anyhow::Result<()> {
    if let Some(path) = &args.html {
        write_file(path, &html::render(report))?;
    }
    if let Some(path) = &args.markdown {
        write_file(path, &markdown::render(report))?;
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("{}: cannot write report", path.display()))
}

fn print(args: &ExplainArgs, report: &ExplainReport) -> anyhow::Result<()> {
    let text = if args.common.json {
        json::sorted(report)
    } else if args.common.quiet {
        report.summary.iter().map(|l| format!("{l}\n")).collect()
    } else {
        terminal::render(report, colour_enabled(), args.common.verbose)
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}
