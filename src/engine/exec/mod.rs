//! The executor: runs a graph's steps in dependency order, in parallel, each in its own
//! sandbox, reusing the action cache, and records a [`Manifest`].
//!
//! A failed step stops its dependents while independent steps finish. Every step runs in
//! a private work directory in the store's `tmp/`, holding only its declared inputs and
//! its deps' outputs; only its declared outputs are collected.
//!
//! Files by concern: `profile` (the sandbox values of a build), `options` (how a build
//! runs), `scheduler` (which step is ready), `step_job` (one step's run), `workdir` (its
//! work directory), `failure` (what a failed step's record says) and `export` (`--out`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::model::graph::Graph;
use crate::model::inputs::{self, FileHashCache};
use crate::model::manifest::{Host, Manifest, StepRecord, StepStatus, MANIFEST_SCHEMA};
use crate::sandbox::Sandbox;
use crate::store::Store;

mod export;
mod failure;
mod options;
mod profile;
mod scheduler;
mod slots;
mod step_job;
mod workdir;

pub use export::{export_final_outputs, Exported};
pub use options::BuildOptions;
pub use profile::{LimitDefaults, SandboxProfile};

use scheduler::{cached_dep_reruns, dep_inputs, dep_trees, failed_dep, Scheduler};
use step_job::{skipped, StepJob};

/// Steps in flight per `-j` slot when a remote cache is in use: a step looked up on the
/// server holds no core while it waits, so more of them overlap; sandbox runs stay at
/// `-j` ([`slots`]).
const REMOTE_IN_FLIGHT: usize = 4;

/// Something that happened during a build, for progress output.
#[derive(Debug, Clone)]
pub enum BuildEvent {
    /// A step started running in its sandbox.
    Started {
        /// The step.
        step: String,
    },
    /// A step finished (ran, cached, failed or skipped).
    Finished {
        /// Its record.
        record: Box<StepRecord>,
        /// Steps finished so far.
        done: usize,
        /// Steps in the graph.
        total: usize,
    },
}

/// Errors that stop a build as a whole (a failing step is not one: it is recorded).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The user interrupted the build.
    #[error("interrupted")]
    Interrupted,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A step's inputs cannot be used at all (a FIFO among them, or a path through a
    /// link out of the project): found before any step runs.
    #[error(transparent)]
    Input(#[from] inputs::InputError),
}

/// Runs every step of `graph` and returns the build's manifest (also written to the store).
pub fn build(
    graph: Arc<Graph>,
    store: Arc<Store>,
    sandbox: Arc<Sandbox>,
    options: &BuildOptions,
    interrupted: &AtomicBool,
    on_event: &mut dyn FnMut(BuildEvent),
) -> Result<Manifest, BuildError> {
    let started = chrono::Utc::now();
    inputs::check_graph_inputs(&graph)?;
    let total = graph.steps.len();
    let mut records: Vec<Option<StepRecord>> = vec![None; total];
    let mut scheduler = Scheduler::new(&graph);
    let mut running = 0usize;
    let mut done = 0usize;
    let (sender, receiver) = mpsc::channel::<(usize, StepRecord, Vec<(usize, StepRecord)>)>();
    let hash_cache = Arc::new(FileHashCache::default());
    let jobs = options.jobs.max(1);
    // With a remote cache, most steps in flight wait for the server, not for a core.
    let run_slots = Arc::new(slots::Slots::new(jobs));
    let in_flight = if options.remote.as_ref().is_some_and(|r| r.is_on()) {
        jobs * REMOTE_IN_FLIGHT
    } else {
        jobs
    };
    let finals: std::collections::HashSet<&str> = graph
        .final_steps()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    while done < total {
        if interrupted.load(Ordering::SeqCst) {
            return Err(BuildError::Interrupted);
        }
        while running < in_flight {
            let Some(index) = scheduler.next_ready() else {
                break;
            };
            let step = &graph.steps[index];
            if let Some(blocker) = failed_dep(&graph, step, &records) {
                let record = skipped(step, format!("not run: dep `{blocker}` did not succeed"));
                done += 1;
                on_event(BuildEvent::Finished {
                    record: Box::new(record.clone()),
                    done,
                    total,
                });
                records[index] = Some(record);
                scheduler.finished(index);
                continue;
            }
            running += 1;
            on_event(BuildEvent::Started {
                step: step.name.clone(),
            });
            let job = StepJob {
                graph: Arc::clone(&graph),
                store: Arc::clone(&store),
                sandbox: Arc::clone(&sandbox),
                options: options.clone(),
                hash_cache: Arc::clone(&hash_cache),
                index,
                reruns: cached_dep_reruns(&graph, step, &records),
                is_final: finals.contains(step.name.as_str()),
                reran: Default::default(),
                run_slots: Some(Arc::clone(&run_slots)),
            };
            let deps = dep_inputs(&graph, step, &records);
            let dep_outputs = dep_trees(&graph, step, &records);
            let sender = sender.clone();
            std::thread::spawn(move || {
                let record = job.run(deps, dep_outputs);
                let reran = job.take_reran();
                let _ = sender.send((index, record, reran));
            });
        }
        if running == 0 {
            // Nothing runs and nothing is ready: only possible if every remaining step
            // was skipped above, which the loop condition then ends.
            if scheduler.is_idle() {
                break;
            }
            continue;
        }
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok((index, record, reran)) => {
                // Cached deps this step had to run again: the manifest says they ran.
                for (dep, dep_record) in reran {
                    records[dep] = Some(dep_record);
                }
                running -= 1;
                done += 1;
                on_event(BuildEvent::Finished {
                    record: Box::new(record.clone()),
                    done,
                    total,
                });
                records[index] = Some(record);
                scheduler.finished(index);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let steps: Vec<StepRecord> = records.into_iter().flatten().collect();
    if steps.iter().any(|s| s.status == StepStatus::Ran) {
        // The build's blobs and action entries become durable before its manifest.
        store.sync()?;
    }
    let finished = chrono::Utc::now();
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA.to_string(),
        id: crate::model::manifest::new_build_id(started),
        graph: graph_relative_name(&graph),
        graph_id: Some(crate::model::manifest::GraphId::of_file(&graph.file)),
        started: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished: finished.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        host: Host::current(),
        variations: options.profile.describe(),
        steps,
    };
    if options.record_manifest {
        let path = store.builds_dir().join(format!("{}.json", manifest.id));
        store.write_atomic(&path, manifest.to_json().as_bytes())?;
    }
    Ok(manifest)
}

/// Runs one step alone, without looking in the cache, its deps' outputs taken from the
/// given records (by dep name): `check` uses it to judge a step on the first build's
/// inputs and to bisect variations.
pub fn run_one(
    graph: Arc<Graph>,
    store: Arc<Store>,
    sandbox: Arc<Sandbox>,
    options: &BuildOptions,
    index: usize,
    dep_records: &[&StepRecord],
) -> StepRecord {
    let mut records: Vec<Option<StepRecord>> = vec![None; graph.steps.len()];
    for record in dep_records {
        if let Some(position) = graph.position(&record.name) {
            records[position] = Some((*record).clone());
        }
    }
    let step = &graph.steps[index];
    let deps = dep_inputs(&graph, step, &records);
    let dep_outputs = dep_trees(&graph, step, &records);
    let mut options = options.clone();
    options.use_cache = false;
    let job = StepJob {
        graph: Arc::clone(&graph),
        store,
        sandbox,
        options,
        hash_cache: Arc::new(FileHashCache::default()),
        index,
        reruns: Vec::new(),
        is_final: false,
        reran: Default::default(),
        run_slots: None,
    };
    job.run(deps, dep_outputs)
}

fn graph_relative_name(graph: &Graph) -> String {
    graph.file.file_name().map_or_else(
        || "reprobe.toml".to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
