//! `reprobe check`: build twice in varied sandboxes, judge every step, gate CI.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::progress::{check_progress, StatusLine};
use super::{colour_enabled, open_or_create_store, CommonArgs, Interrupt};
use crate::engine::check::{self, CheckContext, CheckOptions, CheckReport};
use crate::engine::exec::BuildError;
use crate::engine::variation;
use crate::model::error::Exit;
use crate::report::check::{html, junit, markdown, terminal};
use crate::report::json;
use crate::sandbox::Sandbox;

/// Flags of `reprobe check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The graph file, or a directory holding reprobe.toml [default: ./reprobe.toml]
    pub graph: Option<PathBuf>,
    /// How many builds (at least 2): the first plain, the others with the variations.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub rounds: usize,
    /// Apply only these variations (comma-separated): build_path, clock, hostname, user,
    /// umask, locale, timezone, fileorder, cpus, env.
    #[arg(long, value_name = "LIST")]
    pub vary: Option<String>,
    /// Apply every variation but these (comma-separated); the report lists what was off.
    #[arg(long, value_name = "LIST")]
    pub no_vary: Option<String>,
    /// Do not re-run steps to bisect differences the known values do not explain.
    #[arg(long)]
    pub no_bisect: bool,
    /// Try the fixes reprobe can apply itself (SOURCE_DATE_EPOCH, TZ, LC_ALL,
    /// PYTHONHASHSEED, umask, -ffile-prefix-map for gcc/clang) on each nondeterministic
    /// step, in both builds' sandboxes, and report which made it reproducible.
    #[arg(long)]
    pub try_fixes: bool,
    /// Keep every build's outputs in DIR/build-N/STEP/ for inspection.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Markdown summary (for a pull-request comment).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write a JUnit XML report: one test case per step, non-reproducible ones failing.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub attest: super::attestation::AttestArgs,
    #[command(flatten)]
    pub source: super::import::GraphSource,
    /// Build once here and compare each step with the remote cache's entry for the same
    /// inputs (another machine's build) instead of building twice (docs/remote.md).
    #[arg(long)]
    pub against_remote: bool,
    #[command(flatten)]
    pub remote: super::remote_args::RemoteArgs,
    #[command(flatten)]
    pub limits: super::build::LimitArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `reprobe check`.
pub fn run(args: CheckArgs) -> anyhow::Result<Exit> {
    let graph = match args
        .source
        .load(args.graph.as_deref(), args.common.quiet || args.common.json)
    {
        Ok(graph) => Arc::new(graph),
        Err(err) => {
            super::print_error(&err);
            return Ok(Exit::BadInput);
        }
    };
    let variations = match variation::choose(args.vary.as_deref(), args.no_vary.as_deref()) {
        Ok(v) => v,
        Err(err) => {
            eprintln!("reprobe: error: --vary/--no-vary: {err}");
            return Ok(Exit::BadInput);
        }
    };
    if variations.is_empty() {
        eprintln!(
            "reprobe: error: --vary/--no-vary leave no variation: every build would run in the same sandbox, so `check` could only find a step that differs by itself; it never passes such a run as reproducible. Leave at least one variation on (`--rounds N` alone builds N times with every variation, which also finds steps that differ by themselves)"
        );
        return Ok(Exit::BadInput);
    }
    if args.rounds < 2 {
        eprintln!("reprobe: error: --rounds must be at least 2 (one build cannot be compared)");
        return Ok(Exit::BadInput);
    }
    if let Err(err) = check_report_paths(&args) {
        super::print_error(&err);
        return Ok(Exit::BadInput);
    }
    let signer = match args.attest.prepare() {
        Ok(signer) => signer,
        Err(err) => {
            super::print_error(&err);
            return Ok(Exit::BadInput);
        }
    };
    let remote = match super::remote_args::against_remote(&args.remote, args.against_remote) {
        Ok(remote) => remote,
        Err(err) => {
            super::print_error(&err);
            return Ok(Exit::BadInput);
        }
    };
    Sandbox::check_support().map_err(anyhow::Error::from)?;
    let status = Arc::new(StatusLine::new(args.common.quiet || args.common.json));
    let rounds = if remote.is_some() { 1 } else { args.rounds };
    let progress = check_progress(Arc::clone(&status), graph.steps.len(), rounds);
    let cx = CheckContext {
        progress,
        store: Arc::new(open_or_create_store(&args.common, &graph)?),
        sandbox: Arc::new(
            Sandbox::new(super::build::sandbox_settings()).context("cannot start the sandbox")?,
        ),
        graph,
    };
    let options = CheckOptions {
        rounds: args.rounds,
        variations,
        jobs: args.common.jobs(),
        bisect: !args.no_bisect,
        try_fixes: args.try_fixes,
        keep: args.keep.clone(),
        limits: args.limits.defaults(),
    };
    if args.common.verbose && !args.common.quiet {
        eprintln!(
            "reprobe: {}",
            super::build::describe_limits(&options.limits)
        );
        eprintln!("reprobe: {}", super::build::describe_observation(true));
    }
    let interrupt = Interrupt::install()?;
    if !args.common.quiet && !args.common.json && remote.is_none() {
        let steps = cx.graph.steps.len();
        eprintln!(
            "reprobe: checking {steps} {} with {} builds; varying: {}",
            if steps == 1 { "step" } else { "steps" },
            options.rounds,
            options
                .variations
                .iter()
                .map(|v| v.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let result = match &remote {
        Some(remote) => check::check_against_remote(&cx, &options, remote, interrupt.flag()),
        None => check::check(&cx, &options, interrupt.flag()),
    };
    status.clear();
    let report = match result {
        Ok(report) => report,
        Err(BuildError::Interrupted) => interrupt.exit(),
        Err(err) => return Err(err.into()),
    };
    write_reports(&args, &report)?;
    if let Some(signer) = &signer {
        signer.write(&report, &cx.graph, args.common.quiet || args.common.json)?;
    }
    if args.common.json {
        print!("{}", json::sorted(&report));
    } else if !args.common.quiet {
        print!(
            "{}",
            terminal::render(&report, colour_enabled(), args.common.verbose)
        );
    }
    Ok(report.exit())
}

/// Fails before any build when a report could not be written: a missing directory or an
/// unwritable one would otherwise lose the verdict after the whole check ran.
fn check_report_paths(args: &CheckArgs) -> anyhow::Result<()> {
    for path in [&args.html, &args.markdown, &args.junit]
        .into_iter()
        .flatten()
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => std::path::Path::new("."),
        };
        if !dir.is_dir() {
            anyhow::bail!(
                "cannot write the report {}: the directory {} does not exist; create it or choose another path",
                path.display(),
                dir.display()
            );
        }
        let probe = tempfile::NamedTempFile::new_in(dir).with_context(|| {
            format!(
                "cannot write the report {}: the directory {} is not writable",
                path.display(),
                dir.display()
            )
        })?;
        drop(probe);
    }
    Ok(())
}

fn write_reports(args: &CheckArgs, report: &CheckReport) -> anyhow::Result<()> {
    let outputs = [
        (&args.html, html::render(report)),
        (&args.markdown, markdown::render(report)),
        (&args.junit, junit::render(report)),
    ];
    for (path, text) in outputs {
        if let Some(path) = path {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}
