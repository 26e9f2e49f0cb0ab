//! The report of `reprobe import ninja`: what was written where, as text or as its JSON
//! document (`reprobe/import/1`).

use std::path::Path;

use serde::Serialize;

use crate::report::json;
use crate::sources::ninja::Import;

/// The schema of `import --json`.
pub const IMPORT_SCHEMA: &str = "reprobe/import/1";

#[derive(Serialize)]
struct ImportJson<'a> {
    schema: &'static str,
    graph: &'a Path,
    root: &'a Path,
    build_dir: &'a str,
    steps: usize,
    undiscovered: &'a [String],
    notes: &'a [String],
}

/// The JSON document: the graph written, its root and build directory, how many steps,
/// what could not be discovered, and the notes (keys sorted).
pub(crate) fn import_json(imported: &Import, steps: usize, output: &Path) -> String {
    json::sorted(&ImportJson {
        schema: IMPORT_SCHEMA,
        graph: output,
        root: &imported.root,
        build_dir: &imported.build_dir,
        steps,
        undiscovered: &imported.undiscovered,
        notes: &imported.notes,
    })
}

/// "wrote reprobe.toml: 12 steps from build.ninja (build directory: build)", then the notes.
pub(crate) fn import_text(
    imported: &Import,
    steps: usize,
    output: &Path,
    ninja_file: &Path,
) -> String {
    let mut out = format!(
        "wrote {}: {} steps from {} (build directory: {})\n",
        output.display(),
        steps,
        ninja_file.display(),
        if imported.build_dir.is_empty() {
            "."
        } else {
            &imported.build_dir
        }
    );
    for note in &imported.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
