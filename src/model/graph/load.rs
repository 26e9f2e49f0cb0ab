//! Reading a graph file: its text, from a regular file only, parsed as TOML (or JSON for
//! a `.json` file) into a [`GraphFile`]; a TOML error names the line, the column and the
//! step, quoting no more of a long line than fits a message. Also where a command-line
//! graph argument points.

use std::path::{Path, PathBuf};

use super::decl::GraphFile;
use super::problem::{clip, Problem, MAX_MESSAGE, MAX_SHOWN};

/// The file name looked up when a directory is given as the graph.
pub const DEFAULT_GRAPH_FILE: &str = "reprobe.toml";

/// A graph file's text, read only from a regular file (a FIFO would block the read
/// forever, a device could never end).
pub(super) fn read_graph_text(file: &Path) -> std::io::Result<String> {
    let bytes = crate::fsafe::regular::read_regular(file)?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// Resolves a command-line graph argument: a file, or a directory holding `reprobe.toml`.
pub fn resolve_graph_path(arg: Option<&Path>) -> PathBuf {
    let path = arg.unwrap_or_else(|| Path::new("."));
    if path.is_dir() {
        path.join(DEFAULT_GRAPH_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Parses graph text; errors carry the step they are in when it can be found.
pub fn parse_graph_text(file: &Path, text: &str) -> Result<GraphFile, (Option<String>, Problem)> {
    if file.extension().is_some_and(|e| e == "json") {
        return serde_json::from_str(text)
            .map_err(|e| (None, Problem::Syntax(format!("invalid JSON graph: {e}"))));
    }
    toml::from_str(text).map_err(|e| {
        let step = e.span().and_then(|span| step_at(text, span.start));
        (step, Problem::Syntax(toml_message(text, &e)))
    })
}

/// The TOML reader's message, which quotes the line in error with a caret under the
/// column; a line longer than [`MAX_SHOWN`] is quoted around the column only.
fn toml_message(text: &str, error: &toml::de::Error) -> String {
    let full = error.to_string();
    let full = full.trim_end();
    let long = full.lines().any(|l| l.len() > MAX_SHOWN);
    let Some(span) = error.span().filter(|_| long) else {
        return clip(full, MAX_MESSAGE).into_owned();
    };
    let at = text.floor_char_boundary(span.start.min(text.len()));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = memchr::memchr_iter(b'\n', &text.as_bytes()[..at]).count() + 1;
    let column = text[line_start..at].chars().count() + 1;
    let from = text.floor_char_boundary(at.saturating_sub(MAX_SHOWN / 2).max(line_start));
    let to = text.ceil_char_boundary((at + MAX_SHOWN / 2).min(line_end));
    let lead = if from > line_start { "..." } else { "" };
    let trail = if to < line_end { "..." } else { "" };
    let caret = " ".repeat(lead.len() + text[from..at].chars().count());
    let gutter = " ".repeat(line.to_string().len());
    format!(
        "TOML parse error at line {line}, column {column}\n{gutter} |\n{line} | {lead}{}{trail}\n{gutter} | {caret}^\n{}",
        &text[from..to],
        clip(error.message().trim_end(), MAX_MESSAGE)
    )
}

/// The `[steps.NAME]` table that contains byte `offset` of a TOML text.
fn step_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    before.lines().rev().find_map(|line| {
        let line = line.trim();
        let inner = line.strip_prefix('[')?.strip_suffix(']')?.trim();
        let name = inner.strip_prefix("steps.")?;
        Some(name.trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::model::graph::Graph;

    /// The message loading `text` as a `reprobe.toml` fails with.
    fn problem(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("reprobe.toml");
        fs::write(&file, text).unwrap();
        Graph::load(&file).unwrap_err().to_string()
    }

    #[test]
    fn unknown_key_names_the_step_line_and_column() {
        let err = problem("[steps.a]\nrun = \"x\"\noutputz = [\"o\"]\n");
        assert!(err.contains("step `a`"), "{err}");
        assert!(err.contains("unknown field `outputz`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn long_lines_and_names_make_short_messages() {
        let long = "x".repeat(5_000_000);
        let err = problem(&format!("[steps.a]\nrun = \"{long}\" junk\n"));
        assert!(err.len() < 1000, "{} bytes", err.len());
        assert!(
            err.contains("TOML parse error at line 2, column 5000010"),
            "{err}"
        );
        assert!(err.contains("\n2 | ...xxxxx"), "{err}");
        assert!(err.contains("xxxxx\" junk\n  |"), "{err}");
        let caret = err.lines().nth(3).unwrap();
        assert_eq!(caret.find('^'), err.lines().nth(2).unwrap().find("junk"));
        let err = problem(&format!(
            "[steps.\"{long}/\"]\nrun = \"x\"\noutputs = [\"a\"]\n"
        ));
        assert!(err.len() < 1000, "{} bytes", err.len());
        assert!(err.contains("(4999802 bytes left out)"), "{err}");
        assert!(err.ends_with("step name is not allowed: use letters, digits and . _ - + : only"));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = problem("[steps.a]\nrun = \"x\noutputs = []\n");
        assert!(err.contains("line 2, column"), "{err}");
    }
}
