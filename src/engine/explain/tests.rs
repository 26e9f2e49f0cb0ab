//! Unit and property tests of `explain` on simulated builds.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::graph::Command;
use crate::model::hash::{Digest, FileHash};
use crate::model::inputs::{InputDep, InputFile, StepInputs};
use crate::model::manifest::{Host, MANIFEST_SCHEMA};

/// A step of a simulated graph.
#[derive(Debug, Clone)]
pub(crate) struct Sim {
    pub name: String,
    pub command: String,
    pub env: BTreeMap<String, String>,
    pub files: Vec<(String, Vec<u8>)>,
    pub deps: Vec<String>,
    /// The output ignores the inputs (so a rebuild yields the same content).
    pub constant_output: bool,
    /// The output changes on every build (a clock).
    pub nondeterministic_salt: Option<u64>,
}

impl Sim {
    pub fn new(name: &str, deps: &[&str]) -> Sim {
        Sim {
            name: name.into(),
            command: format!("make {name}"),
            env: BTreeMap::from([("PATH".to_string(), "/usr/bin".to_string())]),
            files: vec![(
                format!("src/{name}.c"),
                format!("int {name};\n").into_bytes(),
            )],
            deps: deps.iter().map(|d| d.to_string()).collect(),
            constant_output: false,
            nondeterministic_salt: None,
        }
    }
}

/// Simulates a build of `steps` (in topological order): real keys from the real walk.
pub(crate) fn simulate(steps: &[Sim], id: &str) -> Manifest {
    let mut records: Vec<StepRecord> = Vec::new();
    for sim in steps {
        let deps = sim
            .deps
            .iter()
            .map(|d| {
                let r = records.iter().find(|r| &r.name == d).expect("dep first");
                InputDep {
                    step: d.clone(),
                    content_hash: r.content_hash.expect("content"),
                    derivation_hash: r.derivation_hash.expect("derivation"),
                }
            })
            .collect();
        let inputs = StepInputs {
            command: Command::Shell(sim.command.clone()),
            env: sim.env.clone(),
            files: sim
                .files
                .iter()
                .map(|(p, c)| InputFile {
                    path: p.clone(),
                    executable: false,
                    sha256: FileHash(Digest::of_bytes(c)),
                    size: c.len() as u64,
                    link: None,
                })
                .collect(),
            tools: vec![],
            deps,
            fixed_output: None,
        };
        let input_hash = inputs.input_hash();
        let content = match (sim.constant_output, sim.nondeterministic_salt) {
            (_, Some(salt)) => Digest::of_bytes(format!("{}{salt}", sim.name).as_bytes()),
            (true, None) => Digest::of_bytes(sim.name.as_bytes()),
            (false, None) => Digest::of_bytes(&input_hash.0 .0),
        };
        records.push(StepRecord {
            name: sim.name.clone(),
            status: StepStatus::Ran,
            cached: false,
            cache_source: None,
            input_hash: Some(input_hash),
            derivation_hash: Some(inputs.derivation_hash()),
            content_hash: Some(ContentHash(content)),
            inputs: Some(inputs),
            outputs: vec![],
            duration_ms: 1000,
            exit: None,
            findings: Default::default(),
            error: None,
            stderr_tail: None,
            notes: Vec::new(),
        });
    }
    Manifest {
        schema: MANIFEST_SCHEMA.into(),
        id: id.into(),
        graph: "reprobe.toml".into(),
        graph_id: None,
        started: "2026-01-01T00:00:00.000Z".into(),
        finished: "2026-01-01T00:00:01.000Z".into(),
        host: Host {
            kernel: "6".into(),
            arch: "x86_64".into(),
        },
        variations: BTreeMap::new(),
        steps: records,
    }
}

fn run(old: &Manifest, new: &Manifest) -> ExplainReport {
    run_with(old, new, &ExplainOptions::default())
}

pub(crate) fn run_with(old: &Manifest, new: &Manifest, options: &ExplainOptions) -> ExplainReport {
    explain(
        &BuildRef::of(old, "old.json"),
        old,
        &BuildRef::of(new, "new.json"),
        new,
        &BlobSource::none(),
        options,
    )
    .expect("explain")
}

/// a -> b -> c, a -> d; e alone.
pub(crate) fn graph() -> Vec<Sim> {
    vec![
        Sim::new("a", &[]),
        Sim::new("b", &["a"]),
        Sim::new("c", &["b"]),
        Sim::new("d", &["a"]),
        Sim::new("e", &[]),
    ]
}

/// `m` as a second build would record it with every step a cache hit.
fn all_cached(m: &Manifest) -> Manifest {
    let mut m = m.clone();
    for step in &mut m.steps {
        step.status = StepStatus::Cached;
        step.cached = true;
    }
    m
}

#[test]
fn identical_builds_explain_nothing() {
    let m = simulate(&graph(), "1");
    let r = run(&m, &all_cached(&m));
    assert!(r.is_empty());
    assert_eq!(r.summary.len(), 1);
    assert!(
        r.summary[0].starts_with("nothing to explain"),
        "{:?}",
        r.summary
    );
    assert!(r.models.iter().all(|m| m.steps == 0));
    assert!(r.reran_unchanged.is_empty());
}

#[test]
fn steps_that_ran_again_with_unchanged_keys_are_named() {
    // No key changed, yet two steps ran (their cache entries were unusable).
    let m = simulate(&graph(), "1");
    let mut new = all_cached(&m);
    for step in new
        .steps
        .iter_mut()
        .filter(|s| s.name == "b" || s.name == "e")
    {
        step.status = StepStatus::Ran;
        step.cached = false;
    }
    let r = run(&m, &new);
    assert!(r.is_empty(), "nothing changed");
    assert_eq!(r.reran_unchanged, ["b", "e"]);
    assert_eq!(r.summary.len(), 2, "{:?}", r.summary);
    assert!(
        r.summary[1].starts_with("2 steps ran again with unchanged inputs"),
        "{:?}",
        r.summary
    );
    assert!(r.summary[1].ends_with(": b, e"), "{:?}", r.summary);
}

#[test]
fn a_changed_file_is_the_root_cause_and_its_dependents_cascade() {
    let old = simulate(&graph(), "1");
    let mut g = graph();
    g[0].files[0].1 = b"int a = 1;\n".to_vec();
    let new = simulate(&g, "2");
    let r = run(&old, &new);
    assert_eq!(r.root_causes.len(), 1);
    assert_eq!(r.root_causes[0].step, "a");
    assert_eq!(r.root_causes[0].cascade_count, 3);
    let cascades: Vec<&str> = r.cascades.iter().map(|c| c.step.as_str()).collect();
    assert_eq!(cascades, ["b", "c", "d"]);
    assert!(r.cascades.iter().all(|c| c.caused_by == ["a"]));
    assert_eq!(
        r.summary[0],
        "1 step (a) rebuilt because src/a.c changed (content not in the store); 3 more followed"
    );
}

#[test]
fn a_step_that_rebuilds_to_the_same_output_stops_the_cascade() {
    let mut g = graph();
    g[1].constant_output = true; // b
    let old = simulate(&g, "1");
    g[0].env.insert("CFLAGS".into(), "-O3".into());
    let new = simulate(&g, "2");
    let r = run(&old, &new);
    let cascades: Vec<&str> = r.cascades.iter().map(|c| c.step.as_str()).collect();
    assert_eq!(cascades, ["b", "d"]);
    assert_eq!(r.early_cutoff.len(), 1);
    assert_eq!(r.early_cutoff[0].step, "b");
    assert_eq!(r.early_cutoff[0].saved_steps, ["c"]);
    assert_eq!(r.saved_by_cutoff, 1);
    // input addressing rebuilds a, b, c, d; the chain a..e; reprobe a, b, d.
    let counts: Vec<usize> = r.models.iter().map(|m| m.steps).collect();
    assert_eq!(counts, [4, 5, 3]);
    assert!(r
        .summary
        .iter()
        .any(|l| l.starts_with("early cutoff: 1 step")));
}

#[test]
fn a_nondeterministic_step_is_not_a_root_cause_but_its_dependents_are_attributed_to_it() {
    let mut g = graph();
    g[0].nondeterministic_salt = Some(1);
    let old = simulate(&g, "1");
    g[0].nondeterministic_salt = Some(2);
    let new = simulate(&g, "2");
    let r = run(&old, &new);
    assert!(r.root_causes.is_empty());
    assert_eq!(r.nondeterministic.len(), 1);
    assert_eq!(r.nondeterministic[0].cascade_count, 3);
    assert!(r.summary[0].starts_with("a produced different output from the same inputs"));
    // Nix would not rebuild anything: the derivations are equal.
    assert_eq!(r.models[0].steps, 0);
}

#[test]
fn root_causes_sharing_a_change_are_summarised_together() {
    let mut g = graph();
    for s in &mut g {
        s.files.push(("src/util.h".into(), b"// v1\n".to_vec()));
    }
    let old = simulate(&g, "1");
    for s in &mut g {
        s.files[1].1 = b"// v2\n".to_vec();
    }
    let new = simulate(&g, "2");
    let r = run(&old, &new);
    assert_eq!(r.root_causes.len(), 5);
    assert!(r.cascades.is_empty());
    assert_eq!(
        r.summary[0],
        "5 steps (a, b, c and 2 more) rebuilt because src/util.h changed (content not in the store)"
    );
}

#[test]
fn added_and_removed_steps_are_listed() {
    let old = simulate(&graph(), "1");
    let mut g = graph();
    g.retain(|s| s.name != "e");
    g.push(Sim::new("f", &["c"]));
    let new = simulate(&g, "2");
    let r = run(&old, &new);
    assert_eq!(r.added_steps, ["f"]);
    assert_eq!(r.removed_steps, ["e"]);
    assert!(r.root_causes.is_empty());
}

#[test]
fn the_step_tree_shows_equal_inputs_too() {
    let m = simulate(&graph(), "1");
    let options = ExplainOptions {
        step: Some("b".into()),
        ..ExplainOptions::default()
    };
    let r = run_with(&m, &m, &options);
    let tree = r.step.expect("tree");
    assert!(tree.lines.iter().all(|l| l.same));
    let sections: Vec<step_tree::Section> = tree.lines.iter().map(|l| l.section).collect();
    assert_eq!(
        sections,
        [
            step_tree::Section::Command,
            step_tree::Section::Env,
            step_tree::Section::File,
            step_tree::Section::Dep
        ]
    );
    assert!(!tree.not_covered.is_empty());
}

#[test]
fn the_step_tree_sorts_keys_in_each_section_whichever_build_they_are_in() {
    let mut g = graph();
    g[1].env = ["FOO", "PATH", "BAR"]
        .into_iter()
        .map(|k| (k.to_string(), "1".to_string()))
        .collect();
    g[1].files = vec![("src/m.c".into(), b"m".to_vec())];
    let old = simulate(&g, "1");
    g[1].env.insert("BAZ".into(), "1".into());
    g[1].env.insert("ZED".into(), "1".into());
    g[1].files.push(("src/a.c".into(), b"a".to_vec()));
    g[1].files.push(("src/z.c".into(), b"z".to_vec()));
    let options = ExplainOptions {
        step: Some("b".into()),
        ..ExplainOptions::default()
    };
    let tree = run_with(&old, &simulate(&g, "2"), &options)
        .step
        .expect("tree");
    let keys = |section: step_tree::Section| -> Vec<&str> {
        tree.lines
            .iter()
            .filter(|l| l.section == section)
            .map(|l| l.key.as_str())
            .collect()
    };
    assert_eq!(
        keys(step_tree::Section::Env),
        ["BAR", "BAZ", "FOO", "PATH", "ZED"]
    );
    assert_eq!(
        keys(step_tree::Section::File),
        ["src/a.c", "src/m.c", "src/z.c"]
    );
    let added: Vec<&str> = tree
        .lines
        .iter()
        .filter(|l| l.old.is_none())
        .map(|l| l.key.as_str())
        .collect();
    assert_eq!(added, ["BAZ", "ZED", "src/a.c", "src/z.c"]);
}

#[test]
fn an_unknown_step_is_an_error_naming_it() {
    let m = simulate(&graph(), "1");
    let options = ExplainOptions {
        step: Some("nope".into()),
        ..ExplainOptions::default()
    };
    let err = explain(
        &BuildRef::of(&m, "a"),
        &m,
        &BuildRef::of(&m, "b"),
        &m,
        &BlobSource::none(),
        &options,
    )
    .unwrap_err();
    assert!(err.to_string().contains("`nope`"), "{err}");
}

#[test]
fn builds_are_matched_to_their_graph_by_id_and_older_manifests_by_file_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let here = history::GraphKey::of_file(&dir.path().join("reprobe.toml"));
    let elsewhere = history::GraphKey::of_file(&dir.path().join("sub/reprobe.toml"));
    assert_ne!(here.id, elsewhere.id);
    let mut m = simulate(&graph(), "1");
    m.graph_id = Some(here.id);
    assert!(here.matches(&m) && !elsewhere.matches(&m));
    // A manifest written before graph ids were recorded: still readable, and matched by
    // its graph file name alone.
    let mut value: serde_json::Value = serde_json::from_str(&m.to_json()).expect("json");
    value.as_object_mut().expect("object").remove("graph_id");
    let path = dir.path().join("old.json");
    std::fs::write(&path, value.to_string()).expect("write");
    for read in [history::read_manifest, history::read_outline] {
        let old = read(&path).expect("an older manifest reads");
        assert_eq!(old.graph_id, None);
        assert!(here.matches(&old) && elsewhere.matches(&old));
    }
    let other_name = history::GraphKey::of_file(&dir.path().join("other.toml"));
    assert!(!other_name.matches(&Manifest {
        graph_id: None,
        ..m
    }));
}

/// A random graph of up to 12 steps (each step's deps are earlier steps) and a random
/// set of edits.
fn arb_graph() -> impl Strategy<Value = Vec<Sim>> {
    prop::collection::vec(
        (
            prop::collection::vec(any::<prop::sample::Index>(), 0..3),
            any::<bool>(),
        ),
        1..12,
    )
    .prop_map(|specs| {
        let mut steps: Vec<Sim> = Vec::new();
        for (i, (deps, constant)) in specs.into_iter().enumerate() {
            let mut names: Vec<String> = if i == 0 {
                vec![]
            } else {
                deps.iter()
                    .map(|d| steps[d.index(i)].name.clone())
                    .collect()
            };
            names.sort();
            names.dedup();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut sim = Sim::new(&format!("s{i:02}"), &refs);
            sim.constant_output = constant;
            steps.push(sim);
        }
        steps
    })
}

fn arb_edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), 0u8..4), 0..4)
}

fn apply(steps: &mut [Sim], edits: &[(prop::sample::Index, u8)]) {
    let n = steps.len();
    for (index, kind) in edits {
        let s = &mut steps[index.index(n)];
        match kind {
            0 => s.files[0].1.extend_from_slice(b"// edit\n"),
            1 => s.command.push_str(" -v"),
            2 => {
                s.env.insert("NEW".into(), "1".into());
            }
            _ => s.files[0].0.push_str(".renamed"),
        }
    }
}

proptest! {
    #[test]
    fn explaining_a_build_against_itself_reports_nothing(g in arb_graph()) {
        let m = simulate(&g, "1");
        let r = run(&m, &m);
        prop_assert!(r.is_empty());
        prop_assert!(r.early_cutoff.is_empty());
        prop_assert!(r.models.iter().all(|m| m.steps == 0));
    }

    #[test]
    fn no_root_cause_or_cascade_has_an_unchanged_input_hash(g in arb_graph(), edits in arb_edits()) {
        let old = simulate(&g, "1");
        let mut g2 = g.clone();
        apply(&mut g2, &edits);
        let new = simulate(&g2, "2");
        let r = run(&old, &new);
        let key = |m: &Manifest, s: &str| m.step(s).and_then(|r| r.input_hash);
        for root in &r.root_causes {
            prop_assert_ne!(key(&old, &root.step), key(&new, &root.step));
            prop_assert!(root.changes.iter().any(InputChange::is_own));
        }
        for c in &r.cascades {
            prop_assert_ne!(key(&old, &c.step), key(&new, &c.step));
            prop_assert!(!c.caused_by.is_empty());
        }
        // Every step with a changed key is explained, once.
        let changed = new.steps.iter().filter(|s| key(&old, &s.name) != s.input_hash).count();
        prop_assert_eq!(changed, r.root_causes.len() + r.cascades.len());
        // Early cutoff never rebuilds more than input addressing.
        prop_assert!(r.models[2].steps <= r.models[0].steps);
    }
}
