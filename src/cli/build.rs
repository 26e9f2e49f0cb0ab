//! `reprobe build`: build once in the sandbox, reuse the cache, record a manifest.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::table::{paint, Colour, Table};
use super::{open_store, CommonArgs, Interrupt};
use crate::engine::exec::{self, BuildEvent, BuildOptions, LimitDefaults, SandboxProfile};
use crate::model::error::Exit;
use crate::model::findings::NetworkAttempt;
use crate::model::manifest::{Manifest, StepRecord, StepStatus};
use crate::sandbox::{format_size, Enforcement, Observation, Sandbox};

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
    Observation::from_env(work_names).describe(Observation::fuse_available())
}

/// A process's argv on one line: arguments joined by spaces, control characters (the
/// newlines of a `python3 -c` script) escaped.
pub fn printable_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            arg.chars()
                .flat_map(|c| {
                    let escaped: Vec<char> = if c.is_control() {
                        c.escape_default().collect()
                    } else {
                        vec![c]
                    };
                    escaped
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
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
    let store = Arc::new(open_store(&args.common, &graph)?);
    let sandbox = Arc::new(Sandbox::new().context("cannot start the sandbox")?);
    let limits = args.limits.defaults();
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
        ..BuildOptions::default()
    };
    let interrupt = Interrupt::install()?;
    let mut progress = Progress::new(args.common.quiet || args.common.json, graph.steps.len());
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
    if args.common.json {
        println!("{}", manifest.to_json());
    } else if !args.common.quiet {
        print!("{}", render_table(&manifest));
        println!(
            "{}",
            summary(
                &manifest,
                &store.builds_dir().join(format!("{}.json", manifest.id))
            )
        );
    }
    report_failures(&manifest);
    report_findings(&manifest);
    if let Some(dir) = &args.out {
        let failed = manifest.steps.iter().any(|s| s.content_hash.is_none());
        if !failed {
            let exported = exec::export_final_outputs(&graph, &manifest, &store, dir)
                .map_err(|e| anyhow::anyhow!("--out {}: {e}", dir.display()))?;
            if !args.common.quiet && !args.common.json {
                let links = match exported.links {
                    0 => String::new(),
                    n => format!(" and {n} symbolic link(s)"),
                };
                println!(
                    "copied {} output file(s){links} of the final steps to {}",
                    exported.files,
                    dir.display()
                );
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

/// Warns on stderr about every network attempt, about undeclared reads of steps that did
/// not fail (a failed step's error names them already), and about steps that ran again
/// though cached (their notes).
fn report_findings(manifest: &Manifest) {
    for step in &manifest.steps {
        for note in &step.notes {
            eprintln!("reprobe: warning: step `{}` {note}", step.name);
        }
        for attempt in &step.findings.network {
            eprintln!(
                "reprobe: warning: {}",
                describe_attempt(&step.name, attempt)
            );
        }
        if step.findings.network_omitted > 0 {
            eprintln!(
                "reprobe: warning: step `{}` made {} more distinct network attempts, counted \
                 but not listed (the manifest's `network_omitted`)",
                step.name, step.findings.network_omitted
            );
        }
        if step.status != StepStatus::Failed && !step.findings.undeclared.is_empty() {
            eprintln!("reprobe: warning: {}", describe_undeclared(step));
        }
        if step.status != StepStatus::Failed {
            for limit in &step.findings.limits {
                eprintln!(
                    "reprobe: warning: step `{}` succeeded, yet a limit was reached (a write or fork may have failed unnoticed): {limit}",
                    step.name
                );
            }
        }
    }
}

/// "step `fetch` tried to reach the network: `curl …` (pid 7) connected to inet
/// 192.0.2.1 port 443 (denied)"; DNS queries name what was looked up.
pub fn describe_attempt(step: &str, attempt: &NetworkAttempt) -> String {
    let process = format!("`{}` (pid {})", printable_argv(&attempt.argv), attempt.pid);
    let destination = if attempt.port == 0 {
        format!("{} {}", attempt.family, attempt.address)
    } else {
        format!(
            "{} {} port {}",
            attempt.family, attempt.address, attempt.port
        )
    };
    match &attempt.dns_name {
        Some(name) => format!(
            "step `{step}` tried to reach the network: {process} looked up {name} at {destination} (denied)"
        ),
        None => format!(
            "step `{step}` tried to reach the network: {process} contacted {destination} (denied)"
        ),
    }
}

fn describe_undeclared(step: &StepRecord) -> String {
    format!(
        "step `{}` read or tried to read paths it did not declare: {}",
        step.name,
        step.findings.undeclared.join(", ")
    )
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

fn render_table(manifest: &Manifest) -> String {
    let colour = super::table::colour_enabled();
    let mut table = Table::new(&["STEP", "STATUS", "TIME", "INPUT HASH", "CONTENT HASH"]);
    for step in &manifest.steps {
        let (status, hue) = match step.status {
            StepStatus::Ran => ("ran", Colour::Green),
            StepStatus::Cached => ("cached", Colour::Yellow),
            StepStatus::Failed => ("FAILED", Colour::Red),
            StepStatus::Skipped => ("skipped", Colour::Dim),
        };
        let time = match step.status {
            StepStatus::Ran | StepStatus::Failed => {
                format!("{:.2}s", step.duration_ms as f64 / 1000.0)
            }
            _ => "-".to_string(),
        };
        let mut status = paint(status, hue, colour);
        for finding in finding_verdicts(step) {
            status.push(' ');
            status.push_str(&paint(finding, Colour::Red, colour));
        }
        table.row(vec![
            step.name.clone(),
            status,
            time,
            step.input_hash.map_or("-".into(), |h| h.short()),
            step.content_hash.map_or("-".into(), |h| h.short()),
        ]);
    }
    table.render()
}

/// The verdicts of docs/design.md section 6 that a build's findings give a step (`network`,
/// `undeclared`), shown beside its status: a step that tried the network and still
/// succeeded is the most dangerous kind, so it never reads as plain `ran`.
fn finding_verdicts(step: &StepRecord) -> Vec<&'static str> {
    let mut verdicts = Vec::new();
    if !step.findings.network.is_empty() {
        verdicts.push("network");
    }
    if !step.findings.undeclared.is_empty() {
        verdicts.push("undeclared");
    }
    verdicts
}

fn summary(manifest: &Manifest, path: &std::path::Path) -> String {
    let count = |status| manifest.steps.iter().filter(|s| s.status == status).count();
    let (ran, cached, failed, skipped) = (
        count(StepStatus::Ran),
        count(StepStatus::Cached),
        count(StepStatus::Failed),
        count(StepStatus::Skipped),
    );
    let mut text = format!("{} steps: {ran} ran, {cached} cached", manifest.steps.len());
    if failed + skipped > 0 {
        text.push_str(&format!(", {failed} failed, {skipped} skipped"));
    }
    let network = manifest
        .steps
        .iter()
        .filter(|s| !s.findings.network.is_empty())
        .count();
    if network > 0 {
        text.push_str(&format!(", {network} tried the network"));
    }
    if ran == 0 && failed == 0 && skipped == 0 {
        text.push_str(" (nothing to do: every step was a cache hit)");
    }
    format!("{text}\nmanifest: {}", path.display())
}

fn report_failures(manifest: &Manifest) {
    for step in manifest
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
    {
        eprintln!(
            "reprobe: step `{}` failed: {}",
            step.name,
            step.error.as_deref().unwrap_or("unknown error")
        );
        if let Some(tail) = &step.stderr_tail {
            eprintln!("--- last lines of its stderr ---");
            for line in tail.lines() {
                eprintln!("  {line}");
            }
        }
    }
}

/// Progress on stderr: a status line on a terminal ("[3/40] running: a, b"), updated when
/// a step starts and when one ends.
struct Progress {
    line: super::progress::StatusLine,
    running: Vec<String>,
    done: usize,
    total: usize,
}

impl Progress {
    fn new(quiet: bool, total: usize) -> Progress {
        Progress {
            line: super::progress::StatusLine::new(quiet),
            running: Vec::new(),
            done: 0,
            total,
        }
    }

    fn event(&mut self, event: BuildEvent) {
        if !self.line.enabled() {
            return;
        }
        match event {
            BuildEvent::Started { step } => self.running.push(step),
            BuildEvent::Finished {
                record,
                done,
                total,
            } => {
                self.running.retain(|s| *s != record.name);
                (self.done, self.total) = (done, total);
            }
        }
        let mut text = format!("[{}/{}]", self.done, self.total);
        if !self.running.is_empty() {
            text.push_str(&format!(
                " running: {}",
                super::progress::running_list(&self.running)
            ));
        }
        self.line.show(&text);
    }

    fn clear(&mut self) {
        self.line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_argv_is_printed_on_one_line() {
        let argv = vec![
            "python3".to_string(),
            "-c".into(),
            "import os\nprint(1)\t".into(),
        ];
        assert_eq!(printable_argv(&argv), "python3 -c import os\\nprint(1)\\t");
    }
}
