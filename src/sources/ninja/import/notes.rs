//! What the user should know about an import: inputs left out (outside the root, or not
//! files on disk), compile steps whose discovered dependencies are unknown, an unreadable
//! deps log, `dyndep` edges. Counted while importing, told as notes at the end.

use std::path::Path;

use crate::model::graph::{clip, MAX_SHOWN};

/// What the import met on its way that the user should hear about (see [`notes`]).
#[derive(Default)]
pub(super) struct Tally {
    pub(super) outside: usize,
    pub(super) outside_example: Option<String>,
    pub(super) missing: usize,
    pub(super) missing_example: Option<String>,
    pub(super) undiscovered: Vec<String>,
    pub(super) dyndep: Vec<String>,
    pub(super) deps_log: Option<String>,
}

/// Counts one more path, keeping the first as the example.
pub(super) fn count(counter: &mut usize, example: &mut Option<String>, path: String) {
    *counter += 1;
    example.get_or_insert(path);
}

/// The notes for what `tally` counted; `file` is the build file as the user named it.
pub(super) fn notes(tally: &Tally, file: &str) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(err) = &tally.deps_log {
        notes.push(format!(
            "the deps log could not be read ({err}); depfiles on disk were used instead"
        ));
    }
    if !tally.undiscovered.is_empty() {
        let dir = Path::new(file)
            .parent()
            .map_or(".".into(), |p| p.display().to_string());
        notes.push(format!(
            "{} step(s) compile with a depfile but Ninja has not recorded what they include (no .ninja_deps entry, no depfile on disk), e.g. `{}`: the headers they read are not inputs yet, so they may fail in the sandbox or miss header changes. Build once with `ninja -C {}`, then import again.",
            tally.undiscovered.len(),
            clip(&tally.undiscovered[0], MAX_SHOWN),
            if dir.is_empty() { "." } else { &dir }
        ));
    }
    if let Some(example) = &tally.outside_example {
        let example = clip(example, MAX_SHOWN);
        notes.push(format!(
            "{} input(s) outside the graph's root were left out, e.g. `{example}`: system files belong to the toolchain (the compiler itself is hashed as a tool)",
            tally.outside
        ));
    }
    if let Some(example) = &tally.missing_example {
        let example = clip(example, MAX_SHOWN);
        notes.push(format!(
            "{} input(s) named by the build file or the deps log are not files on disk and were left out, e.g. `{example}`",
            tally.missing
        ));
    }
    for location in &tally.dyndep {
        notes.push(format!("{location}: the edge uses `dyndep`, which reprobe does not read: its dynamic dependencies are missing"));
    }
    notes
}
