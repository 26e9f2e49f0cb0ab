//! `reprobe store verify` and `reprobe store gc`: check a store, collect what nothing
//! references (the rules are in the documentation of [`crate::store`]'s `verify` and
//! `gc` modules).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::CommonArgs;
use crate::model::error::Exit;
use crate::model::graph;
use crate::report::store::{gc_json, gc_text, verify_json, verify_text};
use crate::store::{GcOptions, OpenOptions, Store, StoreError};

/// Flags of `reprobe store`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

/// The store subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Check every blob against its hash, and every action entry and manifest against
    /// its blobs: exit 0 when sound, 1 when problems were found (each names its file).
    Verify(VerifyArgs),
    /// Remove blobs and action entries nothing references (older than --grace).
    Gc(GcArgs),
}

/// Flags of `reprobe store verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A graph file or directory whose store (`.reprobe/` beside it) is meant [default: .]
    pub graph: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Flags of `reprobe store gc`.
#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// A graph file or directory whose store (`.reprobe/` beside it) is meant [default: .]
    pub graph: Option<PathBuf>,
    /// Never remove anything younger than this (e.g. `30s`, `2h`, `0`): builds running
    /// beside gc write blobs before the entries that reference them.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub grace: String,
    /// Keep only the K newest build manifests and the action entries they used.
    #[arg(long, value_name = "K")]
    pub keep_builds: Option<usize>,
    /// Only report what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `reprobe store ...`.
pub fn run(args: StoreArgs) -> anyhow::Result<Exit> {
    match args.command {
        StoreCommand::Verify(args) => verify(args),
        StoreCommand::Gc(args) => gc(args),
    }
}

/// `--store`, `REPROBE_STORE` (explicit: a link there is followed once), or `.reprobe/`
/// beside the graph (never a link).
fn store_dir(common: &CommonArgs, graph_arg: Option<&Path>) -> (PathBuf, bool) {
    if let Some(dir) = &common.store {
        return (dir.clone(), true);
    }
    let file = graph::resolve_graph_path(graph_arg);
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
    (parent.unwrap_or(Path::new(".")).join(".reprobe"), false)
}

/// Opens the existing store; `clean` clears temporaries of dead processes (not for a
/// dry run, which changes nothing).
fn open(common: &CommonArgs, graph_arg: Option<&Path>, clean: bool) -> Result<Store, Exit> {
    crate::store::set_verbose(common.verbose && !common.quiet);
    let (dir, explicit) = store_dir(common, graph_arg);
    let options = OpenOptions {
        explicit,
        create: false,
        clean,
    };
    Store::open_with(&dir, options).map_err(|err: StoreError| {
        eprintln!("reprobe: error: {err}");
        Exit::BadInput
    })
}

fn verify(args: VerifyArgs) -> anyhow::Result<Exit> {
    let store = match open(&args.common, args.graph.as_deref(), true) {
        Ok(store) => store,
        Err(exit) => return Ok(exit),
    };
    let report = store.verify();
    if args.common.json {
        print!("{}", verify_json(&store, &report));
    } else {
        print!("{}", verify_text(&store, &report, args.common.quiet));
    }
    Ok(if report.is_ok() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

fn gc(args: GcArgs) -> anyhow::Result<Exit> {
    let Some(grace) = parse_grace(&args.grace) else {
        eprintln!(
            "reprobe: error: --grace `{}`: not a duration (e.g. 90, 30s, 2h)",
            args.grace
        );
        return Ok(Exit::BadInput);
    };
    let store = match open(&args.common, args.graph.as_deref(), !args.dry_run) {
        Ok(store) => store,
        Err(exit) => return Ok(exit),
    };
    let options = GcOptions {
        grace,
        keep_builds: args.keep_builds,
        dry_run: args.dry_run,
    };
    let report = match store.gc(&options) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("reprobe: error: {err}");
            return Ok(Exit::BadInput);
        }
    };
    if args.common.json {
        print!("{}", gc_json(&store, &report, args.dry_run, grace));
    } else if !args.common.quiet {
        print!("{}", gc_text(&store, &report, args.dry_run));
    }
    for err in &report.errors {
        eprintln!("reprobe: cannot remove {err}");
    }
    Ok(if report.errors.is_empty() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

/// A duration as in the graph's `timeout`, or zero (`0`, `0s`...), which means "now".
fn parse_grace(text: &str) -> Option<std::time::Duration> {
    let number = text.trim().trim_end_matches(['s', 'm', 'h']);
    if number.parse::<f64>().is_ok_and(|n| n == 0.0) {
        return Some(std::time::Duration::ZERO);
    }
    graph::parse_duration(text)
}
