//! `reprobe explain`: why steps of NEW missed the cache of OLD.
//!
//! For every step whose input hash changed, the exact change of its input tree (files,
//! executable bits, env, command, tools, deps), read from the walks recorded in the two
//! manifests by the same [`crate::model::inputs::walk`] that computes the key, so the
//! explanation cannot disagree with the key. Steps whose own inputs changed are root
//! causes; steps that missed only because a dep's output changed are cascades, folded
//! under the root causes they follow from. A step that re-ran to identical output is an
//! early cutoff. Finally, the same change is priced under three caching models.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::model::hash::{ContentHash, InputHash};
use crate::model::manifest::{Manifest, StepRecord, StepStatus};

pub(crate) mod changes;
pub mod content;
pub mod history;
pub(crate) mod models;
pub(crate) mod step_tree;
pub(crate) mod walk;

use changes::{diff_walks, InputChange};
use content::{plural, BlobSource, ContentDiffer};
use models::{model_rows, saved_by_cutoff, DepGraph, ModelRow, ModelStep};
use step_tree::{step_tree, StepTree};
use walk::WalkRecord;

use crate::engine::REPORT_SCHEMA;

/// Options of one explanation.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// Show the full input tree of this step in both builds.
    pub step: Option<String>,
    /// Most lines kept of each unified diff of an input file.
    pub max_diff_lines: usize,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        ExplainOptions {
            step: None,
            max_diff_lines: 40,
        }
    }
}

/// Errors of an explanation (finding the builds is [`history::HistoryError`]).
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// `--step` names a step in neither build.
    #[error("no step `{step}` in either build; steps of NEW: {known}")]
    UnknownStep {
        /// The name given.
        step: String,
        /// Some names that exist.
        known: String,
    },
}

/// One side of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct BuildRef {
    /// The build id.
    pub id: String,
    /// Where the manifest was read from.
    pub source: String,
    /// When the build started.
    pub started: String,
    /// The graph file name.
    pub graph: String,
}

impl BuildRef {
    /// Describes a manifest read from `source`.
    pub fn of(manifest: &Manifest, source: &str) -> BuildRef {
        BuildRef {
            id: manifest.id.clone(),
            source: source.to_string(),
            started: manifest.started.clone(),
            graph: manifest.graph.clone(),
        }
    }
}

/// A step whose own inputs changed.
#[derive(Debug, Clone, Serialize)]
pub struct RootCause {
    /// The step.
    pub step: String,
    /// What happened to it in NEW (`ran`, or `cached` from an earlier build).
    pub status: StepStatus,
    /// Its key in OLD.
    pub old_input_hash: Option<InputHash>,
    /// Its key in NEW.
    pub new_input_hash: Option<InputHash>,
    /// The change in one phrase.
    pub headline: String,
    /// Every change of its input tree (its own, and deps whose output changed).
    pub changes: Vec<InputChange>,
    /// It produced the same output as in OLD: an early cutoff.
    pub output_unchanged: bool,
    /// How many cascades follow from it.
    pub cascade_count: usize,
}

/// A step that missed only because a dep's output changed.
#[derive(Debug, Clone, Serialize)]
pub struct Cascade {
    /// The step.
    pub step: String,
    /// What happened to it in NEW.
    pub status: StepStatus,
    /// The deps whose content changed (all [`InputChange::DepContent`]).
    pub deps_changed: Vec<InputChange>,
    /// The root causes (or nondeterministic steps) it follows from, sorted.
    pub caused_by: Vec<String>,
    /// It produced the same output as in OLD: an early cutoff.
    pub output_unchanged: bool,
}

/// A step with the same key in both builds but different output.
#[derive(Debug, Clone, Serialize)]
pub struct Nondeterministic {
    /// The step.
    pub step: String,
    /// Its (equal) key.
    pub input_hash: Option<InputHash>,
    /// Output in OLD.
    pub old_content_hash: ContentHash,
    /// Output in NEW.
    pub new_content_hash: ContentHash,
    /// How many cascades follow from it.
    pub cascade_count: usize,
}

/// A step that re-ran with new inputs and produced identical output.
#[derive(Debug, Clone, Serialize)]
pub struct Cutoff {
    /// The step.
    pub step: String,
    /// How many downstream rebuilds it saved.
    pub saved: usize,
    /// Which steps (sorted).
    pub saved_steps: Vec<String>,
}

/// Steps that actually ran in NEW.
#[derive(Debug, Clone, Serialize)]
pub struct RanRow {
    /// How many.
    pub steps: usize,
    /// Their run time, in milliseconds.
    pub time_ms: u64,
}

/// The result of `explain` (`reprobe/report/1`, command `explain`).
#[derive(Debug, Clone, Serialize)]
pub struct ExplainReport {
    /// Always [`REPORT_SCHEMA`].
    pub schema: &'static str,
    /// Always `explain`.
    pub command: &'static str,
    /// The older build.
    pub old: BuildRef,
    /// The newer build.
    pub new: BuildRef,
    /// Root causes first, then what followed, as sentences.
    pub summary: Vec<String>,
    /// Steps whose own inputs changed, by name.
    pub root_causes: Vec<RootCause>,
    /// Steps that followed from a dep's changed output, by name.
    pub cascades: Vec<Cascade>,
    /// Steps with an unchanged key and a changed output, by name.
    pub nondeterministic: Vec<Nondeterministic>,
    /// Early cutoffs, by name.
    pub early_cutoff: Vec<Cutoff>,
    /// Downstream rebuilds saved by all early cutoffs together.
    pub saved_by_cutoff: usize,
    /// Steps only in NEW.
    pub added_steps: Vec<String>,
    /// Steps only in OLD.
    pub removed_steps: Vec<String>,
    /// Steps of NEW whose key did not change.
    pub unchanged_steps: usize,
    /// What this change costs under each caching model.
    pub models: Vec<ModelRow>,
    /// The model reprobe uses, and why.
    pub reprobe_model: String,
    /// What actually ran in NEW (differs from the content-addressing row when the cache
    /// was bypassed or had lost entries).
    pub ran: RanRow,
    /// Steps of NEW that ran although their key did not change: their cache entry was
    /// missing, evicted or corrupt, recorded with less observation than NEW asked for,
    /// or the cache was bypassed (`--no-cache`). By name.
    pub reran_unchanged: Vec<String>,
    /// The full input tree asked for with `--step`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<StepTree>,
}

impl ExplainReport {
    /// Whether nothing changed between the builds.
    pub fn is_empty(&self) -> bool {
        self.root_causes.is_empty()
            && self.cascades.is_empty()
            && self.nondeterministic.is_empty()
            && self.added_steps.is_empty()
            && self.removed_steps.is_empty()
    }

    /// The cascades of every origin, indexed in one pass over the cascades (looking them
    /// up origin by origin would scan every cascade once per origin).
    pub(crate) fn cascade_index(&self) -> CascadeIndex<'_> {
        let mut by_origin: HashMap<&str, Vec<&Cascade>> = HashMap::new();
        for cascade in &self.cascades {
            for origin in &cascade.caused_by {
                by_origin.entry(origin.as_str()).or_default().push(cascade);
            }
        }
        CascadeIndex { by_origin }
    }
}

/// The cascades that follow from each origin (a root cause, nondeterministic or added
/// step), by name: see [`ExplainReport::cascade_index`].
#[derive(Debug)]
pub(crate) struct CascadeIndex<'r> {
    by_origin: HashMap<&'r str, Vec<&'r Cascade>>,
}

impl<'r> CascadeIndex<'r> {
    /// The cascades that follow from `origin`, sorted by name.
    pub fn of(&self, origin: &str) -> &[&'r Cascade] {
        self.by_origin.get(origin).map_or(&[], Vec::as_slice)
    }
}

/// How one step of NEW compares with OLD.
#[derive(Debug, Clone)]
enum Class {
    Unchanged,
    Added,
    Root(Vec<InputChange>),
    Cascade(Vec<InputChange>),
    Nondeterministic(ContentHash, ContentHash),
}

/// One step of NEW, classified.
struct Analysed<'m> {
    new: &'m StepRecord,
    old: Option<&'m StepRecord>,
    class: Class,
}

impl Analysed<'_> {
    fn input_changed(&self) -> bool {
        matches!(
            self.class,
            Class::Added | Class::Root(_) | Class::Cascade(_)
        )
    }

    fn is_origin(&self) -> bool {
        matches!(
            self.class,
            Class::Added | Class::Root(_) | Class::Nondeterministic(..)
        )
    }

    fn output_unchanged(&self) -> bool {
        match (self.old.and_then(|o| o.content_hash), self.new.content_hash) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

/// Explains why the steps of `new` missed the cache of `old`.
pub fn explain(
    old: &BuildRef,
    old_manifest: &Manifest,
    new: &BuildRef,
    new_manifest: &Manifest,
    blobs: &BlobSource,
    options: &ExplainOptions,
) -> Result<ExplainReport, ExplainError> {
    let step = requested_tree(old_manifest, new_manifest, options)?;
    let differ = ContentDiffer::new(blobs, options.max_diff_lines);
    let steps = analyse(old_manifest, new_manifest, &differ);
    let graph = dep_graph(&steps);
    let origins = origins(&steps, &graph);
    let mut report = ExplainReport {
        schema: REPORT_SCHEMA,
        command: "explain",
        old: old.clone(),
        new: new.clone(),
        summary: Vec::new(),
        root_causes: root_causes(&steps, &origins),
        cascades: cascades(&steps, &origins),
        nondeterministic: nondeterministic(&steps, &origins),
        early_cutoff: Vec::new(),
        saved_by_cutoff: 0,
        added_steps: added(&steps),
        removed_steps: removed(old_manifest, new_manifest),
        unchanged_steps: steps.iter().filter(|s| !s.input_changed()).count(),
        models: model_rows(&model_steps(&steps)),
        reprobe_model: REPROBE_MODEL.into(),
        ran: ran(new_manifest),
        reran_unchanged: reran_unchanged(&steps),
        step,
    };
    (report.early_cutoff, report.saved_by_cutoff) = early_cutoffs(&steps, &graph);
    report.summary = summary(&report, new_manifest.steps.len());
    Ok(report)
}

/// Which model reprobe caches by, and why.
pub(crate) const REPROBE_MODEL: &str = "reprobe uses content addressing with early cutoff: a dep enters a step's input hash by the content hash of its output, so a step that re-runs to identical output stops the cascade";

fn requested_tree(
    old: &Manifest,
    new: &Manifest,
    options: &ExplainOptions,
) -> Result<Option<StepTree>, ExplainError> {
    let Some(name) = &options.step else {
        return Ok(None);
    };
    let (a, b) = (old.step(name), new.step(name));
    if a.is_none() && b.is_none() {
        let known: Vec<&str> = new.steps.iter().take(10).map(|s| s.name.as_str()).collect();
        return Err(ExplainError::UnknownStep {
            step: name.clone(),
            known: known.join(", "),
        });
    }
    Ok(Some(step_tree(name, a, b)))
}

/// Classifies every step of NEW (in parallel: only changed steps cost anything).
fn analyse<'m>(old: &'m Manifest, new: &'m Manifest, differ: &ContentDiffer) -> Vec<Analysed<'m>> {
    let by_name: HashMap<&str, &StepRecord> =
        old.steps.iter().map(|s| (s.name.as_str(), s)).collect();
    new.steps
        .par_iter()
        .map(|step| {
            let prior = by_name.get(step.name.as_str()).copied();
            Analysed {
                new: step,
                old: prior,
                class: classify(prior, step, differ),
            }
        })
        .collect()
}

fn classify(old: Option<&StepRecord>, new: &StepRecord, differ: &ContentDiffer) -> Class {
    let Some(old) = old else {
        return Class::Added;
    };
    if old.input_hash == new.input_hash {
        return match (old.content_hash, new.content_hash) {
            (Some(a), Some(b)) if a != b => Class::Nondeterministic(a, b),
            _ => Class::Unchanged,
        };
    }
    let changes = input_changes(old, new, differ);
    if changes.iter().any(InputChange::is_own) {
        Class::Root(changes)
    } else {
        Class::Cascade(changes)
    }
}

fn input_changes(old: &StepRecord, new: &StepRecord, differ: &ContentDiffer) -> Vec<InputChange> {
    let side = |s: &str| vec![InputChange::InputsNotRecorded { side: s.into() }];
    match (&old.inputs, &new.inputs) {
        (Some(a), Some(b)) => {
            let changes = diff_walks(&WalkRecord::of(a), &WalkRecord::of(b), differ);
            if changes.is_empty() {
                vec![InputChange::Unexplained]
            } else {
                changes
            }
        }
        (None, _) => side("old"),
        (_, None) => side("new"),
    }
}

fn dep_graph(steps: &[Analysed]) -> DepGraph {
    let names: Vec<&str> = steps.iter().map(|s| s.new.name.as_str()).collect();
    DepGraph::new(&names, |i| {
        steps[i]
            .new
            .inputs
            .as_ref()
            .map(|inputs| inputs.deps.iter().map(|d| d.step.clone()).collect())
            .unwrap_or_default()
    })
}

/// For each step, the origins (root causes, added or nondeterministic steps) it follows
/// from, by index; computed deps first.
fn origins(steps: &[Analysed], graph: &DepGraph) -> Vec<BTreeSet<usize>> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.new.name.as_str(), i))
        .collect();
    let mut origins: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); steps.len()];
    for i in graph.topological_order() {
        origins[i] = match &steps[i].class {
            _ if steps[i].is_origin() => BTreeSet::from([i]),
            Class::Cascade(changes) => changed_dep_names(changes)
                .filter_map(|d| index.get(d).copied())
                .flat_map(|d| origins[d].clone())
                .collect(),
            _ => BTreeSet::new(),
        };
    }
    origins
}

fn changed_dep_names(changes: &[InputChange]) -> impl Iterator<Item = &str> {
    changes.iter().filter_map(|c| match c {
        InputChange::DepContent { step, .. } => Some(step.as_str()),
        _ => None,
    })
}

/// How many cascades follow from each origin.
fn cascade_counts(steps: &[Analysed], origins: &[BTreeSet<usize>]) -> Vec<usize> {
    let mut counts = vec![0; steps.len()];
    for (i, step) in steps.iter().enumerate() {
        if matches!(step.class, Class::Cascade(_)) {
            for &o in &origins[i] {
                counts[o] += 1;
            }
        }
    }
    counts
}

fn root_causes(steps: &[Analysed], origins: &[BTreeSet<usize>]) -> Vec<RootCause> {
    let counts = cascade_counts(steps, origins);
    let mut out: Vec<RootCause> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.class {
            Class::Root(changes) => Some(RootCause {
                step: s.new.name.clone(),
                status: s.new.status,
                old_input_hash: s.old.and_then(|o| o.input_hash),
                new_input_hash: s.new.input_hash,
                headline: headline(changes),
                changes: changes.clone(),
                output_unchanged: s.output_unchanged(),
                cascade_count: counts[i],
            }),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| a.step.cmp(&b.step));
    out
}

/// A step's own changes in one phrase: `src/a.h changed (1 line) and env X was added`.
pub(crate) fn headline(changes: &[InputChange]) -> String {
    let own: Vec<String> = changes
        .iter()
        .filter(|c| c.is_own())
        .map(InputChange::headline)
        .collect();
    match own.as_slice() {
        [] => "its deps' outputs changed".into(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [a, b, rest @ ..] => format!("{a}, {b} and {} more", plural(rest.len(), "change")),
    }
}

fn cascades(steps: &[Analysed], origins: &[BTreeSet<usize>]) -> Vec<Cascade> {
    let mut out: Vec<Cascade> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.class {
            Class::Cascade(changes) => {
                let mut caused_by: Vec<String> = origins[i]
                    .iter()
                    .map(|&o| steps[o].new.name.clone())
                    .collect();
                caused_by.sort();
                Some(Cascade {
                    step: s.new.name.clone(),
                    status: s.new.status,
                    deps_changed: changes.clone(),
                    caused_by,
                    output_unchanged: s.output_unchanged(),
                })
            }
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| a.step.cmp(&b.step));
    out
}

fn nondeterministic(steps: &[Analysed], origins: &[BTreeSet<usize>]) -> Vec<Nondeterministic> {
    let counts = cascade_counts(steps, origins);
    let mut out: Vec<Nondeterministic> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.class {
            Class::Nondeterministic(a, b) => Some(Nondeterministic {
                step: s.new.name.clone(),
                input_hash: s.new.input_hash,
                old_content_hash: a,
                new_content_hash: b,
                cascade_count: counts[i],
            }),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| a.step.cmp(&b.step));
    out
}

fn added(steps: &[Analysed]) -> Vec<String> {
    let mut out: Vec<String> = steps
        .iter()
        .filter(|s| matches!(s.class, Class::Added))
        .map(|s| s.new.name.clone())
        .collect();
    out.sort();
    out
}

fn removed(old: &Manifest, new: &Manifest) -> Vec<String> {
    let present: BTreeSet<&str> = new.steps.iter().map(|s| s.name.as_str()).collect();
    let mut out: Vec<String> = old
        .steps
        .iter()
        .filter(|s| !present.contains(s.name.as_str()))
        .map(|s| s.name.clone())
        .collect();
    out.sort();
    out
}

fn model_steps(steps: &[Analysed]) -> Vec<ModelStep> {
    steps
        .iter()
        .map(|s| ModelStep {
            derivation_changed: s
                .old
                .is_none_or(|o| o.derivation_hash != s.new.derivation_hash),
            input_changed: s.input_changed(),
            duration_ms: s.new.duration_ms,
        })
        .collect()
}

fn ran(new: &Manifest) -> RanRow {
    let ran = new.steps.iter().filter(|s| s.status == StepStatus::Ran);
    let (steps, time_ms) = ran.fold((0, 0), |(n, t), s| (n + 1, t + s.duration_ms));
    RanRow { steps, time_ms }
}

/// Steps that ran in NEW with the key they had in OLD, sorted by name.
fn reran_unchanged(steps: &[Analysed]) -> Vec<String> {
    let mut names: Vec<String> = steps
        .iter()
        .filter(|s| matches!(s.class, Class::Unchanged | Class::Nondeterministic(..)))
        .filter(|s| s.new.status == StepStatus::Ran)
        .map(|s| s.new.name.clone())
        .collect();
    names.sort();
    names
}

/// Steps with a new key and the old output, and the rebuilds each saved.
fn early_cutoffs(steps: &[Analysed], graph: &DepGraph) -> (Vec<Cutoff>, usize) {
    let changed: Vec<bool> = steps.iter().map(Analysed::input_changed).collect();
    let dependents = graph.dependents();
    let mut all_saved = BTreeSet::new();
    let mut out: Vec<Cutoff> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.input_changed() && s.output_unchanged())
        .map(|(i, s)| {
            let saved = saved_by_cutoff(i, &dependents, &changed);
            all_saved.extend(saved.iter().copied());
            let mut saved_steps: Vec<String> =
                saved.iter().map(|&d| steps[d].new.name.clone()).collect();
            saved_steps.sort();
            Cutoff {
                step: s.new.name.clone(),
                saved: saved.len(),
                saved_steps,
            }
        })
        .collect();
    out.sort_by(|a, b| a.step.cmp(&b.step));
    (out, all_saved.len())
}

/// "2 steps ran again with unchanged inputs: …", when some did.
fn reran_line(report: &ExplainReport) -> Option<String> {
    let names = &report.reran_unchanged;
    (!names.is_empty()).then(|| {
        format!(
            "{} ran again with unchanged inputs (no usable cache entry: missing, evicted or corrupt, recorded with less observation than this build asked for, or --no-cache): {}",
            plural(names.len(), "step"),
            names.join(", ")
        )
    })
}

/// The summary: root causes first (grouped by what changed), then nondeterministic
/// steps, new and removed steps, and early cutoffs.
fn summary(report: &ExplainReport, total: usize) -> Vec<String> {
    if report.is_empty() {
        let mut lines = vec![format!(
            "nothing to explain: all {} have the same input hash in both builds",
            plural(total, "step")
        )];
        lines.extend(reran_line(report));
        return lines;
    }
    let mut lines = root_cause_lines(report);
    for n in &report.nondeterministic {
        lines.push(format!(
            "{} produced different output from the same inputs (nondeterministic: run `reprobe check`){}",
            n.step,
            followed(n.cascade_count)
        ));
    }
    if !report.added_steps.is_empty() {
        lines.push(format!(
            "{} new: {}",
            plural(report.added_steps.len(), "step is").replace("steps is", "steps are"),
            names(&report.added_steps)
        ));
    }
    if !report.removed_steps.is_empty() {
        lines.push(format!(
            "{} removed: {}",
            plural(report.removed_steps.len(), "step was").replace("steps was", "steps were"),
            names(&report.removed_steps)
        ));
    }
    lines.extend(cutoff_line(report));
    lines.extend(reran_line(report));
    lines
}

fn root_cause_lines(report: &ExplainReport) -> Vec<String> {
    let index = report.cascade_index();
    let mut groups: BTreeMap<&str, Vec<&RootCause>> = BTreeMap::new();
    for root in &report.root_causes {
        groups.entry(root.headline.as_str()).or_default().push(root);
    }
    let mut groups: Vec<(&str, Vec<&RootCause>)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    groups
        .into_iter()
        .map(|(headline, roots)| {
            let following = following_any(&index, &roots);
            let ran = roots.iter().any(|r| r.status == StepStatus::Ran);
            let verb = if ran { "rebuilt" } else { "got a new key" };
            let steps: Vec<String> = roots.iter().map(|r| r.step.clone()).collect();
            format!(
                "{} ({}) {verb} because {headline}{}",
                plural(roots.len(), "step"),
                names(&steps),
                followed(following)
            )
        })
        .collect()
}

/// How many distinct cascades follow from any of `roots`.
fn following_any(index: &CascadeIndex, roots: &[&RootCause]) -> usize {
    match roots {
        [one] => index.of(&one.step).len(),
        many => many
            .iter()
            .flat_map(|r| index.of(&r.step))
            .map(|c| c.step.as_str())
            .collect::<HashSet<&str>>()
            .len(),
    }
}

fn followed(count: usize) -> String {
    match count {
        0 => String::new(),
        n => format!("; {n} more followed"),
    }
}

/// Up to three names, then a count.
fn names(list: &[String]) -> String {
    match list.len() {
        0..=3 => list.join(", "),
        n => format!("{} and {} more", list[..3].join(", "), n - 3),
    }
}

fn cutoff_line(report: &ExplainReport) -> Option<String> {
    if report.early_cutoff.is_empty() {
        return None;
    }
    let steps: Vec<String> = report.early_cutoff.iter().map(|c| c.step.clone()).collect();
    Some(format!(
        "early cutoff: {} re-ran but produced identical output ({}), which saved {}",
        plural(steps.len(), "step"),
        names(&steps),
        plural(report.saved_by_cutoff, "downstream rebuild")
    ))
}

#[cfg(test)]
pub(crate) mod tests;
