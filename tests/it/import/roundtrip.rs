//! Property: any Ninja graph printed as Ninja and parsed back is the same graph.

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use reprobe::sources::ninja::{parse_str, to_ninja, BuildFile, Edge};

/// A path segment with the characters Ninja must escape (`$`, space, `:`); never `.`/`..`.
fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9_.$: -]{1,6}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn path() -> impl Strategy<Value = String> {
    vec(segment(), 1..3).prop_map(|parts| parts.join("/"))
}

/// Printable ASCII: `$`, quotes, `|`, `#`, spaces and all.
fn value() -> impl Strategy<Value = String> {
    "[ -~]{0,24}"
}

fn edge() -> impl Strategy<Value = Edge> {
    let paths = (
        vec(path(), 1..3),
        vec(path(), 0..2),
        vec(path(), 0..4),
        vec(path(), 0..2),
        vec(path(), 0..2),
        vec(path(), 0..2),
    );
    let vars = (
        prop_oneof![Just("cc"), Just("link"), Just("phony")],
        value(),
        value(),
        value(),
        prop_oneof![Just(""), Just("gcc")],
        prop_oneof![Just(""), Just("console"), Just("link")],
        proptest::option::of((path(), value())),
        any::<bool>(),
    );
    (paths, vars).prop_map(|(p, v)| {
        let (rule, command, description, depfile, deps, pool, rsp, generator) = v;
        let (rspfile, rspfile_content) = rsp.unwrap_or_default();
        Edge {
            rule: rule.to_string(),
            outputs: p.0,
            implicit_outputs: p.1,
            inputs: p.2,
            implicit_inputs: p.3,
            order_only: p.4,
            validations: p.5,
            command,
            description,
            depfile,
            deps: deps.to_string(),
            pool: pool.to_string(),
            rspfile,
            rspfile_content,
            generator,
            ..Edge::default()
        }
    })
}

/// Edges with unique outputs (a suffix per edge and position), defaults among them.
fn build_file() -> impl Strategy<Value = BuildFile> {
    (vec(edge(), 1..12), any::<bool>(), 1usize..5).prop_map(|(mut edges, with_default, depth)| {
        for (i, edge) in edges.iter_mut().enumerate() {
            let outputs = edge
                .outputs
                .iter_mut()
                .chain(edge.implicit_outputs.iter_mut());
            for (j, output) in outputs.enumerate() {
                output.push_str(&format!(".o{i}x{j}"));
            }
        }
        let defaults = if with_default {
            vec![edges[0].outputs[0].clone()]
        } else {
            Vec::new()
        };
        BuildFile {
            edges,
            defaults,
            pools: [("link".to_string(), depth)].into(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn printed_ninja_parses_back_to_the_same_graph(file in build_file()) {
        let text = to_ninja(&file);
        let parsed = parse_str(&text, "build.ninja", Path::new("."));
        prop_assert!(parsed.is_ok(), "{:?}\n{text}", parsed.err());
        prop_assert_eq!(parsed.unwrap(), file, "{}", text);
    }
}
