//! `reprobe build`: build once in the sandbox, reuse the cache, record a manifest.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::progress::BuildProgress;
use super::{colour_enabled, open_or_create_store, CommonArgs, Interrupt};
use crate::engine::exec::{self, BuildOptions, LimitDefaults, SandboxProfile};
use crate::model::error::Exit;
use crate::model::manifest::{Manifest, StepStatus};
use crate::report::build;
use crate::sandbox::{
    format_size, Enforcement, Observation, ObserveLevel, Sandbox, SandboxSettings, FORK_SERVER_ENV,
    OBSERVE_ENV, SANDBOX_EXE_ENV, TRIPWIRE_ENV,
};

/// Flags of `reprobe build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The graph file, or a directory holding reprobe.toml [default: ./reprobe.toml]
    pub graph: Option<PathBuf>,
    /// Run every step, ignoring the action cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Copy the declared outputs of the final steps into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Keep the work directory of a failed step in the store's tmp/ for inspection.
    #[arg(long)]
    pub keep_failed: bool,
    /// Exit with 1 when a step tried to reach the network (it is always reported).
    #[arg(long)]
    pub deny_network_attempts: bool,
    #[command(flatten)]
    pub source: super::import::GraphSource,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub remote: super::remote_args::RemoteArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Limits of steps that do not set their own (`build` and `check`).
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Timeout of steps that set no `timeout`: "90s", "10m", "1h" [default: 1h]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub timeout: Option<std::time::Duration>,
    /// Memory limit of steps that set no `memory`, for all of a step's processes
    /// together: "512M", "4G" [default: 4G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub memory: Option<u64>,
    /// Limit of the work directory, /tmp and /dev/shm of steps that set no `disk`
    /// [default: 4G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub disk: Option<u64>,
    /// Process limit of steps that set no `pids` [default: 4096]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pids: Option<u64>,
}

impl LimitArgs {
    /// The build's default limits, with these flags applied.
    pub fn defaults(&self) -> LimitDefaults {
        let mut defaults = LimitDefaults::default();
        if let Some(timeout) = self.timeout {
            defaults.timeout = timeout;
        }
        if let Some(memory) = self.memory {
            defaults.limits.memory_bytes = memory;
        }
        if let Some(disk) = self.disk {
            defaults.limits.disk_bytes = disk;
        }
        if let Some(pids) = self.pids {
            defaults.limits.pids = pids;
        }
        defaults
    }
}

fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    crate::model::graph::parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration (write seconds, or 90s, 10m, 1h)"))
}

fn parse_size_arg(text: &str) -> Result<u64, String> {
    crate::sandbox::parse_size(text)
        .ok_or_else(|| format!("`{text}` is not a size (write bytes, or 512M, 4G)"))
}

/// "limits of steps that set none: timeout 1h, memory 4 GiB per step, …; enforced: …",
/// for `-v`.
pub fn describe_limits(defaults: &LimitDefaults) -> String {
    format!(
        "limits of steps that set none: timeout {:?}, memory {} per step, disk {}, \
         pids {}; enforced: {}",
        defaults.timeout,
        format_size(defaults.limits.memory_bytes),
        format_size(defaults.limits.disk_bytes),
        defaults.limits.pids,
        Enforcement::detect()
    )
}

/// "observed: network calls and …", for `-v`: what the steps of this command have
/// observed (`work_names`: `check`'s default), after `REPROBE_OBSERVE`.
pub fn describe_observation(work_names: bool) -> String {
    sandbox_settings()
        .observation(work_names)
        .describe(Observation::fuse_available())
}

/// The sandbox settings the environment asks for ([`SANDBOX_EXE_ENV`],
/// [`FORK_SERVER_ENV`], [`OBSERVE_ENV`], [`TRIPWIRE_ENV`]): the sandbox itself reads none.
pub(crate) fn sandbox_settings() -> SandboxSettings {
    SandboxSettings {
        exe: std::env::var_os(SANDBOX_EXE_ENV).map(Into::into),
        fork_server: !std::env::var(FORK_SERVER_ENV).is_ok_and(|v| v == "off"),
        observe: ObserveLevel::parse(&std::env::var(OBSERVE_ENV).unwrap_or_default()),
        opens_by_seccomp: std::env::var(TRIPWIRE_ENV).is_ok_and(|v| v == "off"),
    }
}

/// Runs `reprobe build`.
pub fn run(args: BuildArgs) -> anyhow::Result<Exit> {
    let graph = match args
        .source
        .load(args.graph.as_deref(), args.common.quiet || args.common.json)
    {
        Ok(graph) => Arc::new(graph),
        Err(err) => return Ok(report_bad_input(err)),
    };
    Sandbox::check_support().map_err(anyhow::Error::from)?;
    let store = Arc::new(open_or_create_store(&args.common, &graph)?);
    let sandbox = Arc::new(Sandbox::new(sandbox_settings()).context("cannot start the sandbox")?);
    let limits = args.limits.defaults();
    let remote = args.remote.connect()?;
    super::remote_args::print_warnings(remote.as_deref());
    if args.common.verbose && !args.common.quiet {
        eprintln!("reprobe: {}", describe_limits(&limits));
        eprintln!("reprobe: {}", describe_observation(false));
    }
    let options = BuildOptions {
        jobs: args.common.jobs(),
        use_cache: !args.no_cache,
        keep_failed: args.keep_failed,
        verify_final_outputs: args.out.is_some(),
        profile: SandboxProfile {
            limits,
            ..SandboxProfile::default()
        },
        remote: remote.clone(),
        ..BuildOptions::default()
    };
    let interrupt = Interrupt::install()?;
    let mut progress = BuildProgress::new(args.common.quiet || args.common.json, graph.steps.len());
    let manifest = match exec::build(
        graph.clone(),
        store.clone(),
        sandbox,
        &options,
        interrupt.flag(),
        &mut |e| progress.event(e),
    ) {
        Ok(manifest) => manifest,
        Err(exec::BuildError::Interrupted) => {
            progress.clear();
            interrupt.exit();
        }
        Err(err) => return Err(err.into()),
    };
    progress.clear();
    if let Some(remote) = &remote {
        remote.publish_manifest(&manifest);
        remote.publish_index(&store, &manifest);
    }
    super::remote_args::print_warnings(remote.as_deref());
    if args.common.json {
        println!("{}", manifest.to_json());
    } else if !args.common.quiet {
        print!("{}", build::table(&manifest, colour_enabled()));
        println!(
            "{}",
            build::summary(
                &manifest,
                &store.builds_dir().join(format!("{}.json", manifest.id))
            )
        );
    }
    eprint!("{}", build::failures(&manifest));
    eprint!("{}", build::warnings(&manifest));
    if let Some(dir) = &args.out {
        let failed = manifest.steps.iter().any(|s| s.content_hash.is_none());
        if !failed {
            let exported = exec::export_final_outputs(&graph, &manifest, &store, dir)
                .map_err(|e| anyhow::anyhow!("--out {}: {e}", dir.display()))?;
            if !args.common.quiet && !args.common.json {
                println!("{}", build::exported(&exported, dir));
            }
        }
    }
    let exit = build_exit(&manifest);
    if exit == Exit::Ok && args.deny_network_attempts && tried_network(&manifest) {
        return Ok(Exit::Findings);
    }
    Ok(exit)
}

/// True when any step of the build tried to reach the network.
pub fn tried_network(manifest: &Manifest) -> bool {
    manifest
        .steps
        .iter()
        .any(|s| !s.findings.network.is_empty())
}

fn report_bad_input(err: anyhow::Error) -> Exit {
    super::print_error(&err);
    Exit::BadInput
}

/// Exit 3 when any step failed or was skipped.
pub fn build_exit(manifest: &Manifest) -> Exit {
    if manifest
        .steps
        .iter()
        .any(|s| matches!(s.status, StepStatus::Failed | StepStatus::Skipped))
    {
        Exit::StepFailed
    } else {
        Exit::Ok
    }
}
