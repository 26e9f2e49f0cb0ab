//! Shared by the Ninja fuzz target and its replay test: parse fuzz text as a
//! `build.ninja` (and as a depfile), then import what parses into a reprobe graph.
#![allow(dead_code)]

use std::path::Path;

/// Where the fuzzed manifest pretends to live: nothing is there, so `include` and the
/// importer's file checks find nothing and touch nothing.
const DIR: &str = "/nonexistent/reprobe-fuzz";

/// Runs the parser and the importer on `data`; any panic is the bug.
pub fn exercise(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = reprobe::ninja::deps::parse_depfile(text);
    let dir = Path::new(DIR);
    if let Ok(parsed) = reprobe::ninja::parse::parse_str(text, "build.ninja", dir) {
        let options = reprobe::ninja::import::ImportOptions::default();
        let _ = reprobe::ninja::import::import_parsed(&parsed, &dir.join("build.ninja"), &options);
    }
}
