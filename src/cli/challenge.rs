//! `reprobe challenge MINE THEIRS...`: do machines that built the same inputs agree?

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use rayon::prelude::*;

use super::table::{colour_enabled, paint, Colour, Table};
use super::CommonArgs;
use crate::engine::challenge::{self, ChallengeReport, Disagreement, Labelled};
use crate::engine::explain::content::BlobSource;
use crate::engine::explain::history;
use crate::model::error::Exit;
use crate::model::graph;
use crate::store::Store;

/// Flags of `reprobe challenge`.
#[derive(Debug, clap::Args)]
pub struct ChallengeArgs {
    /// My build: a manifest file or a build id in the store.
    pub mine: String,
    /// Their builds: manifest files (from other machines, CI artifacts) or build ids.
    #[arg(required = true)]
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
    let manifests: Vec<Labelled> = read.into_iter().collect::<Result<_, _>>()?;
    let blobs = BlobSource::new(stores(store, &args.blobs)?);
    let report = challenge::challenge(&manifests, &blobs);
    if let Some(path) = &args.markdown {
        std::fs::write(path, markdown(&report))
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
        report.to_json()
    } else if args.common.quiet {
        report.summary.iter().map(|l| format!("{l}\n")).collect()
    } else {
        render(report, colour_enabled(), args.common.verbose)
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}

/// The terminal view: one row per compared step, then each disagreement's files.
pub fn render(report: &ChallengeReport, colour: bool, verbose: bool) -> String {
    let mut out = String::new();
    for (i, line) in report.summary.iter().enumerate() {
        let hue = match i {
            0 => Colour::Bold,
            _ if line.contains("DISAGREE") => Colour::Red,
            _ => Colour::Yellow,
        };
        out.push_str(&paint(line, hue, colour));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&steps_table(report, colour, verbose));
    for d in &report.disagree {
        render_disagreement(d, colour, &mut out);
    }
    out
}

fn steps_table(report: &ChallengeReport, colour: bool, verbose: bool) -> String {
    let mut table = Table::new(&["STEP", "VERDICT", "INPUT HASH", "MANIFESTS"]);
    for d in &report.disagree {
        let who: Vec<String> = d
            .outputs
            .iter()
            .map(|o| format!("{}: {}", o.content_hash.short(), o.manifests.join(" ")))
            .collect();
        table.row(vec![
            d.step.clone(),
            paint("DISAGREE", Colour::Red, colour),
            d.input_hash.short(),
            who.join(" | "),
        ]);
    }
    for a in &report.agree {
        table.row(vec![
            a.step.clone(),
            paint("agree", Colour::Green, colour),
            a.input_hash.short(),
            a.manifests.join(" "),
        ]);
    }
    if verbose {
        for o in &report.only_in {
            table.row(vec![
                o.step.clone(),
                paint("only in one", Colour::Dim, colour),
                o.input_hash.short(),
                o.manifest.clone(),
            ]);
        }
    }
    table.render()
}

fn render_disagreement(d: &Disagreement, colour: bool, out: &mut String) {
    out.push_str(&format!(
        "\n{}: same inputs, different outputs\n",
        paint(&d.step, Colour::Bold, colour)
    ));
    for c in &d.comparisons {
        out.push_str(&format!("  {} vs {}\n", c.a.short(), c.b.short()));
        for f in &c.files {
            let reasons = if f.reasons.is_empty() {
                String::new()
            } else {
                format!("  reasons: {}", f.reasons.join(", "))
            };
            out.push_str(&format!(
                "    {} ({}){reasons}\n",
                f.path,
                f.change.as_str()
            ));
        }
        if let Some(note) = &c.note {
            out.push_str(&format!("    note: {note}\n"));
        }
    }
}

/// A Markdown summary, fit for a pull-request comment.
pub fn markdown(report: &ChallengeReport) -> String {
    let mut out = String::from("### reprobe challenge\n\n");
    for line in &report.summary {
        out.push_str(&format!("- {line}\n"));
    }
    if !report.disagree.is_empty() {
        out.push_str("\n| step | file | change | reasons |\n|---|---|---|---|\n");
        for d in &report.disagree {
            for c in &d.comparisons {
                for f in &c.files {
                    out.push_str(&format!(
                        "| `{}` | `{}` | {} | {} |\n",
                        d.step,
                        f.path.replace('|', "\\|"),
                        f.change.as_str(),
                        f.reasons.join(", ")
                    ));
                }
            }
        }
    }
    out
}
