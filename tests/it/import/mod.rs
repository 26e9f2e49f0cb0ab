//! The importer on hand-written build files: roots, absolute paths, phony aliases,
//! depfiles and order-only inputs, without running anything.

mod corpus;
mod fuzz_regressions;
mod parser_properties;
mod roundtrip;
mod validate;

use std::fs;
use std::path::Path;

use reprobe::model::graph::Command;
use reprobe::sources::ninja::{import, ImportOptions};

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn run(step: &reprobe::model::graph::StepDecl) -> String {
    match &step.run {
        Command::Shell(s) => s.clone(),
        Command::Argv(a) => a.join(" "),
    }
}

#[test]
fn absolute_source_paths_are_mapped_to_the_common_root() {
    let dir = tempfile::tempdir().unwrap();
    let proj = fs::canonicalize(dir.path()).unwrap();
    let abs = proj.display();
    write(&proj, "src/a.c", "int a;");
    write(&proj, "src/a.h", "");
    write(
        &proj,
        "out/build.ninja",
        &format!(
            "rule cc\n  command = cc -I{abs}/src -c $in -o $out\n  depfile = $out.d\nrule ar\n  command = ar rcs $out $in\nbuild obj/a.o: cc {abs}/src/a.c\nbuild lib.a: ar obj/a.o\nbuild all: phony lib.a\ndefault all\n"
        ),
    );
    write(
        &proj,
        "out/obj/a.o.d",
        &format!("obj/a.o: {abs}/src/a.c {abs}/src/a.h /usr/include/stdio.h\n"),
    );
    let imported = import(&proj.join("out/build.ninja"), &ImportOptions::default()).unwrap();
    assert_eq!(imported.root, proj);
    assert_eq!(imported.build_dir, "out");
    let compile = &imported.graph.steps["obj_a.o"];
    assert_eq!(compile.inputs, ["src/a.c", "src/a.h"]);
    assert_eq!(compile.outputs, ["out/obj/a.o"]);
    assert_eq!(
        run(compile),
        "mkdir -p out/obj && cd out || exit 1\ncc -I${REPROBE_ROOT}/src -c ${REPROBE_ROOT}/src/a.c -o obj/a.o"
    );
    let lib = &imported.graph.steps["lib.a"];
    assert_eq!(lib.deps, ["obj_a.o"]);
    assert!(imported.undiscovered.is_empty());
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.contains("/usr/include/stdio.h")),
        "{:?}",
        imported.notes
    );
}

#[test]
fn order_only_inputs_are_deps_only_while_discovery_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "gen.sh", "");
    write(root, "a.c", "");
    write(
        root,
        "build.ninja",
        "rule gen\n  command = sh gen.sh > $out\nrule cc\n  command = cc -c $in -o $out\n  deps = gcc\n  depfile = $out.d\nrule link\n  command = cc $in -o $out\nbuild gen.h: gen gen.sh\nbuild headers: phony gen.h\nbuild a.o: cc a.c || headers\nbuild app: link a.o || headers\n",
    );
    let imported = import(&root.join("build.ninja"), &ImportOptions::default()).unwrap();
    assert_eq!(imported.graph.steps["a.o"].deps, ["gen.h"]);
    assert!(
        imported.graph.steps["app"].deps == ["a.o"],
        "order-only inputs of a link order only"
    );
    assert_eq!(imported.undiscovered, ["a.o"]);

    write(root, "a.o.d", "a.o: a.c\n");
    let imported = import(&root.join("build.ninja"), &ImportOptions::default()).unwrap();
    assert!(
        imported.graph.steps["a.o"].deps.is_empty(),
        "the depfile says a.c does not include gen.h"
    );
    assert!(imported.undiscovered.is_empty());
}

#[test]
fn a_root_that_does_not_hold_the_sources_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "src/a.c", "");
    write(
        root,
        "build/build.ninja",
        "rule cc\n  command = cc -c $in\nbuild a.o: cc ../src/a.c\n",
    );
    let options = ImportOptions {
        root: Some(root.join("build")),
        ..ImportOptions::default()
    };
    let err = import(&root.join("build/build.ninja"), &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not inside the graph's root"), "{err}");
}
