//! Property tests of the parsers that read untrusted text: the graph parser, the
//! manifest reader and the Ninja parser (with the import after it) never panic, and
//! what they accept round-trips. (The fuzz targets in
//! `fuzz/` push the same parsers much further; these run in every `cargo test`.)

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use std::time::Duration;

use reprobe::model::graph::{
    parse_duration, parse_graph_text, Command, Graph, GraphFile, StepDecl, TimeoutDecl,
};
use reprobe::model::manifest::Manifest;
use reprobe::sandbox::parse_size;

/// Fragments of graph files, so that random text often gets past the first line.
fn graph_like_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("[steps.a]\n".to_string()),
        Just("[steps.\"b c\"]\n".to_string()),
        Just("[env]\nPATH = \"/bin\"\n".to_string()),
        Just("run = \"true\"\n".to_string()),
        Just("run = [\"sh\", \"-c\", \"x\"]\n".to_string()),
        Just("run = []\n".to_string()),
        Just("outputs = [\"o\"]\n".to_string()),
        Just("outputs = [\"../o\", \"/abs\"]\n".to_string()),
        Just("inputs = [\"**/*\", \"[\"]\n".to_string()),
        Just("deps = [\"a\", \"a\", \"zz\"]\n".to_string()),
        Just("network = true\n".to_string()),
        Just("sha256 = \"00\"\n".to_string()),
        Just("timeout = \"1e309h\"\n".to_string()),
        Just("timeout = -1\n".to_string()),
        Just("timeout = 18446744073709551615\n".to_string()),
        Just("timeout = \"18446744073709551616s\"\n".to_string()),
        Just("timeout = 0\n".to_string()),
        Just("memory = \"16777216T\"\n".to_string()),
        Just("disk = 9223372036854775807\n".to_string()),
        Just("pids = 9223372036854775807\n".to_string()),
        Just("env = { \"=\" = \"x\" }\n".to_string()),
        "[ -~\n]{0,20}",
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|parts| parts.concat())
}

/// Fragments of `build.ninja` files (variables, escapes, rules, edges, pools, includes
/// of files that do not exist), so that random text reaches deep into the parser.
fn ninja_like_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("rule cc\n  command = gcc -c $in -o $out\n".to_string()),
        Just("rule r\n  command = $\n    x\n  depfile = $out.d\n  deps = gcc\n".to_string()),
        Just("build a.o: cc a.c | h.h || gen\n".to_string()),
        Just("build app: link a.o b.o\n".to_string()),
        Just("build $ x$:: phony\n".to_string()),
        Just("build out: r in\n  pool = console\n".to_string()),
        Just("build out: r ${undefined} $in\n".to_string()),
        Just("x = $x$x${x}\n".to_string()),
        Just("pool p\n  depth = 0\n".to_string()),
        Just("default app nope\n".to_string()),
        Just("include missing.ninja\n".to_string()),
        Just("subninja ../../etc/passwd\n".to_string()),
        Just("build /abs/o ../up: r\n".to_string()),
        Just("build a: r a\n".to_string()),
        Just("build b: r | a || b\nbuild all: phony a b\n".to_string()),
        Just("build p: phony p q\nbuild q: phony p\n".to_string()),
        Just("v = $v$v$v$v\n".to_string()),
        Just("  indented = 1\n".to_string()),
        "[ -~\n$:|]{0,20}",
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|parts| parts.concat())
}

/// Parses `text` as a Ninja manifest in an empty directory and imports it. (The
/// directory must exist: the importer resolves the build directory first, and stopped
/// right there when it was one that does not exist.)
fn parse_and_import_ninja(text: &str) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dir = dir.path();
    let _ = reprobe::sources::ninja::deps::parse_depfile(text);
    if let Ok(parsed) = reprobe::sources::ninja::parse::parse_str(text, "build.ninja", dir) {
        let options = reprobe::sources::ninja::import::ImportOptions::default();
        let _ = reprobe::sources::ninja::import::import_parsed(
            &parsed,
            &dir.join("build.ninja"),
            &options,
        );
    }
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,8}"
}

fn rel_path() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.]{0,6}(/[a-z][a-z0-9_]{0,6}){0,2}"
}

fn step_decl(earlier: Vec<String>) -> impl Strategy<Value = StepDecl> {
    let command = prop_oneof![
        "[a-z][ -~]{0,29}".prop_map(Command::Shell),
        prop::collection::vec("[ -~]{1,8}", 1..4).prop_map(Command::Argv),
    ];
    let deps = if earlier.is_empty() {
        Just(Vec::new()).boxed()
    } else {
        prop::sample::subsequence(earlier.clone(), 0..=earlier.len()).boxed()
    };
    let timeout = prop_oneof![
        Just(None),
        (1u64..100_000).prop_map(|s| Some(TimeoutDecl::Seconds(s))),
        "[1-9][0-9]{0,2}[smh]".prop_map(|t| Some(TimeoutDecl::Text(t))),
    ];
    (
        command,
        prop::collection::btree_set(rel_path(), 1..3),
        prop::collection::btree_map("[A-Z][A-Z0-9_]{0,6}", "[ -~]{0,10}", 0..3),
        deps,
        timeout,
    )
        .prop_map(|(run, outputs, env, deps, timeout)| StepDecl {
            run,
            outputs: outputs.into_iter().collect(),
            env,
            deps,
            timeout,
            ..StepDecl::default()
        })
}

/// A valid graph: unique step names, deps only on earlier steps (so no cycle), each
/// output claimed once.
fn graph_file() -> impl Strategy<Value = GraphFile> {
    prop::collection::btree_set(name(), 1..6).prop_flat_map(|names| {
        let names: Vec<String> = names.into_iter().collect();
        let steps: Vec<_> = (0..names.len())
            .map(|i| step_decl(names[..i].to_vec()))
            .collect();
        let env = prop::collection::btree_map("[A-Z][A-Z0-9_]{0,6}", "[ -~]{0,10}", 0..3);
        (steps, env).prop_map(move |(decls, env)| {
            let mut steps = BTreeMap::new();
            for (i, (name, mut decl)) in names.iter().zip(decls).enumerate() {
                decl.outputs = decl
                    .outputs
                    .iter()
                    .map(|o| format!("{name}{i}/{o}"))
                    .collect();
                steps.insert(name.clone(), decl);
            }
            GraphFile { env, steps }
        })
    })
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[ -~]{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("reprobe/manifest/1")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("schema".to_string()),
                    Just("steps".to_string()),
                    Just("outputs".to_string()),
                    Just("name".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text that looks like a duration or a size: digits (often too many), dots, units.
fn number_like_text() -> impl Strategy<Value = String> {
    "[0-9]{0,30}[.]?[0-9]{0,30} ?(s|m|h|k|K|M|G|T|GiB|MB|x|e3)?"
}

/// What `{secs}` in `unit` (seconds per unit) should parse to: the exact product, or
/// nothing when it is zero or overflows.
fn expected_duration(number: u64, unit: u64) -> Option<Duration> {
    number
        .checked_mul(unit)
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn duration_and_size_parsers_never_panic(text in "\\PC{0,60}", number in number_like_text()) {
        for text in [&text, &number] {
            let _ = parse_duration(text);
            let _ = parse_size(text);
        }
    }

    #[test]
    fn whole_durations_round_trip(number in any::<u64>(), unit in 0usize..4) {
        let (suffix, scale) = [("", 1), ("s", 1), ("m", 60), ("h", 3600)][unit];
        let text = format!("{number}{suffix}");
        prop_assert_eq!(parse_duration(&text), expected_duration(number, scale), "{}", text);
    }

    #[test]
    fn fractional_seconds_round_trip(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
        let text = format!("{secs}.{nanos:09}s");
        let want = Some(Duration::new(secs, nanos)).filter(|d| !d.is_zero());
        prop_assert_eq!(parse_duration(&text), want, "{}", text);
    }

    #[test]
    fn sizes_round_trip(number in any::<u64>(), unit in 0usize..5) {
        let (suffix, shift) = [("", 0), ("k", 10), ("M", 20), ("G", 30), ("T", 40)][unit];
        let text = format!("{number}{suffix}");
        let want = number
            .checked_mul(1 << shift)
            .filter(|&n| n > 0);
        prop_assert_eq!(parse_size(&text), want, "{}", text);
        prop_assert_eq!(parse_size(&format!("{number} {suffix}iB")), want);
    }

    #[test]
    fn graph_parser_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        for file in ["reprobe.toml", "g.json"] {
            let _ = parse_graph_text(Path::new(file), &text);
        }
    }

    #[test]
    fn ninja_parser_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        parse_and_import_ninja(&text);
    }

    #[test]
    fn ninja_parser_and_import_never_panic_on_ninja_like_text(text in ninja_like_text()) {
        parse_and_import_ninja(&text);
    }

    #[test]
    fn graph_validation_never_panics_on_graph_like_text(text in graph_like_text()) {
        let file = Path::new("reprobe.toml");
        if let Ok(parsed) = parse_graph_text(file, &text) {
            let _ = Graph::from_file(parsed, file, Path::new("/nonexistent/reprobe-prop"));
        }
    }

    #[test]
    fn valid_graphs_round_trip_through_toml_and_json(graph in graph_file()) {
        let toml_text = toml::to_string(&graph).expect("a graph prints as TOML");
        let back = parse_graph_text(Path::new("reprobe.toml"), &toml_text)
            .map_err(|(_, p)| p.to_string());
        prop_assert_eq!(back.as_ref(), Ok(&graph), "{}", toml_text);
        let json_text = serde_json::to_string(&graph).expect("a graph prints as JSON");
        let back = parse_graph_text(Path::new("g.json"), &json_text)
            .map_err(|(_, p)| p.to_string());
        prop_assert_eq!(back.as_ref(), Ok(&graph));
    }

    #[test]
    fn valid_graphs_pass_validation(graph in graph_file()) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("reprobe.toml");
        let validated = Graph::from_file(graph.clone(), &file, dir.path());
        prop_assert!(validated.is_ok(), "{:?}", validated.err().map(|e| e.to_string()));
        prop_assert_eq!(validated.unwrap().steps.len(), graph.steps.len());
    }

    #[test]
    fn manifest_reader_never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = Manifest::from_json(Path::new("m.json"), &text);
    }

    #[test]
    fn manifest_reader_never_panics_on_arbitrary_json(value in arbitrary_json()) {
        let _ = Manifest::from_json(Path::new("m.json"), &value.to_string());
    }
}

#[test]
fn a_real_manifest_round_trips_byte_for_byte() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds/manifest_read/multi-step.manifest.json");
    let manifest = Manifest::read(&seed).expect("the seed manifest reads");
    let text = manifest.to_json();
    let again = Manifest::from_json(Path::new("m.json"), &text).expect("reads back");
    assert_eq!(again.to_json(), text);
}
