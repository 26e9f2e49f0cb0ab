//! Caching models and early cutoff: what an OLD -> NEW change would rebuild under each
//! way of keying a cache, from the recorded keys and durations.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

/// A way of keying a build cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CachingModel {
    /// Nix derivations: a step's key holds its deps' keys, so a change anywhere upstream
    /// rebuilds everything below it.
    InputAddressing,
    /// BuildKit and Dockerfiles: steps in one linear order, each keyed by the one before;
    /// the first miss invalidates every later step.
    LayerChain,
    /// Bazel, Nix content-addressed derivations, and reprobe: a step's key holds its deps'
    /// output content, so a step that re-runs to identical output stops the cascade.
    ContentAddressing,
}

impl CachingModel {
    /// The name shown to people.
    pub fn title(self) -> &'static str {
        match self {
            CachingModel::InputAddressing => "input addressing",
            CachingModel::LayerChain => "layer chain",
            CachingModel::ContentAddressing => "content addressing with early cutoff",
        }
    }

    /// Who uses it.
    pub fn used_by(self) -> &'static str {
        match self {
            CachingModel::InputAddressing => "Nix derivations",
            CachingModel::LayerChain => "BuildKit, Dockerfile",
            CachingModel::ContentAddressing => "Bazel, Nix CA derivations, reprobe",
        }
    }
}

/// One row of the caching-model table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelRow {
    /// The model.
    pub model: CachingModel,
    /// Its name for people.
    pub title: &'static str,
    /// Who uses it.
    pub used_by: &'static str,
    /// Steps of NEW that would rebuild.
    pub steps: usize,
    /// Steps in NEW.
    pub total_steps: usize,
    /// Their recorded run time, in milliseconds.
    pub time_ms: u64,
    /// Whether this is the model reprobe caches by.
    pub reprobe: bool,
}

/// What the models need to know of one step of NEW, in NEW's (topological) order.
#[derive(Debug, Clone)]
pub struct ModelStep {
    /// Its derivation hash differs from OLD's (or it is new).
    pub derivation_changed: bool,
    /// Its input hash differs from OLD's (or it is new).
    pub input_changed: bool,
    /// Its recorded run time.
    pub duration_ms: u64,
}

/// The table: input addressing, layer chain, content addressing with early cutoff.
pub fn model_rows(steps: &[ModelStep]) -> Vec<ModelRow> {
    let total = steps.len();
    let first_miss = steps
        .iter()
        .position(|s| s.derivation_changed)
        .unwrap_or(total);
    let rebuild_sets: [(CachingModel, Vec<bool>); 3] = [
        (
            CachingModel::InputAddressing,
            steps.iter().map(|s| s.derivation_changed).collect(),
        ),
        (
            CachingModel::LayerChain,
            (0..total).map(|i| i >= first_miss).collect(),
        ),
        (
            CachingModel::ContentAddressing,
            steps.iter().map(|s| s.input_changed).collect(),
        ),
    ];
    rebuild_sets
        .into_iter()
        .map(|(model, rebuilt)| {
            let (count, time_ms) = steps
                .iter()
                .zip(&rebuilt)
                .filter(|(_, r)| **r)
                .fold((0, 0), |(n, t), (s, _)| (n + 1, t + s.duration_ms));
            ModelRow {
                model,
                title: model.title(),
                used_by: model.used_by(),
                steps: count,
                total_steps: total,
                time_ms,
                reprobe: model == CachingModel::ContentAddressing,
            }
        })
        .collect()
}

/// The dependency edges of NEW, by step index: `deps[i]` are the steps `i` reads.
#[derive(Debug, Clone, Default)]
pub struct DepGraph {
    /// Deps of each step.
    pub deps: Vec<Vec<usize>>,
}

impl DepGraph {
    /// Builds the edges from each step's dep names (unknown names are ignored).
    pub fn new(names: &[&str], deps_of: impl Fn(usize) -> Vec<String>) -> DepGraph {
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let deps = (0..names.len())
            .map(|i| {
                deps_of(i)
                    .iter()
                    .filter_map(|d| index.get(d.as_str()).copied())
                    .collect()
            })
            .collect();
        DepGraph { deps }
    }

    /// A topological order (deps first); steps left in a cycle come last, in index order.
    pub fn topological_order(&self) -> Vec<usize> {
        let n = self.deps.len();
        let dependents = self.dependents();
        let mut pending: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut ready: VecDeque<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        let mut placed = vec![false; n];
        while let Some(i) = ready.pop_front() {
            order.push(i);
            placed[i] = true;
            for &d in &dependents[i] {
                pending[d] -= 1;
                if pending[d] == 0 {
                    ready.push_back(d);
                }
            }
        }
        order.extend((0..n).filter(|&i| !placed[i]));
        order
    }

    /// The reverse edges: `dependents()[i]` are the steps that read `i`.
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.deps.len()];
        for (i, deps) in self.deps.iter().enumerate() {
            for &d in deps {
                out[d].push(i);
            }
        }
        out
    }
}

/// Steps saved by one early cutoff: the unchanged steps reachable from `start` through
/// unchanged steps only (each would have rebuilt had `start`'s output changed).
pub fn saved_by_cutoff(start: usize, dependents: &[Vec<usize>], changed: &[bool]) -> Vec<usize> {
    let mut seen = vec![false; changed.len()];
    let mut queue: VecDeque<usize> = VecDeque::from([start]);
    let mut saved = Vec::new();
    while let Some(i) = queue.pop_front() {
        for &d in &dependents[i] {
            if !seen[d] && !changed[d] {
                seen[d] = true;
                saved.push(d);
                queue.push_back(d);
            }
        }
    }
    saved.sort_unstable();
    saved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(derivation_changed: bool, input_changed: bool, ms: u64) -> ModelStep {
        ModelStep {
            derivation_changed,
            input_changed,
            duration_ms: ms,
        }
    }

    #[test]
    fn early_cutoff_rebuilds_least_and_the_layer_chain_most() {
        // a (changed, cutoff) -> b, c; d independent but after a in the chain.
        let steps = [
            step(false, false, 5),
            step(true, true, 10),
            step(true, false, 20),
            step(true, false, 30),
            step(false, false, 40),
        ];
        let rows = model_rows(&steps);
        let counts: Vec<(usize, u64)> = rows.iter().map(|r| (r.steps, r.time_ms)).collect();
        assert_eq!(counts, vec![(3, 60), (4, 100), (1, 10)]);
        assert!(rows[2].reprobe && !rows[0].reprobe);
    }

    #[test]
    fn cutoff_saves_unchanged_dependents_transitively() {
        let graph = DepGraph::new(&["a", "b", "c", "d"], |i| match i {
            1 => vec!["a".into()],
            2 => vec!["b".into()],
            3 => vec!["a".into()],
            _ => vec![],
        });
        let changed = [true, false, false, true];
        assert_eq!(
            saved_by_cutoff(0, &graph.dependents(), &changed),
            vec![1, 2]
        );
        assert_eq!(graph.topological_order(), vec![0, 1, 3, 2]);
    }
}
