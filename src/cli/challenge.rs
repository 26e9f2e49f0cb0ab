//! `reprobe challenge MINE THEIRS...`: do machines that built the same inputs agree?

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use rayon::prelude::*;

use super::{colour_enabled, CommonArgs};
use crate::engine::challenge::{self, ChallengeReport, Labelled};
use crate::engine::explain::content::BlobSource;
use crate::engine::explain::history;
use crate::model::error::Exit;
use crate::model::graph;
use crate::report::challenge::{markdown, terminal};
use crate::report::json;
use crate::store::Store;

/// Flags of `reprobe challenge`.
#[derive(Debug, clap::Args)]
pub struct ChallengeArgs {
    /// My build: a manifest file or a build id in the store.
    pub mine: String,
    /// Their builds: manifest files (from other machines, CI artifacts) or build ids.
    #[arg(required_unless_present = "remote")]
    pub theirs: Vec<String>,
    /// The graph whose store (.reprobe/ beside it) resolves build ids and holds blobs
    /// [default: ./reprobe.toml]
    #[arg(long, value_name = "GRAPH")]
    pub graph: Option<PathBuf>,
    /// Another store to read output blobs from (another machine's .reprobe/), so that
    /// disagreements can be classified. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub blobs: Vec<PathBuf>,
    /// Write a Markdown summary.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also challenge the latest build another machine published for the graph on the
    /// remote cache (docs/remote.md).
    #[command(flatten)]
    pub remote: super::remote_args::RemoteArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `reprobe challenge`: 0 when all agree, 1 on a disagreement, 2 on bad input.
pub fn run(args: ChallengeArgs) -> anyhow::Result<Exit> {
    let graph_file = graph::resolve_graph_path(args.graph.as_deref());
    let store = super::explain::find_existing_store(&args.common, &graph_file)?;
    let labels: Vec<&String> = std::iter::once(&args.mine).chain(&args.theirs).collect();
    // Read in parallel, but report the first bad manifest in argument order, whichever
    // thread finished first.
    let read: Vec<Result<Labelled, _>> = labels
        .par_iter()
        .map(|label| {
            history::resolve_with(label, store.as_ref(), history::read_outline).map(|b| Labelled {
                label: label.to_string(),
                manifest: b.manifest,
            })
        })
        .collect();
    let mut manifests: Vec<Labelled> = read.into_iter().collect::<Result<_, _>>()?;
    if args.remote.given() {
        manifests.push(super::remote_args::remote_labelled(
            &args.remote,
            &manifests[0].manifest,
            &graph_file,
        )?);
    }
    let blobs = BlobSource::new(stores(store, &args.blobs)?);
    let report = challenge::challenge(&manifests, &blobs);
    if let Some(path) = &args.markdown {
        std::fs::write(path, markdown::render(&report))
            .with_context(|| format!("{}: cannot write report", path.display()))?;
    }
    print(&args, &report)?;
    Ok(report.exit())
}

fn stores(local: Option<Store>, extra: &[PathBuf]) -> anyhow::Result<Vec<Store>> {
    let mut out: Vec<Store> = local.into_iter().collect();
    for dir in extra {
        if !dir.join("blobs").is_dir() {
            bail!(
                "--blobs {}: not a reprobe store (no blobs/ in it)",
                dir.display()
            );
        }
        out.push(Store::open_explicit(dir)?);
    }
    Ok(out)
}

fn print(args: &ChallengeArgs, report: &ChallengeReport) -> anyhow::Result<()> {
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
