//! `explain --step S`: the full input tree of one step in both builds, equal or not, so a
//! user can see what the key covers (and, for a hit that should not have happened, what
//! it does not).

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::content::command_text;
use super::walk::WalkRecord;
use crate::model::hash::InputHash;
use crate::model::manifest::StepRecord;

/// Which part of the input tree a line belongs to, in the walk's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// The command.
    Command,
    /// An environment variable.
    Env,
    /// A declared input file.
    File,
    /// A tool.
    Tool,
    /// A dep's output, by content hash.
    Dep,
    /// A fixed-output step's declared hash.
    FixedOutput,
}

/// One line of the tree, with its value in each build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeLine {
    /// The part of the tree.
    pub section: Section,
    /// The name: variable, path, tool, dep step (empty for the command).
    pub key: String,
    /// The value in OLD (absent when not there).
    pub old: Option<String>,
    /// The value in NEW.
    pub new: Option<String>,
    /// Whether both builds hold the same value.
    pub same: bool,
}

/// The input tree of one step in both builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepTree {
    /// The step.
    pub step: String,
    /// Its key in OLD.
    pub old_input_hash: Option<InputHash>,
    /// Its key in NEW.
    pub new_input_hash: Option<InputHash>,
    /// Every field the key covers: sections in the walk's order, keys sorted in each.
    pub lines: Vec<TreeLine>,
    /// What the key does not cover.
    pub not_covered: Vec<String>,
    /// Undeclared reads and network attempts the sandbox saw (either build).
    pub findings: Vec<String>,
}

/// Builds the tree of `step` from its records in OLD and NEW (either may be absent).
pub fn step_tree(step: &str, old: Option<&StepRecord>, new: Option<&StepRecord>) -> StepTree {
    let walk = |r: Option<&StepRecord>| r.and_then(|r| r.inputs.as_ref()).map(WalkRecord::of);
    let (a, b) = (walk(old), walk(new));
    let (a_lines, b_lines) = (lines_of(a.as_ref()), lines_of(b.as_ref()));
    let fixed = b
        .as_ref()
        .or(a.as_ref())
        .is_some_and(|w| w.fixed_output.is_some());
    StepTree {
        step: step.to_string(),
        old_input_hash: old.and_then(|r| r.input_hash),
        new_input_hash: new.and_then(|r| r.input_hash),
        lines: pair_lines(a_lines, b_lines),
        not_covered: not_covered(fixed),
        findings: findings(old, new),
    }
}

type Keyed = Vec<((Section, String), String)>;

fn lines_of(walk: Option<&WalkRecord>) -> Keyed {
    let Some(w) = walk else {
        return Vec::new();
    };
    let mut out: Keyed = Vec::new();
    if let Some(c) = &w.command {
        out.push(((Section::Command, String::new()), command_text(c)));
    }
    for (k, v) in &w.env {
        out.push(((Section::Env, k.clone()), v.clone()));
    }
    for (p, f) in &w.files {
        let x = if f.executable { ", executable" } else { "" };
        out.push((
            (Section::File, p.clone()),
            format!("{} ({} bytes{x})", f.sha256, f.size),
        ));
    }
    for t in &w.tools {
        out.push((
            (Section::Tool, t.name.clone()),
            format!("{} {}", t.path, t.sha256),
        ));
    }
    for (d, h) in &w.deps {
        out.push(((Section::Dep, d.clone()), format!("content {h}")));
    }
    if let Some(h) = &w.fixed_output {
        out.push(((Section::FixedOutput, String::new()), h.to_string()));
    }
    out
}

/// Joins both sides by (section, key): sections in the walk's order, and within each the
/// keys sorted (variables, paths, tool and dep names), whichever build they are in.
fn pair_lines(a: Keyed, b: Keyed) -> Vec<TreeLine> {
    let keys: BTreeSet<(Section, String)> = a
        .iter()
        .chain(b.iter())
        .map(|(key, _)| key.clone())
        .collect();
    let a: HashMap<(Section, String), String> = a.into_iter().collect();
    let b: HashMap<(Section, String), String> = b.into_iter().collect();
    keys.into_iter()
        .map(|key| {
            let (old, new) = (a.get(&key).cloned(), b.get(&key).cloned());
            TreeLine {
                same: old == new,
                section: key.0,
                key: key.1,
                old,
                new,
            }
        })
        .collect()
}

fn not_covered(fixed_output: bool) -> Vec<String> {
    let mut out = Vec::new();
    if fixed_output {
        out.push("a fixed-output step is keyed by its declared sha256 alone: its command, files and env are not in the key".into());
    }
    out.extend([
        "files the step reads but does not declare in `inputs` (the sandbox hides the project; see the findings)".to_string(),
        "programs it runs that are not listed in `tools` (their bytes are not hashed; only PATH is)".to_string(),
        "the kernel, the CPU and anything else of the host outside the sandbox".to_string(),
        "how a dep's output was made: a dep enters the key only by the content hash of its output".to_string(),
    ]);
    out
}

fn findings(old: Option<&StepRecord>, new: Option<&StepRecord>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for (side, record) in [("old", old), ("new", new)] {
        let Some(r) = record else { continue };
        for path in &r.findings.undeclared {
            out.insert(format!("{side}: read undeclared {path}"));
        }
        for n in &r.findings.network {
            out.insert(format!(
                "{side}: network {} {}:{}",
                n.family, n.address, n.port
            ));
        }
    }
    out.into_iter().collect()
}
