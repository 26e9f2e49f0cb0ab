//! Shared by the Ninja fuzz target and its replay test: parse fuzz text as a
//! `build.ninja` (and as a depfile), then import what parses into a reprobe graph.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the fuzzed manifest pretends to live: an empty directory (in the temporary
/// directory, shared by every run, written by none), so `include` and the importer's
/// file checks find nothing there.
/// It must exist: the importer resolves the build directory first, and stopped right
/// there when it was a directory that does not exist.
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join("reprobe-fuzz-empty");
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

/// Runs the parser and the importer on `data`; any panic is the bug.
pub fn exercise(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = reprobe::sources::ninja::deps::parse_depfile(text);
    let dir = dir();
    if let Ok(parsed) = reprobe::sources::ninja::parse::parse_str(text, "build.ninja", dir) {
        let options = reprobe::sources::ninja::import::ImportOptions::default();
        let _ = reprobe::sources::ninja::import::import_parsed(
            &parsed,
            &dir.join("build.ninja"),
            &options,
        );
    }
}
