//! What `check` is given (its options, the graph, store and sandbox) and what it tells
//! while it runs (progress events).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::exec;
use crate::model::graph::Graph;
use crate::model::vocabulary::Variation;
use crate::sandbox::Sandbox;
use crate::store::Store;

/// How `check` runs.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Builds in all (at least 2): the first with the base profile, the rest varied.
    pub rounds: usize,
    /// The variations applied to every build after the first.
    pub variations: BTreeSet<Variation>,
    /// Steps run at once, shared by the concurrent builds.
    pub jobs: usize,
    /// Bisect differences the known values do not explain.
    pub bisect: bool,
    /// Keep each build's outputs under this directory (`build-1/STEP/...`).
    pub keep: Option<PathBuf>,
    /// Limits of steps that do not set their own.
    pub limits: exec::LimitDefaults,
    /// Try the remedies reprobe can apply itself on each nondeterministic step
    /// (`--try-fixes`, module `tryfix`).
    pub try_fixes: bool,
}

/// Something `check` is doing, for a progress line on a terminal.
#[derive(Debug, Clone, Copy)]
pub enum CheckEvent<'a> {
    /// A step of build `round` (from 1) started or finished.
    Build {
        /// The build's number.
        round: usize,
        /// What happened.
        event: &'a exec::BuildEvent,
    },
    /// The outputs of a step are being judged.
    Judging {
        /// The step.
        step: &'a str,
        /// Steps judged before it.
        done: usize,
        /// Steps in the graph.
        total: usize,
    },
    /// A step is run again (bisection, a cascade's re-run, a fix trial).
    Rerun {
        /// The step.
        step: &'a str,
        /// Why, in a few words.
        why: &'a str,
    },
}

/// Receives [`CheckEvent`]s, from several threads.
pub type CheckProgress = dyn Fn(CheckEvent<'_>) + Send + Sync;

/// What `check` needs from its caller.
pub struct CheckContext {
    /// The graph.
    pub graph: Arc<Graph>,
    /// The store (blobs only: `check` writes neither cache entries nor build history).
    pub store: Arc<Store>,
    /// The sandbox.
    pub sandbox: Arc<Sandbox>,
    /// Told what happens, for progress output (`None`: nobody listens).
    pub progress: Option<Box<CheckProgress>>,
}

impl CheckContext {
    /// Tells the listener, if there is one.
    pub(super) fn tell(&self, event: CheckEvent<'_>) {
        if let Some(progress) = &self.progress {
            progress(event);
        }
    }
}
