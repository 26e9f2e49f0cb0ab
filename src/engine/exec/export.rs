//! `build --out`: copies the outputs of the graph's final steps out of the store.

use std::path::Path;

use crate::model::graph::Graph;
use crate::model::manifest::Manifest;
use crate::model::tree::EntryType;
use crate::store::Store;

/// How many files and symbolic links `--out` exported.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    /// Regular files.
    pub files: usize,
    /// Symbolic links (copied as links, never followed).
    pub links: usize,
}

/// Copies the declared outputs of the graph's final steps into `dir` (for `--out`).
pub fn export_final_outputs(
    graph: &Graph,
    manifest: &Manifest,
    store: &Store,
    dir: &Path,
) -> Result<Exported, String> {
    let mut exported = Exported::default();
    for step in graph.final_steps() {
        let Some(record) = manifest.step(&step.name) else {
            continue;
        };
        for entry in &record.outputs {
            store
                .materialize_entry(dir, entry, entry.mode)
                .map_err(|e| e.to_string())?;
            match entry.kind {
                EntryType::File => exported.files += 1,
                EntryType::Symlink => exported.links += 1,
                EntryType::Dir => {}
            }
        }
    }
    Ok(exported)
}
