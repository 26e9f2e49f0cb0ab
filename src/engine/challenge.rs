//! `reprobe challenge MINE THEIRS...`: compares manifests built on different machines.
//!
//! For each (step, input hash) present in several manifests, the content hashes must
//! agree: equal inputs, equal key, on any machine (docs/design.md section 3). A disagreement
//! lists the differing output files and, where the blobs of both sides are in a local
//! store, the diff engine's classification of each difference. It works offline, from
//! manifest files, like `guix challenge` for any graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::diff::{diff_paths, DiffOptions, DiffReport};
use crate::engine::explain::content::BlobSource;
use crate::model::hash::{ContentHash, FileHash, InputHash};
use crate::model::manifest::{Host, Manifest, StepRecord};
use crate::model::tree::{EntryType, TreeEntry};

use crate::engine::REPORT_SCHEMA;

/// A manifest and the name the user gave it (a path or a build id).
#[derive(Debug, Clone)]
pub struct Labelled {
    /// As given on the command line.
    pub label: String,
    /// The manifest.
    pub manifest: Manifest,
}

/// One compared manifest, as listed in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestRef {
    /// As given on the command line.
    pub label: String,
    /// The build id.
    pub id: String,
    /// The machine it was built on.
    pub host: Host,
}

/// A step whose builds agree.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    /// The step.
    pub step: String,
    /// Its key.
    pub input_hash: InputHash,
    /// The output every manifest recorded.
    pub content_hash: ContentHash,
    /// The manifests (labels) that built it.
    pub manifests: Vec<String>,
}

/// One distinct output of a disagreeing step.
#[derive(Debug, Clone, Serialize)]
pub struct OutputGroup {
    /// The output.
    pub content_hash: ContentHash,
    /// The manifests that recorded it.
    pub manifests: Vec<String>,
}

/// How one output file differs between two outputs of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChange {
    /// Only on the other side.
    Added,
    /// Only on the reference side.
    Removed,
    /// Different bytes.
    Modified,
    /// Same bytes, another executable bit.
    Mode,
    /// Another entry type or symlink target.
    Kind,
}

impl FileChange {
    /// The word used in reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            FileChange::Added => "added",
            FileChange::Removed => "removed",
            FileChange::Modified => "modified",
            FileChange::Mode => "mode",
            FileChange::Kind => "kind",
        }
    }
}

/// One differing output file.
#[derive(Debug, Clone, Serialize)]
pub struct OutputFileDiff {
    /// Path in the output tree.
    pub path: String,
    /// How it differs.
    pub change: FileChange,
    /// Its hash on the reference side.
    pub a_sha256: Option<FileHash>,
    /// Its hash on the other side.
    pub b_sha256: Option<FileHash>,
    /// The diff engine's reasons (docs/design.md section 6 words), when it could compare.
    pub reasons: Vec<String>,
}

/// The comparison of the reference output with one other output of a step.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The reference output (the first manifest's, when it built the step).
    pub a: ContentHash,
    /// The other output.
    pub b: ContentHash,
    /// Differing files, by path.
    pub files: Vec<OutputFileDiff>,
    /// The diff engine's report on the materialized files, when both sides' blobs exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<DiffReport>,
    /// Why there is no classification, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A step built from the same inputs to different outputs.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    /// The step.
    pub step: String,
    /// Its key.
    pub input_hash: InputHash,
    /// Each distinct output and who built it; the reference first.
    pub outputs: Vec<OutputGroup>,
    /// The reference against each other output.
    pub comparisons: Vec<Comparison>,
}

/// A (step, input hash) built by only one manifest: nothing to compare it with.
#[derive(Debug, Clone, Serialize)]
pub struct OnlyIn {
    /// The step.
    pub step: String,
    /// Its key.
    pub input_hash: InputHash,
    /// The manifest.
    pub manifest: String,
}

/// The result of `challenge` (`reprobe/report/1`, command `challenge`).
#[derive(Debug, Clone, Serialize)]
pub struct ChallengeReport {
    /// Always [`REPORT_SCHEMA`].
    pub schema: &'static str,
    /// Always `challenge`.
    pub command: &'static str,
    /// `reproducible` when nothing disagrees, else `nondeterministic`.
    pub verdict: &'static str,
    /// The manifests compared, mine first.
    pub manifests: Vec<ManifestRef>,
    /// Counts, as sentences.
    pub summary: Vec<String>,
    /// Steps whose outputs agree, by name.
    pub agree: Vec<Agreement>,
    /// Steps whose outputs disagree, by name.
    pub disagree: Vec<Disagreement>,
    /// Steps built from inputs no other manifest has, by name.
    pub only_in: Vec<OnlyIn>,
}

impl ChallengeReport {
    /// 1 on any disagreement, else 0.
    pub fn exit(&self) -> crate::model::error::Exit {
        if self.disagree.is_empty() {
            crate::model::error::Exit::Ok
        } else {
            crate::model::error::Exit::Findings
        }
    }
}

/// Who built one (step, input hash), and what.
type Builds<'m> = Vec<(usize, &'m StepRecord)>;

/// Compares `manifests` (mine first). Blobs for classification come from `blobs`.
pub fn challenge(manifests: &[Labelled], blobs: &BlobSource) -> ChallengeReport {
    let groups = group_by_key(manifests);
    let label = |i: usize| manifests[i].label.clone();
    let mut agree = Vec::new();
    let mut disagreeing = Vec::new();
    let mut only_in = Vec::new();
    for ((step, input_hash), builds) in &groups {
        let builders: BTreeSet<usize> = builds.iter().map(|(i, _)| *i).collect();
        if builders.len() < 2 {
            only_in.extend(builders.iter().map(|&i| OnlyIn {
                step: step.to_string(),
                input_hash: *input_hash,
                manifest: label(i),
            }));
            continue;
        }
        let outputs = output_groups(builds, &label);
        if outputs.len() == 1 {
            agree.push(Agreement {
                step: step.to_string(),
                input_hash: *input_hash,
                content_hash: outputs[0].content_hash,
                manifests: outputs[0].manifests.clone(),
            });
        } else {
            disagreeing.push((step.to_string(), *input_hash, outputs, builds));
        }
    }
    let disagree: Vec<Disagreement> = disagreeing
        .into_par_iter()
        .map(|(step, input_hash, outputs, builds)| {
            let comparisons = compare_outputs(&outputs, builds, blobs);
            Disagreement {
                step,
                input_hash,
                outputs,
                comparisons,
            }
        })
        .collect();
    let mut report = ChallengeReport {
        schema: REPORT_SCHEMA,
        command: "challenge",
        verdict: if disagree.is_empty() {
            "reproducible"
        } else {
            "nondeterministic"
        },
        manifests: manifests.iter().map(manifest_ref).collect(),
        summary: Vec::new(),
        agree,
        disagree,
        only_in,
    };
    report.summary = summary(&report);
    report
}

fn manifest_ref(m: &Labelled) -> ManifestRef {
    ManifestRef {
        label: m.label.clone(),
        id: m.manifest.id.clone(),
        host: m.manifest.host.clone(),
    }
}

/// Every built step, by (name, input hash), in name order. Steps without a key or an
/// output (failed, skipped) are left out: there is nothing to agree on.
fn group_by_key(manifests: &[Labelled]) -> BTreeMap<(&str, InputHash), Builds<'_>> {
    let mut groups: BTreeMap<(&str, InputHash), Builds> = BTreeMap::new();
    for (i, m) in manifests.iter().enumerate() {
        for step in &m.manifest.steps {
            if let (Some(key), Some(_)) = (step.input_hash, step.content_hash) {
                groups
                    .entry((step.name.as_str(), key))
                    .or_default()
                    .push((i, step));
            }
        }
    }
    groups
}

/// The distinct outputs, the reference (the lowest manifest index, i.e. mine) first.
fn output_groups(builds: &Builds, label: &dyn Fn(usize) -> String) -> Vec<OutputGroup> {
    let mut groups: Vec<(ContentHash, Vec<usize>)> = Vec::new();
    for (i, record) in builds {
        let Some(hash) = record.content_hash else {
            continue;
        };
        match groups.iter_mut().find(|(h, _)| *h == hash) {
            Some((_, who)) => who.push(*i),
            None => groups.push((hash, vec![*i])),
        }
    }
    groups.sort_by_key(|(_, who)| who.iter().min().copied());
    groups
        .into_iter()
        .map(|(content_hash, mut who)| {
            who.sort_unstable();
            who.dedup();
            OutputGroup {
                content_hash,
                manifests: who.into_iter().map(label).collect(),
            }
        })
        .collect()
}

fn compare_outputs(
    outputs: &[OutputGroup],
    builds: &Builds,
    blobs: &BlobSource,
) -> Vec<Comparison> {
    let tree_of = |hash: ContentHash| {
        builds
            .iter()
            .find(|(_, r)| r.content_hash == Some(hash))
            .map(|(_, r)| r.outputs.as_slice())
            .unwrap_or_default()
    };
    let reference = &outputs[0];
    outputs[1..]
        .iter()
        .map(|other| {
            let (a, b) = (tree_of(reference.content_hash), tree_of(other.content_hash));
            let mut comparison = Comparison {
                a: reference.content_hash,
                b: other.content_hash,
                files: diff_trees(a, b),
                diff: None,
                note: None,
            };
            classify(&mut comparison, a, b, blobs);
            comparison
        })
        .collect()
}

/// The differing entries of two output trees, by path.
pub(crate) fn diff_trees(a: &[TreeEntry], b: &[TreeEntry]) -> Vec<OutputFileDiff> {
    let by_path = |t: &[TreeEntry]| -> BTreeMap<String, TreeEntry> {
        t.iter().map(|e| (e.path.clone(), e.clone())).collect()
    };
    let (a, b) = (by_path(a), by_path(b));
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    paths
        .into_iter()
        .filter_map(|path| {
            let (x, y) = (a.get(path), b.get(path));
            let change = entry_change(x, y)?;
            Some(OutputFileDiff {
                path: path.clone(),
                change,
                a_sha256: x.and_then(|e| e.sha256),
                b_sha256: y.and_then(|e| e.sha256),
                reasons: Vec::new(),
            })
        })
        .collect()
}

fn entry_change(a: Option<&TreeEntry>, b: Option<&TreeEntry>) -> Option<FileChange> {
    match (a, b) {
        (None, Some(_)) => Some(FileChange::Added),
        (Some(_), None) => Some(FileChange::Removed),
        (Some(x), Some(y)) if x.kind != y.kind || x.target != y.target => Some(FileChange::Kind),
        (Some(x), Some(y)) if x.sha256 != y.sha256 => Some(FileChange::Modified),
        (Some(x), Some(y)) if x.executable() != y.executable() => Some(FileChange::Mode),
        _ => None,
    }
}

/// Materializes the modified files of both sides from blobs and runs the diff engine on
/// them; the reasons are attached to each file.
fn classify(comparison: &mut Comparison, a: &[TreeEntry], b: &[TreeEntry], blobs: &BlobSource) {
    let modified: Vec<&str> = comparison
        .files
        .iter()
        .filter(|f| f.change == FileChange::Modified)
        .map(|f| f.path.as_str())
        .collect();
    if modified.is_empty() {
        return;
    }
    match materialize_and_diff(&modified, a, b, blobs) {
        Ok(report) => {
            attach_reasons(&mut comparison.files, &report);
            comparison.diff = Some(report);
        }
        Err(note) => comparison.note = Some(note),
    }
}

fn materialize_and_diff(
    paths: &[&str],
    a: &[TreeEntry],
    b: &[TreeEntry],
    blobs: &BlobSource,
) -> Result<DiffReport, String> {
    let temp =
        tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let (dir_a, dir_b) = (temp.path().join("a"), temp.path().join("b"));
    for path in paths {
        materialize(path, a, &dir_a, blobs)?;
        materialize(path, b, &dir_b, blobs)?;
    }
    diff_paths(&dir_a, &dir_b, &DiffOptions::default()).map_err(|e| e.to_string())
}

fn materialize(
    path: &str,
    tree: &[TreeEntry],
    dir: &Path,
    blobs: &BlobSource,
) -> Result<(), String> {
    let entry = tree
        .iter()
        .find(|e| e.path == path && e.kind == EntryType::File)
        .ok_or_else(|| format!("{path}: not a file in the recorded tree"))?;
    let hash = entry
        .sha256
        .ok_or_else(|| format!("{path}: no hash recorded"))?;
    let Some((store, _)) = blobs.find(&hash) else {
        return Err(format!(
            "the blob of {path} ({}) is not in the local store; pass --blobs DIR with the other machine's store to classify",
            hash.short()
        ));
    };
    store
        .copy_blob(&hash, &dir.join(path), entry.mode | 0o600)
        .map_err(|e| e.to_string())
}

/// Gives each file the reason kinds of the diff items at or below its path.
fn attach_reasons(files: &mut [OutputFileDiff], report: &DiffReport) {
    for file in files.iter_mut() {
        let mut kinds: BTreeSet<String> = BTreeSet::new();
        for item in &report.items {
            let top = item.path.trim_start_matches('/');
            let top = top.split('!').next().unwrap_or(top);
            if top == file.path {
                kinds.extend(item.reasons.iter().map(|r| r.kind.as_str().to_string()));
            }
        }
        file.reasons = kinds.into_iter().collect();
    }
}

fn summary(report: &ChallengeReport) -> Vec<String> {
    use crate::engine::explain::content::plural;
    let mut lines = vec![format!(
        "{} agree across {} manifests",
        plural(report.agree.len(), "step"),
        report.manifests.len()
    )];
    if !report.disagree.is_empty() {
        let names: Vec<&str> = report.disagree.iter().map(|d| d.step.as_str()).collect();
        lines.push(format!(
            "{} DISAGREE (same inputs, different outputs): {}",
            plural(report.disagree.len(), "step"),
            names.join(", ")
        ));
    }
    if !report.only_in.is_empty() {
        // One entry per (step, input hash, manifest): a step whose inputs differ in every
        // manifest appears once per manifest, but is one step.
        let steps: BTreeSet<&str> = report.only_in.iter().map(|o| o.step.as_str()).collect();
        lines.push(format!(
            "{} built from inputs no other manifest has ({} builds in all; a step downstream of a disagreement is one): cannot be compared",
            plural(steps.len(), "step"),
            report.only_in.len()
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hash::Digest;

    fn entry(path: &str, content: &[u8], mode: u32) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryType::File,
            mode,
            size: content.len() as u64,
            sha256: Some(FileHash(Digest::of_bytes(content))),
            target: None,
            mtime: 0,
        }
    }

    fn record(name: &str, key: &[u8], outputs: Vec<TreeEntry>) -> StepRecord {
        let content = crate::model::tree::content_hash(&outputs);
        StepRecord {
            name: name.into(),
            status: crate::model::manifest::StepStatus::Ran,
            cached: false,
            cache_source: None,
            input_hash: Some(InputHash(Digest::of_bytes(key))),
            derivation_hash: None,
            content_hash: Some(content),
            inputs: None,
            outputs,
            duration_ms: 1,
            exit: None,
            findings: Default::default(),
            error: None,
            stderr_tail: None,
            notes: Vec::new(),
        }
    }

    fn manifest(label: &str, steps: Vec<StepRecord>) -> Labelled {
        Labelled {
            label: label.into(),
            manifest: Manifest {
                schema: crate::model::manifest::MANIFEST_SCHEMA.into(),
                id: label.into(),
                graph: "reprobe.toml".into(),
                graph_id: None,
                started: String::new(),
                finished: String::new(),
                host: Host {
                    kernel: "k".into(),
                    arch: "a".into(),
                },
                variations: BTreeMap::new(),
                steps,
            },
        }
    }

    #[test]
    fn equal_keys_and_outputs_agree_and_other_keys_are_only_in_one() {
        let mine = manifest(
            "mine",
            vec![
                record("a", b"1", vec![entry("a.o", b"x", 0o644)]),
                record("b", b"2", vec![]),
            ],
        );
        let theirs = manifest(
            "theirs",
            vec![
                record("a", b"1", vec![entry("a.o", b"x", 0o644)]),
                record("b", b"3", vec![]),
            ],
        );
        let r = challenge(&[mine, theirs], &BlobSource::none());
        assert_eq!(r.agree.len(), 1);
        assert!(r.disagree.is_empty());
        assert_eq!(r.only_in.len(), 2);
        assert_eq!(r.exit(), crate::model::error::Exit::Ok);
        assert_eq!(r.verdict, "reproducible");
    }

    #[test]
    fn same_key_different_output_disagrees_listing_the_files() {
        let mine = manifest(
            "mine",
            vec![record(
                "a",
                b"1",
                vec![entry("a.o", b"x", 0o644), entry("b", b"same", 0o644)],
            )],
        );
        let theirs = manifest(
            "theirs",
            vec![record(
                "a",
                b"1",
                vec![entry("a.o", b"y", 0o644), entry("b", b"same", 0o755)],
            )],
        );
        let third = manifest(
            "third",
            vec![record(
                "a",
                b"1",
                vec![entry("a.o", b"x", 0o644), entry("b", b"same", 0o644)],
            )],
        );
        let r = challenge(&[mine, theirs, third], &BlobSource::none());
        assert_eq!(r.exit(), crate::model::error::Exit::Findings);
        let d = &r.disagree[0];
        assert_eq!(d.outputs[0].manifests, ["mine", "third"]);
        assert_eq!(d.outputs[1].manifests, ["theirs"]);
        let files: Vec<(&str, &FileChange)> = d.comparisons[0]
            .files
            .iter()
            .map(|f| (f.path.as_str(), &f.change))
            .collect();
        assert_eq!(
            files,
            [("a.o", &FileChange::Modified), ("b", &FileChange::Mode)]
        );
        assert!(d.comparisons[0]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("--blobs")));
    }

    #[test]
    fn blobs_in_a_store_are_classified_by_the_diff_engine() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "built at 2026-11-25 10:00:00\n").unwrap();
        std::fs::write(&b, "built at 2031-03-03 11:00:00\n").unwrap();
        store.ingest_file(&a).unwrap();
        store.ingest_file(&b).unwrap();
        let mine = manifest(
            "mine",
            vec![record(
                "s",
                b"1",
                vec![entry("out.txt", b"built at 2026-11-25 10:00:00\n", 0o644)],
            )],
        );
        let theirs = manifest(
            "theirs",
            vec![record(
                "s",
                b"1",
                vec![entry("out.txt", b"built at 2031-03-03 11:00:00\n", 0o644)],
            )],
        );
        let r = challenge(&[mine, theirs], &BlobSource::new(vec![store]));
        let c = &r.disagree[0].comparisons[0];
        assert!(c.note.is_none(), "{:?}", c.note);
        assert_eq!(c.files[0].reasons, ["timestamp"]);
    }
}
