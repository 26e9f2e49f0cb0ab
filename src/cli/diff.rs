//! `reprobe diff A B`.

use std::path::PathBuf;

use crate::error::Exit;

/// Flags of `reprobe diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// First file, directory or archive.
    pub a: PathBuf,
    /// Second file, directory or archive.
    pub b: PathBuf,
}

/// Runs `reprobe diff`.
pub fn run(_args: DiffArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("reprobe diff is not implemented yet")
}
