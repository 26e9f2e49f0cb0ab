//! What changed inside a file or a command: unified text diffs of two input blobs and
//! word-level diffs of two commands, both with `similar`.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;
use similar::{ChangeTag, DiffOp, TextDiff};

use crate::model::graph::Command;
use crate::model::hash::FileHash;
use crate::store::Store;

/// Largest blob read for a text diff; larger files get sizes and hashes only.
pub(crate) const MAX_TEXT_BYTES: u64 = 8 << 20;

/// Where blobs can be read: one or more stores (the local one, and any others given).
#[derive(Debug, Clone, Default)]
pub struct BlobSource {
    stores: Vec<Store>,
}

/// The bytes of a blob, or why they are not available.
#[derive(Debug)]
pub enum Blob {
    /// The content.
    Bytes(Vec<u8>),
    /// No store holds it.
    Missing,
    /// Larger than [`MAX_TEXT_BYTES`].
    TooLarge,
}

impl BlobSource {
    /// Blobs from these stores, searched in order.
    pub fn new(stores: Vec<Store>) -> BlobSource {
        BlobSource { stores }
    }

    /// No store at all: every blob is missing.
    pub fn none() -> BlobSource {
        BlobSource::default()
    }

    /// The path of a present blob (a regular file, never through a link), from the
    /// first store that holds it.
    pub fn find(&self, hash: &FileHash) -> Option<(&Store, PathBuf)> {
        self.stores
            .iter()
            .find(|s| s.has_blob(hash))
            .map(|s| (s, s.blob_path(hash)))
    }

    /// Reads a blob (up to [`MAX_TEXT_BYTES`]), by handle: never through a link, and
    /// never a FIFO.
    pub fn read(&self, hash: &FileHash) -> Blob {
        let Some(file) = self.stores.iter().find_map(|s| s.open_blob_file(hash)) else {
            return Blob::Missing;
        };
        let mut bytes = Vec::new();
        match file.take(MAX_TEXT_BYTES + 1).read_to_end(&mut bytes) {
            Ok(n) if n as u64 > MAX_TEXT_BYTES => Blob::TooLarge,
            Ok(_) => Blob::Bytes(bytes),
            Err(_) => Blob::Missing,
        }
    }
}

/// How the content of a modified input file changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentDiff {
    /// Both sides are text: a unified diff, capped.
    Text {
        /// Lines deleted, inserted or replaced (a replaced line counts once).
        lines_changed: usize,
        /// The unified diff (3 lines of context), at most the configured number of lines.
        unified: String,
        /// Whether lines were cut from `unified`.
        truncated: bool,
    },
    /// At least one side is not UTF-8 text: sizes and hashes say what changed.
    Binary,
    /// The blobs are not in the store (a manifest from elsewhere, or a cleaned store).
    Unavailable {
        /// Why.
        reason: String,
    },
}

impl ContentDiff {
    /// A short phrase: `1 line`, `binary`, or `content not in the store`.
    pub(crate) fn phrase(&self) -> String {
        match self {
            ContentDiff::Text { lines_changed, .. } => plural(*lines_changed, "line"),
            ContentDiff::Binary => "binary".into(),
            ContentDiff::Unavailable { .. } => "content not in the store".into(),
        }
    }
}

/// "1 line", "3 lines".
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Computes content diffs from blobs, once per pair of hashes (a header shared by
/// thousands of steps is diffed once).
pub(crate) struct ContentDiffer<'b> {
    blobs: &'b BlobSource,
    max_lines: usize,
    cache: Mutex<HashMap<(FileHash, FileHash), ContentDiff>>,
}

impl<'b> ContentDiffer<'b> {
    /// A differ over `blobs`, keeping at most `max_lines` lines of each unified diff.
    pub fn new(blobs: &'b BlobSource, max_lines: usize) -> ContentDiffer<'b> {
        ContentDiffer {
            blobs,
            max_lines,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The diff of two blobs, labelled with `path`.
    pub fn diff(&self, path: &str, old: &FileHash, new: &FileHash) -> ContentDiff {
        let key = (*old, *new);
        if let Some(found) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return found;
        }
        let diff = self.compute(path, old, new);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, diff.clone());
        }
        diff
    }

    fn compute(&self, path: &str, old: &FileHash, new: &FileHash) -> ContentDiff {
        let (a, b) = match (self.blobs.read(old), self.blobs.read(new)) {
            (Blob::Bytes(a), Blob::Bytes(b)) => (a, b),
            (Blob::TooLarge, _) | (_, Blob::TooLarge) => return ContentDiff::Binary,
            _ => {
                return ContentDiff::Unavailable {
                    reason: "the blobs of this input are not in the store".into(),
                }
            }
        };
        match (as_text(&a), as_text(&b)) {
            (Some(a), Some(b)) => text_diff(path, a, b, self.max_lines),
            _ => ContentDiff::Binary,
        }
    }
}

/// UTF-8 without NUL bytes counts as text.
fn as_text(bytes: &[u8]) -> Option<&str> {
    if memchr::memchr(0, bytes).is_some() {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// A unified line diff of two texts, capped at `max_lines` lines.
pub(crate) fn text_diff(path: &str, old: &str, new: &str, max_lines: usize) -> ContentDiff {
    let diff = TextDiff::from_lines(old, new);
    let lines_changed = diff.ops().iter().map(changed_lines).sum();
    let full = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    let total = full.lines().count();
    let unified: String = full
        .lines()
        .take(max_lines)
        .flat_map(|l| [l, "\n"])
        .collect();
    ContentDiff::Text {
        lines_changed,
        unified,
        truncated: total > max_lines,
    }
}

fn changed_lines(op: &DiffOp) -> usize {
    match *op {
        DiffOp::Equal { .. } => 0,
        DiffOp::Delete { old_len, .. } => old_len,
        DiffOp::Insert { new_len, .. } => new_len,
        DiffOp::Replace {
            old_len, new_len, ..
        } => old_len.max(new_len),
    }
}

/// One run of a word-level diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WordSegment {
    /// `equal`, `delete` or `insert`.
    pub op: WordOp,
    /// The text of the run, spaces included.
    pub text: String,
}

/// The kind of a [`WordSegment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WordOp {
    /// In both.
    Equal,
    /// Only in the old command.
    Delete,
    /// Only in the new command.
    Insert,
}

/// A word-level diff of two commands; an argv is diffed argument by argument.
pub(crate) fn command_diff(old: &Command, new: &Command) -> Vec<WordSegment> {
    let (a, b) = (words_of(old), words_of(new));
    let a_refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let b_refs: Vec<&str> = b.iter().map(String::as_str).collect();
    let diff = TextDiff::from_slices(&a_refs, &b_refs);
    let mut segments: Vec<WordSegment> = Vec::new();
    for change in diff.iter_all_changes() {
        let op = match change.tag() {
            ChangeTag::Equal => WordOp::Equal,
            ChangeTag::Delete => WordOp::Delete,
            ChangeTag::Insert => WordOp::Insert,
        };
        push_word(&mut segments, op, change.value());
    }
    segments
}

/// Splits a command into the words a reader compares: whitespace-separated words of a
/// shell string, or the arguments of an argv.
fn words_of(command: &Command) -> Vec<String> {
    match command {
        Command::Shell(script) => script.split_whitespace().map(str::to_string).collect(),
        Command::Argv(argv) => argv.clone(),
    }
}

fn push_word(segments: &mut Vec<WordSegment>, op: WordOp, word: &str) {
    match segments.last_mut() {
        Some(last) if last.op == op => {
            last.text.push(' ');
            last.text.push_str(word);
        }
        _ => segments.push(WordSegment {
            op,
            text: word.to_string(),
        }),
    }
}

/// A command as one line for people.
pub(crate) fn command_text(command: &Command) -> String {
    match command {
        Command::Shell(script) => script.clone(),
        Command::Argv(argv) => format!("{argv:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_comment_is_one_line() {
        let d = text_diff("a.h", "// old\nint x;\n", "// new\nint x;\n", 40);
        match d {
            ContentDiff::Text {
                lines_changed,
                unified,
                truncated,
            } => {
                assert_eq!(lines_changed, 1);
                assert!(unified.contains("-// old") && unified.contains("+// new"));
                assert!(!truncated);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_diffs_are_capped() {
        let old: String = (0..100).map(|i| format!("{i}\n")).collect();
        let new: String = (0..100).map(|i| format!("x{i}\n")).collect();
        let ContentDiff::Text {
            unified,
            truncated,
            lines_changed,
        } = text_diff("f", &old, &new, 10)
        else {
            panic!("text")
        };
        assert_eq!(unified.lines().count(), 10);
        assert!(truncated);
        assert_eq!(lines_changed, 100);
    }

    #[test]
    fn a_changed_flag_is_one_word() {
        let segments = command_diff(
            &Command::Shell("gcc -O2 -c a.c".into()),
            &Command::Shell("gcc -O3 -c a.c".into()),
        );
        let ops: Vec<(WordOp, &str)> = segments.iter().map(|s| (s.op, s.text.as_str())).collect();
        assert_eq!(
            ops,
            vec![
                (WordOp::Equal, "gcc"),
                (WordOp::Delete, "-O2"),
                (WordOp::Insert, "-O3"),
                (WordOp::Equal, "-c a.c"),
            ]
        );
    }

    #[test]
    fn missing_blobs_are_unavailable_not_errors() {
        let blobs = BlobSource::none();
        let differ = ContentDiffer::new(&blobs, 10);
        let h = FileHash(crate::model::hash::Digest::of_bytes(b"x"));
        assert!(matches!(
            differ.diff("f", &h, &h),
            ContentDiff::Unavailable { .. }
        ));
    }

    #[test]
    fn nul_bytes_mean_binary() {
        assert!(as_text(b"a\0b").is_none());
        assert_eq!(as_text(b"ab"), Some("ab"));
    }
}
