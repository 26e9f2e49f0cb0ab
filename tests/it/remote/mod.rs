//! The remote cache wired into the commands, end to end: the real binary, a real BuildGrid
//! server (tests/it/common/buildgrid.rs), real gcc. Each test starts one server of its own
//! and plays two machines with two checkouts and two stores (docs/remote.md).

mod against;
mod failures;
mod sharing;

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::buildgrid::BuildGrid;
use crate::common::{copy_corpus, reprobe};

/// One "machine": its own checkout of a project and its own store.
pub struct Machine {
    pub checkout: tempfile::TempDir,
    pub store: tempfile::TempDir,
}

impl Machine {
    /// A machine with a fresh copy of the corpus example `name`.
    pub fn of_corpus(name: &str) -> Machine {
        Machine::with(copy_corpus(name))
    }

    /// A machine with the checkout `checkout`.
    pub fn with(checkout: tempfile::TempDir) -> Machine {
        Machine {
            checkout,
            store: tempfile::tempdir().expect("store dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.checkout.path()
    }

    /// Runs `reprobe ARGS --remote URL` in the checkout with this machine's store.
    pub fn run(&self, server: &BuildGrid, args: &[&str]) -> Output {
        self.run_against(&server.url().to_string(), args)
    }

    /// Runs reprobe with `--remote URL` (any URL, a dead one included).
    pub fn run_against(&self, url: &str, args: &[&str]) -> Output {
        reprobe()
            .args(args)
            .args(["--remote", url])
            .env("REPROBE_STORE", self.store.path())
            .current_dir(self.path())
            .output()
            .expect("reprobe runs")
    }

    /// `--out` directory for a build of this machine.
    pub fn out(&self, name: &str) -> PathBuf {
        self.store.path().join(name)
    }
}

/// The steps of a `--json` manifest with the given `cache_source` ("local", "remote") or
/// status.
pub fn steps_where(manifest: &serde_json::Value, key: &str, value: &str) -> Vec<String> {
    manifest["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s[key] == value)
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect()
}

/// A step's field in a `--json` manifest.
pub fn step_field<'a>(
    manifest: &'a serde_json::Value,
    step: &str,
    field: &str,
) -> &'a serde_json::Value {
    &manifest["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == step)
        .unwrap_or_else(|| panic!("no step {step}"))[field]
}
