//! The exact change in one step's input tree between two builds, computed from the two
//! recorded walks ([`WalkRecord`]), so every change named here is a change of the key.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::content::{command_diff, command_text, ContentDiff, ContentDiffer, WordSegment};
use super::walk::WalkRecord;
use crate::model::hash::{ContentHash, Digest, FileHash};
use crate::model::inputs::{InputFile, InputTool};

/// One change in a step's input tree. Every kind but [`InputChange::DepContent`] is a
/// change of the step's own declaration (a root cause).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputChange {
    /// The command changed.
    Command {
        /// As before.
        old: String,
        /// As now.
        new: String,
        /// Word-level diff.
        words: Vec<WordSegment>,
    },
    /// A variable was added to the step's environment.
    EnvAdded {
        /// Its name.
        name: String,
        /// Its value.
        value: String,
    },
    /// A variable was removed.
    EnvRemoved {
        /// Its name.
        name: String,
        /// Its old value.
        value: String,
    },
    /// A variable's value changed.
    EnvChanged {
        /// Its name.
        name: String,
        /// Old value.
        old: String,
        /// New value.
        new: String,
    },
    /// A declared input file appeared.
    FileAdded {
        /// Its path.
        path: String,
        /// Its content hash.
        sha256: FileHash,
        /// Its size.
        size: u64,
        /// Its executable bit.
        executable: bool,
    },
    /// A declared input file is gone.
    FileRemoved {
        /// Its path.
        path: String,
        /// Its content hash.
        sha256: FileHash,
        /// Its size.
        size: u64,
        /// Its executable bit.
        executable: bool,
    },
    /// An input file moved: removed at one path, added with the same content at another.
    FileRenamed {
        /// The old path.
        from: String,
        /// The new path.
        to: String,
        /// The (unchanged) content hash.
        sha256: FileHash,
        /// Its size.
        size: u64,
    },
    /// An input file's content changed.
    FileModified {
        /// Its path.
        path: String,
        /// Old content hash.
        old_sha256: FileHash,
        /// New content hash.
        new_sha256: FileHash,
        /// Old size.
        old_size: u64,
        /// New size.
        new_size: u64,
        /// What changed inside.
        content: ContentDiff,
    },
    /// An input file's executable bit flipped.
    ExecutableBit {
        /// Its path.
        path: String,
        /// Before.
        old: bool,
        /// Now.
        new: bool,
    },
    /// A tool was added to `tools`.
    ToolAdded {
        /// Declared name.
        name: String,
        /// Resolved path.
        path: String,
        /// Its bytes' hash.
        sha256: FileHash,
    },
    /// A tool was removed from `tools`.
    ToolRemoved {
        /// Declared name.
        name: String,
        /// Resolved path.
        path: String,
        /// Its bytes' hash.
        sha256: FileHash,
    },
    /// A tool resolved elsewhere or its bytes changed.
    ToolChanged {
        /// Declared name.
        name: String,
        /// Old resolved path.
        old_path: String,
        /// New resolved path.
        new_path: String,
        /// Old hash.
        old_sha256: FileHash,
        /// New hash.
        new_sha256: FileHash,
    },
    /// The same tools in another order (the key covers their declared order).
    ToolsReordered {
        /// Old order.
        old: Vec<String>,
        /// New order.
        new: Vec<String>,
    },
    /// A dep was added to `deps`.
    DepAdded {
        /// The dep's step.
        step: String,
    },
    /// A dep was removed from `deps`.
    DepRemoved {
        /// The dep's step.
        step: String,
    },
    /// A dep produced different content: the only change of a cascade.
    DepContent {
        /// The dep's step.
        step: String,
        /// Its content hash in OLD.
        old: ContentHash,
        /// Its content hash in NEW.
        new: ContentHash,
    },
    /// A fixed-output step's declared hash changed (or the step became, or stopped
    /// being, fixed-output).
    FixedOutput {
        /// Before.
        old: Option<FileHash>,
        /// Now.
        new: Option<FileHash>,
    },
    /// One build recorded no inputs for the step (they could not be gathered).
    InputsNotRecorded {
        /// `old` or `new`.
        side: String,
    },
    /// The input hashes differ but the recorded walks are equal (a manifest written by
    /// another version of reprobe, or edited).
    Unexplained,
}

impl InputChange {
    /// Whether this is a change of the step's own inputs, not of a dep's output.
    pub fn is_own(&self) -> bool {
        !matches!(self, InputChange::DepContent { .. })
    }

    /// A short phrase for summaries: `src/util.h changed (1 line)`.
    pub fn headline(&self) -> String {
        use InputChange::*;
        match self {
            Command { .. } => "the command changed".into(),
            EnvAdded { name, value } => format!("env {name}={} was added", short(value)),
            EnvRemoved { name, .. } => format!("env {name} was removed"),
            EnvChanged { name, old, new } => {
                format!("env {name} changed ({} -> {})", short(old), short(new))
            }
            FileAdded { path, .. } => format!("input {path} was added"),
            FileRemoved { path, .. } => format!("input {path} was removed"),
            FileRenamed { from, to, .. } => format!("{from} was renamed to {to}"),
            FileModified { path, content, .. } => {
                format!("{path} changed ({})", content.phrase())
            }
            ExecutableBit { path, new, .. } => {
                let state = if *new { "set" } else { "cleared" };
                format!("the executable bit of {path} was {state}")
            }
            ToolAdded { name, .. } => format!("tool {name} was added"),
            ToolRemoved { name, .. } => format!("tool {name} was removed"),
            ToolChanged { name, .. } => format!("tool {name} changed"),
            ToolsReordered { .. } => "the tools were reordered".into(),
            DepAdded { step } => format!("dep {step} was added"),
            DepRemoved { step } => format!("dep {step} was removed"),
            DepContent { step, .. } => format!("dep {step}'s output changed"),
            FixedOutput { .. } => "the declared output hash changed".into(),
            InputsNotRecorded { side } => format!("the {side} build recorded no inputs"),
            Unexplained => "the input hash changed; the recorded inputs are equal".into(),
        }
    }
}

/// Shortens a value for a one-line summary.
fn short(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() > MAX {
        format!("{}...", value.chars().take(MAX).collect::<String>())
    } else {
        value.to_string()
    }
}

/// Every change between two recorded walks, in a stable order: command, env (by name),
/// files (by path), tools, deps (by step), fixed output.
pub fn diff_walks(old: &WalkRecord, new: &WalkRecord, differ: &ContentDiffer) -> Vec<InputChange> {
    let mut changes = Vec::new();
    diff_command(old, new, &mut changes);
    diff_env(&old.env, &new.env, &mut changes);
    diff_files(&old.files, &new.files, differ, &mut changes);
    diff_tools(&old.tools, &new.tools, &mut changes);
    diff_deps(&old.deps, &new.deps, &mut changes);
    if old.fixed_output != new.fixed_output {
        changes.push(InputChange::FixedOutput {
            old: old.fixed_output,
            new: new.fixed_output,
        });
    }
    changes
}

fn diff_command(old: &WalkRecord, new: &WalkRecord, out: &mut Vec<InputChange>) {
    if let (Some(a), Some(b)) = (&old.command, &new.command) {
        if a != b {
            out.push(InputChange::Command {
                old: command_text(a),
                new: command_text(b),
                words: command_diff(a, b),
            });
        }
    }
}

fn diff_env(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    out: &mut Vec<InputChange>,
) {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        let change = match (old.get(name), new.get(name)) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) => InputChange::EnvChanged {
                name: name.clone(),
                old: a.clone(),
                new: b.clone(),
            },
            (None, Some(v)) => InputChange::EnvAdded {
                name: name.clone(),
                value: v.clone(),
            },
            (Some(v), None) => InputChange::EnvRemoved {
                name: name.clone(),
                value: v.clone(),
            },
            (None, None) => continue,
        };
        out.push(change);
    }
}

fn diff_files(
    old: &BTreeMap<String, InputFile>,
    new: &BTreeMap<String, InputFile>,
    differ: &ContentDiffer,
    out: &mut Vec<InputChange>,
) {
    let mut removed: Vec<&InputFile> = Vec::new();
    let mut added: Vec<&InputFile> = Vec::new();
    let mut changed: Vec<InputChange> = Vec::new();
    for (path, a) in old {
        match new.get(path) {
            None => removed.push(a),
            Some(b) => modified(a, b, differ, &mut changed),
        }
    }
    added.extend(new.values().filter(|b| !old.contains_key(&b.path)));
    changed.extend(renames_and_rest(removed, added));
    changed.sort_by(|x, y| file_key(x).cmp(file_key(y)));
    out.extend(changed);
}

fn modified(a: &InputFile, b: &InputFile, differ: &ContentDiffer, out: &mut Vec<InputChange>) {
    if a.sha256 != b.sha256 {
        out.push(InputChange::FileModified {
            path: a.path.clone(),
            old_sha256: a.sha256,
            new_sha256: b.sha256,
            old_size: a.size,
            new_size: b.size,
            content: differ.diff(&a.path, &a.sha256, &b.sha256),
        });
    }
    if a.executable != b.executable {
        out.push(InputChange::ExecutableBit {
            path: a.path.clone(),
            old: a.executable,
            new: b.executable,
        });
    }
}

/// Pairs removed and added files with the same content as renames (in path order).
fn renames_and_rest(removed: Vec<&InputFile>, added: Vec<&InputFile>) -> Vec<InputChange> {
    let mut out = Vec::new();
    let mut unmatched: Vec<Option<&InputFile>> = added.into_iter().map(Some).collect();
    for a in removed {
        let partner = unmatched
            .iter_mut()
            .find(|b| b.is_some_and(|b| b.sha256 == a.sha256));
        match partner.and_then(Option::take) {
            Some(b) => out.push(InputChange::FileRenamed {
                from: a.path.clone(),
                to: b.path.clone(),
                sha256: b.sha256,
                size: b.size,
            }),
            None => out.push(InputChange::FileRemoved {
                path: a.path.clone(),
                sha256: a.sha256,
                size: a.size,
                executable: a.executable,
            }),
        }
    }
    for b in unmatched.into_iter().flatten() {
        out.push(InputChange::FileAdded {
            path: b.path.clone(),
            sha256: b.sha256,
            size: b.size,
            executable: b.executable,
        });
    }
    out
}

/// The path a file change is sorted by.
fn file_key(change: &InputChange) -> &str {
    match change {
        InputChange::FileAdded { path, .. }
        | InputChange::FileRemoved { path, .. }
        | InputChange::FileModified { path, .. }
        | InputChange::ExecutableBit { path, .. } => path,
        InputChange::FileRenamed { from, .. } => from,
        _ => "",
    }
}

fn diff_tools(old: &[InputTool], new: &[InputTool], out: &mut Vec<InputChange>) {
    let by_name = |tools: &[InputTool]| -> BTreeMap<String, InputTool> {
        tools.iter().map(|t| (t.name.clone(), t.clone())).collect()
    };
    let (a, b) = (by_name(old), by_name(new));
    let before = out.len();
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        if let Some(change) = tool_change(name, a.get(name), b.get(name)) {
            out.push(change);
        }
    }
    let order =
        |tools: &[InputTool]| -> Vec<String> { tools.iter().map(|t| t.name.clone()).collect() };
    if out.len() == before && order(old) != order(new) {
        out.push(InputChange::ToolsReordered {
            old: order(old),
            new: order(new),
        });
    }
}

fn tool_change(name: &str, a: Option<&InputTool>, b: Option<&InputTool>) -> Option<InputChange> {
    match (a, b) {
        (Some(a), Some(b)) if a.path == b.path && a.sha256 == b.sha256 => None,
        (Some(a), Some(b)) => Some(InputChange::ToolChanged {
            name: name.to_string(),
            old_path: a.path.clone(),
            new_path: b.path.clone(),
            old_sha256: a.sha256,
            new_sha256: b.sha256,
        }),
        (None, Some(b)) => Some(InputChange::ToolAdded {
            name: name.to_string(),
            path: b.path.clone(),
            sha256: b.sha256,
        }),
        (Some(a), None) => Some(InputChange::ToolRemoved {
            name: name.to_string(),
            path: a.path.clone(),
            sha256: a.sha256,
        }),
        (None, None) => None,
    }
}

fn diff_deps(
    old: &BTreeMap<String, Digest>,
    new: &BTreeMap<String, Digest>,
    out: &mut Vec<InputChange>,
) {
    let steps: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for step in steps {
        let change = match (old.get(step), new.get(step)) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) => InputChange::DepContent {
                step: step.clone(),
                old: ContentHash(*a),
                new: ContentHash(*b),
            },
            (None, Some(_)) => InputChange::DepAdded { step: step.clone() },
            (Some(_), None) => InputChange::DepRemoved { step: step.clone() },
            (None, None) => continue,
        };
        out.push(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::explain::content::BlobSource;
    use crate::model::graph::Command;

    fn file(path: &str, content: &[u8]) -> InputFile {
        InputFile {
            path: path.into(),
            executable: false,
            sha256: FileHash(Digest::of_bytes(content)),
            size: content.len() as u64,
            link: None,
        }
    }

    fn record(files: &[InputFile]) -> WalkRecord {
        WalkRecord {
            command: Some(Command::Shell("cc".into())),
            files: files.iter().map(|f| (f.path.clone(), f.clone())).collect(),
            ..WalkRecord::default()
        }
    }

    fn changes(old: &WalkRecord, new: &WalkRecord) -> Vec<InputChange> {
        let blobs = BlobSource::none();
        diff_walks(old, new, &ContentDiffer::new(&blobs, 40))
    }

    #[test]
    fn equal_walks_have_no_changes() {
        let r = record(&[file("a", b"1")]);
        assert!(changes(&r, &r).is_empty());
    }

    #[test]
    fn same_content_at_a_new_path_is_a_rename() {
        let c = changes(&record(&[file("a.h", b"x")]), &record(&[file("b.h", b"x")]));
        assert!(
            matches!(&c[..], [InputChange::FileRenamed { from, to, .. }] if from == "a.h" && to == "b.h"),
            "{c:?}"
        );
    }

    #[test]
    fn files_are_added_removed_and_modified_in_path_order() {
        let c = changes(
            &record(&[file("b", b"1"), file("c", b"1x")]),
            &record(&[file("a", b"2"), file("b", b"3")]),
        );
        let kinds: Vec<String> = c.iter().map(|c| c.headline()).collect();
        assert_eq!(
            kinds,
            vec![
                "input a was added",
                "b changed (content not in the store)",
                "input c was removed"
            ]
        );
    }

    #[test]
    fn env_and_dep_changes_are_named() {
        let mut a = record(&[]);
        let mut b = record(&[]);
        a.env.insert("CFLAGS".into(), "-O2".into());
        b.env.insert("CFLAGS".into(), "-O3".into());
        b.env.insert("NEW".into(), "1".into());
        a.deps.insert("gen".into(), Digest::of_bytes(b"1"));
        b.deps.insert("gen".into(), Digest::of_bytes(b"2"));
        let c = changes(&a, &b);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].headline(), "env CFLAGS changed (-O2 -> -O3)");
        assert_eq!(c[1].headline(), "env NEW=1 was added");
        assert!(!c[2].is_own());
    }

    #[test]
    fn reordered_tools_are_a_change() {
        let tool = |n: &str| InputTool {
            name: n.into(),
            path: format!("/usr/bin/{n}"),
            sha256: FileHash(Digest::of_bytes(n.as_bytes())),
        };
        let mut a = record(&[]);
        let mut b = record(&[]);
        a.tools = vec![tool("tar"), tool("gzip")];
        b.tools = vec![tool("gzip"), tool("tar")];
        assert!(matches!(
            &changes(&a, &b)[..],
            [InputChange::ToolsReordered { .. }]
        ));
    }
}
