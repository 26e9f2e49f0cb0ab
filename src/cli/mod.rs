//! Command-line parsing: turns flags into plain structs and dispatches to library code.
//! Each command's module holds its flags and its `run()`: parse, call the engine, pick a
//! view from [`crate::report`], map the outcome to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::model::graph::{self, Graph};
use crate::store::Store;

use crate::model::error::Exit;

pub(crate) mod attestation;
pub(crate) mod build;
pub(crate) mod challenge;
pub(crate) mod check;
pub(crate) mod diff;
pub(crate) mod explain;
pub(crate) mod import;
pub(crate) mod progress;
pub(crate) mod remote_args;
pub(crate) mod store;

/// reprobe: are your builds reproducible, and why do your caches miss?
#[derive(Debug, Parser)]
#[command(name = "reprobe", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of docs/design.md section 1.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build once in the sandbox, reusing the local cache, and record a manifest.
    ///
    /// Each step's network calls and its opens outside its work directory (`/etc`, home
    /// directories, the project's own path) are observed: network attempts are denied,
    /// both are reported. A step that fails is run once more with the names it looks up
    /// in its work directory observed too, to name an undeclared project file it missed.
    /// REPROBE_OBSERVE=all|files|network|off overrides this (all: as `check` does).
    Build(build::BuildArgs),
    /// Build twice in varied sandboxes and judge every step: reproducible or not, and why.
    ///
    /// Each step's network calls, opens outside its work directory and the names it looks
    /// up in its work directory are observed (verdicts `network` and `undeclared`).
    Check(check::CheckArgs),
    /// Compare two files, directories or archives and classify each difference.
    Diff(diff::DiffArgs),
    /// Explain why steps of NEW missed the cache of OLD (default: the last two builds).
    Explain(explain::ExplainArgs),
    /// Compare manifests from different machines: same input hash, same output?
    Challenge(challenge::ChallengeArgs),
    /// Turn another build system's graph into a reprobe graph.
    Import(import::ImportArgs),
    /// Check the store (`verify`) or remove what nothing references (`gc`).
    Store(store::StoreArgs),
    /// Signed verdicts: make a key pair (`keygen`), check what `check --attest` wrote
    /// (`verify`).
    Attestation(attestation::AttestationArgs),
    /// Internal: runs one sandboxed step from a request file (re-executed by reprobe).
    #[command(name = "__sandbox", hide = true)]
    Sandbox { request: std::path::PathBuf },
    /// Internal: forks the helper of every step of one reprobe run (the fork server).
    #[command(name = "__sandbox-server", hide = true)]
    SandboxServer,
}

/// Parses the command line, runs the command and maps its outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Ok
            };
            let _ = err.print();
            return code.into();
        }
    };
    let outcome = match cli.command {
        Command::Build(args) => build::run(args),
        Command::Check(args) => check::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Challenge(args) => challenge::run(args),
        Command::Import(args) => import::run(args),
        Command::Store(args) => store::run(args),
        Command::Attestation(args) => attestation::run(args),
        Command::Sandbox { request } => crate::sandbox::helper_main(&request),
        Command::SandboxServer => crate::sandbox::server_main(),
    };
    match outcome {
        Ok(exit) => exit.into(),
        Err(err) => {
            print_error(&err);
            Exit::BadInput.into()
        }
    }
}

/// Whether to colour output written to stdout: on a terminal, unless `NO_COLOR` is set
/// to a non-empty value (no-color.org).
pub(crate) fn colour_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Prints an error with its causes on stderr, as `reprobe: error: ...`.
pub(crate) fn print_error(err: &anyhow::Error) {
    eprintln!("reprobe: error: {}", error_message(err));
}

/// An error and its causes joined by `: `, each said once: many library errors already
/// end with their cause (`cannot read x: {source}`), and anyhow's `{:#}` would repeat it.
pub(crate) fn error_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message == text || message.ends_with(&format!(": {text}")) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// Flags every command takes (docs/design.md section 1).
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Print machine-readable JSON (schema-versioned) on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// The store directory [default: .reprobe/ beside the graph]
    #[arg(long, env = "REPROBE_STORE", value_name = "DIR", global = true)]
    pub store: Option<PathBuf>,
    /// Steps to run at once [default: number of cores]
    #[arg(short = 'j', long = "jobs", value_name = "N", global = true)]
    pub jobs: Option<usize>,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more detail.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl CommonArgs {
    /// `-j`, or the number of cores.
    pub(crate) fn jobs(&self) -> usize {
        self.jobs
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// Loads and validates the graph named on the command line.
pub(crate) fn load_graph(arg: Option<&Path>) -> anyhow::Result<Graph> {
    let file = graph::resolve_graph_path(arg);
    if !file.exists() {
        anyhow::bail!(
            "{}: no such graph file; pass a graph file or a directory holding {}",
            file.display(),
            graph::DEFAULT_GRAPH_FILE
        );
    }
    Ok(Graph::load(&file)?)
}

/// Opens the store, creating it when there is none: `--store`, `REPROBE_STORE`, or
/// `.reprobe/` beside the graph. A link at `--store` is followed once; the default
/// `.reprobe` is never a link.
pub(crate) fn open_or_create_store(common: &CommonArgs, graph: &Graph) -> anyhow::Result<Store> {
    crate::store::set_verbose(common.verbose && !common.quiet);
    match &common.store {
        Some(dir) => Ok(Store::open_explicit(dir)?),
        None => {
            let dir = graph.root.join(".reprobe");
            Store::open(&dir).map_err(|err| {
                let denied = matches!(&err, crate::store::StoreError::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::PermissionDenied);
                let err = anyhow::Error::from(err);
                if denied {
                    err.context(format!(
                        "cannot use the store {} beside the graph (a read-only project?); pass --store DIR (or set REPROBE_STORE) to keep it elsewhere",
                        dir.display()
                    ))
                } else {
                    err
                }
            })
        }
    }
}

/// Ctrl-C and SIGTERM handling: the executor polls the flag and stops; the process then
/// exits, and every sandbox dies with it (each is tied to reprobe by PR_SET_PDEATHSIG).
pub(crate) struct Interrupt {
    flag: Arc<AtomicBool>,
    /// Set by SIGTERM only: the exit code says which signal stopped reprobe.
    terminated: Arc<AtomicBool>,
}

impl Interrupt {
    /// Installs the handlers.
    pub fn install() -> anyhow::Result<Interrupt> {
        let flag = Arc::new(AtomicBool::new(false));
        let terminated = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&flag))
                .context("cannot install the signal handler")?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&terminated))
            .context("cannot install the signal handler")?;
        Ok(Interrupt { flag, terminated })
    }

    /// The flag the executor polls.
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Exits the process after an interrupt, with the conventional code: 128 plus the
    /// signal's number (130 for Ctrl-C, 143 for SIGTERM).
    pub fn exit(&self) -> ! {
        eprintln!("reprobe: interrupted; running steps were stopped and the store holds only complete entries");
        let terminated = self.terminated.load(std::sync::atomic::Ordering::SeqCst);
        std::process::exit(if terminated { 143 } else { 130 })
    }
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read `x`: {source}")]
    struct Quoting {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_quoted_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(Quoting { source: io }).context("step `a`");
        assert_eq!(
            error_message(&err),
            "step `a`: cannot read `x`: no such file"
        );
    }

    #[test]
    fn a_new_cause_is_appended() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(io).context("reading graph.toml");
        assert_eq!(error_message(&err), "reading graph.toml: no such file");
    }

    #[test]
    fn a_cause_that_only_looks_like_the_end_of_the_message_is_said() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "x");
        let err = anyhow::Error::new(io).context("cannot open x");
        assert_eq!(error_message(&err), "cannot open x: x");
    }
}
