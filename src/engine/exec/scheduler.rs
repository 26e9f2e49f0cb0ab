//! Which step runs next: a step is ready once all its deps finished, and it gets what its
//! deps' records hold (their content and derivation hashes, their output trees).

use std::collections::BTreeSet;

use super::step_job::DepRerun;
use crate::model::graph::{Graph, Step};
use crate::model::inputs::InputDep;
use crate::model::manifest::StepRecord;
use crate::model::tree::TreeEntry;

/// Tracks which steps are ready: a count of unfinished deps per step, and the ready
/// ones in topological order.
pub(super) struct Scheduler {
    pending_deps: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    ready: BTreeSet<usize>,
}

impl Scheduler {
    /// A scheduler of `graph` with nothing finished yet.
    pub(super) fn new(graph: &Graph) -> Scheduler {
        let total = graph.steps.len();
        let mut pending_deps = vec![0; total];
        let mut dependents = vec![Vec::new(); total];
        for (index, step) in graph.steps.iter().enumerate() {
            for dep in &step.deps {
                if let Some(position) = graph.position(dep) {
                    pending_deps[index] += 1;
                    dependents[position].push(index);
                }
            }
        }
        let ready = (0..total).filter(|&i| pending_deps[i] == 0).collect();
        Scheduler {
            pending_deps,
            dependents,
            ready,
        }
    }

    /// Takes the first ready step, in topological order.
    pub(super) fn next_ready(&mut self) -> Option<usize> {
        self.ready.pop_first()
    }

    /// Marks step `index` finished: its dependents with no other unfinished dep are ready.
    pub(super) fn finished(&mut self, index: usize) {
        for &child in &self.dependents[index] {
            self.pending_deps[child] -= 1;
            if self.pending_deps[child] == 0 {
                self.ready.insert(child);
            }
        }
    }

    /// Whether no step is ready.
    pub(super) fn is_idle(&self) -> bool {
        self.ready.is_empty()
    }
}

/// The first dep of `step` that has no outputs (failed, skipped or not run).
pub(super) fn failed_dep<'g>(
    graph: &Graph,
    step: &'g Step,
    records: &[Option<StepRecord>],
) -> Option<&'g str> {
    step.deps.iter().map(String::as_str).find(|dep| {
        graph
            .position(dep)
            .and_then(|p| records[p].as_ref())
            .is_none_or(|r| r.content_hash.is_none())
    })
}

fn dep_record<'r>(
    graph: &Graph,
    dep: &str,
    records: &'r [Option<StepRecord>],
) -> Option<&'r StepRecord> {
    graph.position(dep).and_then(|p| records[p].as_ref())
}

/// What the key of `step` takes from its deps' records.
pub(super) fn dep_inputs(
    graph: &Graph,
    step: &Step,
    records: &[Option<StepRecord>],
) -> Vec<InputDep> {
    step.deps
        .iter()
        .filter_map(|dep| {
            let record = dep_record(graph, dep, records)?;
            Some(InputDep {
                step: dep.clone(),
                content_hash: record.content_hash?,
                derivation_hash: record.derivation_hash?,
            })
        })
        .collect()
}

/// The output trees of `step`'s deps, placed in its work directory.
pub(super) fn dep_trees(
    graph: &Graph,
    step: &Step,
    records: &[Option<StepRecord>],
) -> Vec<TreeEntry> {
    step.deps
        .iter()
        .filter_map(|dep| dep_record(graph, dep, records))
        .flat_map(|r| r.outputs.iter().cloned())
        .collect()
}

/// The [`DepRerun`]s of a step's cached deps (steps that ran in this build just wrote
/// their blobs, so only cached ones are prepared for).
pub(super) fn cached_dep_reruns(
    graph: &Graph,
    step: &Step,
    records: &[Option<StepRecord>],
) -> Vec<DepRerun> {
    step.deps
        .iter()
        .filter_map(|dep| {
            let index = graph.position(dep)?;
            let record = records[index].as_ref().filter(|r| r.cached)?;
            let dep_step = &graph.steps[index];
            Some(DepRerun {
                index,
                content_hash: record.content_hash?,
                outputs: record.outputs.clone(),
                deps: dep_inputs(graph, dep_step, records),
                dep_outputs: dep_trees(graph, dep_step, records),
            })
        })
        .collect()
}
