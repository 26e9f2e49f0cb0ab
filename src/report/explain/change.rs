//! The text of one input change of an explanation: a headline line (with hashes and
//! values, a command's word diff) and a file's unified diff. The terminal view colours
//! it; the HTML and Markdown views quote it plain.

use crate::engine::explain::changes::InputChange;
use crate::engine::explain::content::{ContentDiff, WordOp, WordSegment};
use crate::report::table::{paint, Colour};

/// A change as lines for people: one headline line, then any diff.
pub fn change_lines(change: &InputChange, colour: bool) -> Vec<String> {
    use InputChange::*;
    let mut lines = vec![format!(
        "{} {}",
        marker(change),
        change_text(change, colour)
    )];
    if let FileModified {
        content: ContentDiff::Text {
            unified, truncated, ..
        },
        ..
    } = change
    {
        lines.extend(
            unified
                .lines()
                .map(|l| format!("    {}", diff_line(l, colour))),
        );
        if *truncated {
            lines.push("    ... (diff cut; --diff-lines N shows more)".into());
        }
    }
    lines
}

fn marker(change: &InputChange) -> &'static str {
    use InputChange::*;
    match change {
        EnvAdded { .. } | FileAdded { .. } | ToolAdded { .. } | DepAdded { .. } => "+",
        EnvRemoved { .. } | FileRemoved { .. } | ToolRemoved { .. } | DepRemoved { .. } => "-",
        _ => "~",
    }
}

/// The one-line description of a change, with hashes and values.
fn change_text(change: &InputChange, colour: bool) -> String {
    use InputChange::*;
    match change {
        Command { words, .. } => format!("command: {}", words_text(words, colour)),
        EnvAdded { name, value } => format!("env {name}={value}"),
        EnvRemoved { name, value } => format!("env {name} (was {value})"),
        EnvChanged { name, old, new } => format!("env {name}: {old} -> {new}"),
        FileAdded {
            path, sha256, size, ..
        } => format!("input {path} ({size} bytes, {})", sha256.short()),
        FileRemoved {
            path, sha256, size, ..
        } => format!("input {path} ({size} bytes, {})", sha256.short()),
        FileRenamed { from, to, .. } => format!("input renamed: {from} -> {to} (same content)"),
        FileModified {
            path,
            old_sha256,
            new_sha256,
            old_size,
            new_size,
            content,
        } => format!(
            "{path}: {} ({} -> {}, {old_size} -> {new_size} bytes)",
            content.phrase(),
            old_sha256.short(),
            new_sha256.short()
        ),
        ExecutableBit { path, old, new } => format!("{path}: executable {old} -> {new}"),
        ToolAdded { name, path, sha256 } => format!("tool {name}: {path} {}", sha256.short()),
        ToolRemoved { name, path, sha256 } => format!("tool {name}: {path} {}", sha256.short()),
        ToolChanged {
            name,
            old_path,
            new_path,
            old_sha256,
            new_sha256,
        } => format!(
            "tool {name}: {old_path} {} -> {new_path} {}",
            old_sha256.short(),
            new_sha256.short()
        ),
        ToolsReordered { old, new } => {
            format!("tools reordered: {} -> {}", old.join(" "), new.join(" "))
        }
        DepAdded { step } => format!("dep {step} added"),
        DepRemoved { step } => format!("dep {step} removed"),
        DepContent { step, old, new } => {
            format!("dep {step}: output {} -> {}", old.short(), new.short())
        }
        FixedOutput { old, new } => format!(
            "declared output sha256: {} -> {}",
            or_dash(old.map(|h| h.short())),
            or_dash(new.map(|h| h.short()))
        ),
        other => other.headline(),
    }
}

/// A word diff for people: a replaced run as `[old -> new]`, a removed run as
/// `[removed: old]`, an added one as `[added: new]`; coloured on a terminal.
pub fn words_text(words: &[WordSegment], colour: bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let next = words.get(i + 1);
        let replaced = w.op == WordOp::Delete && next.is_some_and(|n| n.op == WordOp::Insert);
        parts.push(match w.op {
            WordOp::Equal => w.text.clone(),
            WordOp::Delete if replaced => {
                i += 1;
                let new = next.map_or("", |n| n.text.as_str());
                format!(
                    "[{} -> {}]",
                    paint(&w.text, Colour::Red, colour),
                    paint(new, Colour::Green, colour)
                )
            }
            WordOp::Delete => format!("[removed: {}]", paint(&w.text, Colour::Red, colour)),
            WordOp::Insert => format!("[added: {}]", paint(&w.text, Colour::Green, colour)),
        });
        i += 1;
    }
    parts.join(" ")
}

fn diff_line(line: &str, colour: bool) -> String {
    let hue = match line.as_bytes().first() {
        Some(b'+') if !line.starts_with("+++") => Colour::Green,
        Some(b'-') if !line.starts_with("---") => Colour::Red,
        Some(b'@') => Colour::Dim,
        _ => return line.to_string(),
    };
    paint(line, hue, colour)
}

/// A hash for people, or `-` when there is none.
pub(crate) fn or_dash(hash: Option<String>) -> String {
    hash.unwrap_or_else(|| "-".into())
}
