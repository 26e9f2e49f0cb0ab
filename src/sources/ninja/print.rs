//! Writes a [`BuildFile`] back as Ninja text that parses to the same edges.
//!
//! Each rule is declared once with a placeholder command and every edge carries its own
//! evaluated `command` (and other variables) as build-level bindings, `$`-escaped, so the
//! text needs no rule-level expansion to reproduce the edges exactly. Paths cannot hold
//! `|` or a newline, and values cannot hold a newline: Ninja has no escape for them.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::build_file::{BuildFile, Edge};

/// The Ninja text of `file`.
pub fn to_ninja(file: &BuildFile) -> String {
    let mut out = String::new();
    for (name, depth) in &file.pools {
        let _ = writeln!(out, "pool {name}\n  depth = {depth}");
    }
    let rules: BTreeSet<&str> = file
        .edges
        .iter()
        .filter(|e| !e.is_phony())
        .map(|e| e.rule.as_str())
        .collect();
    for rule in rules {
        let _ = writeln!(out, "rule {rule}\n  command = :");
    }
    for edge in &file.edges {
        write_edge(&mut out, edge);
    }
    if !file.defaults.is_empty() {
        out.push_str("default");
        for target in &file.defaults {
            out.push(' ');
            out.push_str(&escape_path(target));
        }
        out.push('\n');
    }
    out
}

fn write_edge(out: &mut String, edge: &Edge) {
    out.push_str("build");
    write_paths(out, "", &edge.outputs);
    write_paths(out, " |", &edge.implicit_outputs);
    out.push_str(": ");
    out.push_str(&edge.rule);
    write_paths(out, "", &edge.inputs);
    write_paths(out, " |", &edge.implicit_inputs);
    write_paths(out, " ||", &edge.order_only);
    write_paths(out, " |@", &edge.validations);
    out.push('\n');
    let generator = if edge.generator { "1" } else { "" };
    let bindings = [
        ("command", edge.command.as_str()),
        ("description", &edge.description),
        ("depfile", &edge.depfile),
        ("deps", &edge.deps),
        ("pool", &edge.pool),
        ("rspfile", &edge.rspfile),
        ("rspfile_content", &edge.rspfile_content),
        ("generator", generator),
        ("dyndep", &edge.dyndep),
    ];
    for (key, value) in bindings {
        if !value.is_empty() || (key == "command" && !edge.is_phony()) {
            let _ = writeln!(out, "  {key} = {}", escape_value(value));
        }
    }
}

fn write_paths(out: &mut String, separator: &str, paths: &[String]) {
    if paths.is_empty() {
        return;
    }
    out.push_str(separator);
    for path in paths {
        out.push(' ');
        out.push_str(&escape_path(path));
    }
}

/// Escapes a path: `$`, space and `:` are special in paths.
pub fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '$' | ' ' | ':' => {
                out.push('$');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Escapes a value: `$` always, and spaces so that leading ones survive.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '$' | ' ' => {
                out.push('$');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}
