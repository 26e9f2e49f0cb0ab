//! Fuzzes the graph parser (TOML and JSON) and the validation after it.
#![no_main]

use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for file in ["reprobe.toml", "graph.json"] {
        let file = Path::new(file);
        if let Ok(parsed) = reprobe::model::graph::parse_graph_text(file, text) {
            // Validation resolves inputs against a root that holds nothing.
            let root = Path::new("/nonexistent/reprobe-fuzz");
            let _ = reprobe::model::graph::Graph::from_file(parsed, file, root);
        }
    }
});
