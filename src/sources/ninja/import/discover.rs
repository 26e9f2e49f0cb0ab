//! What the compiler discovered on an earlier build, per output: Ninja's deps log, and the
//! depfiles left on disk for edges it does not cover. Read once before the import walks
//! the edges; these name the headers that become inputs.

use std::collections::HashMap;
use std::path::Path;

use super::layout::Layout;
use super::notes::Tally;
use crate::sources::ninja::build_file::BuildFile;
use crate::sources::ninja::canonical::canonicalize_path;
use crate::sources::ninja::deps::{parse_depfile, read_ninja_deps};
use crate::sources::ninja::file_kinds::FileKinds;

/// Loads `.ninja_deps` and the depfiles left on disk: each output's discovered inputs.
pub(super) fn discover(
    file: &BuildFile,
    layout: &Layout,
    files: &mut FileKinds,
    tally: &mut Tally,
) -> HashMap<String, Vec<String>> {
    let mut discovered = HashMap::new();
    let log = layout.build.join(".ninja_deps");
    let log_present = log.is_file();
    if log_present {
        match read_ninja_deps(&log) {
            Ok(deps) => discovered = deps,
            Err(err) => tally.deps_log = Some(err.to_string()),
        }
    }
    for edge in &file.edges {
        let Some(first) = edge.outputs.first() else {
            continue;
        };
        // With a deps log, `deps = gcc` depfiles were moved into it and deleted.
        let in_log = log_present && !edge.deps.is_empty();
        if edge.depfile.is_empty() || in_log || discovered.contains_key(first) {
            continue;
        }
        let path = layout.absolute(&edge.depfile);
        // Only a regular file: a FIFO named as a depfile would block the read forever.
        if files.kind(&path) != Some(true) {
            continue;
        }
        let read = crate::fsafe::regular::read_regular(Path::new(&path));
        if let Some(text) = read.ok().and_then(|bytes| String::from_utf8(bytes).ok()) {
            let found = parse_depfile(&text)
                .iter()
                .map(|p| canonicalize_path(p))
                .collect();
            discovered.insert(first.clone(), found);
        }
    }
    discovered
}
