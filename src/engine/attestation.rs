//! A check's result as an in-toto statement (docs/attest.md): what `check --attest` signs.
//!
//! It joins the check report (verdicts, reasons, variations) with the first build's
//! manifest (output trees, tools) into the types of [`crate::attest`]; signing and writing
//! are the attest layer's.

use std::collections::BTreeSet;

use crate::attest::{
    NotApplied, Predicate, Sha256Digest, Statement, StepAttestation, StepReason, StepVerdict,
    Subject, Tool,
};
use crate::engine::check::{CheckReport, StepFinding, Verdict};
use crate::model::graph::Graph;
use crate::model::hash::Digest;
use crate::model::manifest::Manifest;
use crate::model::tree::EntryType;

/// The statement of a check of `graph`: the final outputs as subjects, the verdict of
/// every step as the predicate. Written for a pass and for a failure alike.
pub fn check_statement(report: &CheckReport, graph: &Graph) -> Statement {
    let mut predicate = Predicate::new(
        report.variations.clone(),
        report.steps.iter().map(step_attestation).collect(),
        tools(&report.first_build),
    );
    predicate.graph_id = report.first_build.graph_id.map(|id| digest(id.0));
    predicate.not_varied = report.not_varied.clone();
    Statement::new(subjects(&report.first_build, graph), predicate)
}

/// The regular files the final steps (those no step depends on) produced in the first
/// build, named by their path relative to the project. When there are none (every final
/// step failed), the graph file itself, so the statement still names what it is about.
fn subjects(first_build: &Manifest, graph: &Graph) -> Vec<Subject> {
    let used: BTreeSet<&str> = graph
        .steps
        .iter()
        .flat_map(|s| s.deps.iter().map(String::as_str))
        .collect();
    let outputs: Vec<Subject> = first_build
        .steps
        .iter()
        .filter(|step| !used.contains(step.name.as_str()))
        .flat_map(|step| &step.outputs)
        .filter(|entry| entry.kind == EntryType::File)
        .filter_map(|entry| Some(Subject::new(entry.path.clone(), digest(entry.sha256?.0))))
        .collect();
    if !outputs.is_empty() {
        return outputs;
    }
    let name = graph
        .file
        .strip_prefix(&graph.root)
        .ok()
        .filter(|rel| !rel.as_os_str().is_empty())
        .or_else(|| graph.file.file_name().map(std::path::Path::new))
        .map(|rel| rel.to_string_lossy().into_owned());
    name.and_then(|name| Subject::of_file(name, &graph.file).ok())
        .into_iter()
        .collect()
}

/// Every tool any step ran in the first build, as its input tree recorded it.
fn tools(first_build: &Manifest) -> Vec<Tool> {
    first_build
        .steps
        .iter()
        .filter_map(|step| step.inputs.as_ref())
        .flat_map(|inputs| &inputs.tools)
        .map(|tool| Tool {
            name: tool.name.clone(),
            path: tool.path.clone(),
            sha256: digest(tool.sha256.0),
        })
        .collect()
}

/// One step's finding in the attestation's words. Reasons repeated in the report (the
/// same kind, file, variation and place) are listed once.
fn step_attestation(finding: &StepFinding) -> StepAttestation {
    let mut reasons: Vec<StepReason> = Vec::new();
    for reason in &finding.reasons {
        let reason = StepReason {
            kind: reason.kind.as_str().to_string(),
            path: reason.path.clone(),
            variation: reason.variation.clone(),
            context: reason.context.clone(),
        };
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    StepAttestation {
        name: finding.name.clone(),
        input_hash: finding.input_hash.map(|h| digest(h.0)),
        content_hashes: finding.content_hashes.iter().map(|h| digest(h.0)).collect(),
        verdict: step_verdict(finding.verdict),
        reasons,
        cascade_of: finding.cascade_of.clone(),
        variations_applied: finding.variations.clone(),
        variations_not_applied: finding
            .not_applied
            .iter()
            .map(|n| NotApplied {
                variation: n.variation.clone(),
                why: n.why.clone(),
            })
            .collect(),
    }
}

/// The report's verdict as the attestation's own (a copy, so the signed schema does not
/// follow changes of the report's types).
fn step_verdict(verdict: Verdict) -> StepVerdict {
    match verdict {
        Verdict::Reproducible => StepVerdict::Reproducible,
        Verdict::Nondeterministic => StepVerdict::Nondeterministic,
        Verdict::Cascade => StepVerdict::Cascade,
        Verdict::Failed => StepVerdict::Failed,
        Verdict::Network => StepVerdict::Network,
        Verdict::Undeclared => StepVerdict::Undeclared,
    }
}

fn digest(digest: Digest) -> Sha256Digest {
    Sha256Digest(digest.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::explain::tests::{simulate, Sim};
    use crate::model::hash::FileHash;
    use crate::model::inputs::InputTool;
    use crate::model::tree::TreeEntry;

    fn entry(path: &str, kind: EntryType, content: &[u8]) -> TreeEntry {
        TreeEntry {
            path: path.to_string(),
            kind,
            mode: 0o644,
            size: content.len() as u64,
            sha256: (kind == EntryType::File).then(|| FileHash(Digest::of_bytes(content))),
            target: None,
            mtime: 0,
        }
    }

    /// `compile` feeds `link`; `docs` stands alone: the final steps are `link` and `docs`.
    fn graph(dir: &std::path::Path) -> Graph {
        let file = dir.join("reprobe.toml");
        std::fs::write(
            &file,
            "[steps.compile]\nrun = \"true\"\noutputs = [\"a.o\"]\n\
             [steps.link]\nrun = \"true\"\ndeps = [\"compile\"]\noutputs = [\"app\"]\n\
             [steps.docs]\nrun = \"true\"\noutputs = [\"man\"]\n",
        )
        .unwrap();
        Graph::load(&file).unwrap()
    }

    fn manifest() -> Manifest {
        simulate(
            &[
                Sim::new("compile", &[]),
                Sim::new("docs", &[]),
                Sim::new("link", &["compile"]),
            ],
            "1",
        )
    }

    #[test]
    fn subjects_are_the_files_of_the_final_steps() {
        let dir = tempfile::tempdir().unwrap();
        let graph = graph(dir.path());
        let mut manifest = manifest();
        let set = |m: &mut Manifest, step: &str, outputs: Vec<TreeEntry>| {
            m.steps.iter_mut().find(|s| s.name == step).unwrap().outputs = outputs;
        };
        set(
            &mut manifest,
            "compile",
            vec![entry("a.o", EntryType::File, b"o")],
        );
        set(
            &mut manifest,
            "link",
            vec![entry("app", EntryType::File, b"elf")],
        );
        set(
            &mut manifest,
            "docs",
            vec![
                entry("man", EntryType::Dir, b""),
                entry("man/app.1", EntryType::File, b".TH"),
            ],
        );
        let names: Vec<(String, Sha256Digest)> = subjects(&manifest, &graph)
            .into_iter()
            .map(|s| (s.name, s.digest.sha256))
            .collect();
        assert_eq!(
            names,
            vec![
                ("man/app.1".to_string(), Sha256Digest::of_bytes(b".TH")),
                ("app".to_string(), Sha256Digest::of_bytes(b"elf")),
            ]
        );
    }

    #[test]
    fn without_final_outputs_the_graph_file_is_the_subject() {
        let dir = tempfile::tempdir().unwrap();
        let graph = graph(dir.path());
        let found = subjects(&manifest(), &graph);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "reprobe.toml");
        let text = std::fs::read(dir.path().join("reprobe.toml")).unwrap();
        assert_eq!(found[0].digest.sha256, Sha256Digest::of_bytes(&text));
    }

    #[test]
    fn tools_come_from_every_step_s_input_tree() {
        let mut manifest = manifest();
        let gcc = InputTool {
            name: "gcc".to_string(),
            path: "/usr/bin/gcc".to_string(),
            sha256: FileHash(Digest::of_bytes(b"gcc")),
        };
        for step in &mut manifest.steps {
            step.inputs.as_mut().unwrap().tools.push(gcc.clone());
        }
        let found = tools(&manifest);
        assert_eq!(found.len(), 3, "deduplicated later, by the predicate");
        assert_eq!(found[0].sha256, Sha256Digest::of_bytes(b"gcc"));
        assert_eq!(found[0].path, "/usr/bin/gcc");
    }
}
