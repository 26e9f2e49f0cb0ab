//! Command-line parsing: turns flags into plain structs and dispatches to library code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::Exit;

pub mod diff;

/// reprobe: are your builds reproducible, and why do your caches miss?
#[derive(Debug, Parser)]
#[command(name = "reprobe", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of DESIGN.md section 1.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare two files, directories or archives and classify each difference.
    Diff(diff::DiffArgs),
    /// Internal: runs one sandboxed step from a request file (re-executed by reprobe).
    #[command(name = "__sandbox", hide = true)]
    Sandbox { request: std::path::PathBuf },
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
        Command::Diff(args) => diff::run(args),
        Command::Sandbox { request } => crate::sandbox::helper_main(&request),
    };
    match outcome {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("reprobe: error: {err:#}");
            Exit::BadInput.into()
        }
    }
}
