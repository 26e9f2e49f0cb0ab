//! `import ninja` checks the graph it writes in memory (without looking at every input
//! file again): the graph must be exactly one `reprobe build` accepts, and a broken one
//! must fail with the message `Graph::from_file` gives.

use std::fs;
use std::path::{Path, PathBuf};

use reprobe::model::graph::{Graph, GraphFile};
use reprobe::sources::ninja::{import, Import, ImportOptions};

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A project with sources in several directories, a symlinked source, a generated header
/// and a phony alias, imported: the directory, the import and where its graph goes.
fn imported_project() -> (tempfile::TempDir, Import, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let imported = project(&root);
    let file = root.join("reprobe.toml");
    (dir, imported, file)
}

fn project(root: &Path) -> Import {
    write(root, "src/a.c", "int a;");
    write(root, "src/sub/b.c", "int b;");
    write(root, "src/c[1].c", "int c;");
    write(root, "src/real.c", "int r;");
    std::os::unix::fs::symlink("real.c", root.join("src/link.c")).unwrap();
    write(root, "gen.sh", "echo '#define X 1'");
    write(
        root,
        "out/build.ninja",
        "rule cc\n  command = cc -c $in -o $out\nrule gen\n  command = sh $in > $out\nrule ar\n  command = ar rcs $out $in\n\
         build gen.h: gen ../gen.sh\nbuild headers: phony gen.h\n\
         build a.o: cc ../src/a.c | headers\nbuild b.o: cc ../src/sub/b.c\nbuild l.o: cc ../src/link.c\n\
         build lib.a: ar a.o b.o l.o\nbuild all: phony lib.a\ndefault all\n",
    );
    import(&root.join("out/build.ninja"), &ImportOptions::default()).unwrap()
}

#[test]
fn an_imported_graph_checked_in_memory_is_the_graph_build_reads() {
    let (_dir, imported, file) = imported_project();
    imported.validate(&file).unwrap();

    fs::write(&file, imported.to_toml("out/build.ninja").unwrap()).unwrap();
    let text = fs::read_to_string(&file).unwrap();
    let parsed: GraphFile = toml::from_str(&text).unwrap();
    assert_eq!(parsed, imported.graph, "the fast writer's text reads back");

    let graph = Graph::load(&file).unwrap();
    assert_eq!(graph.steps.len(), imported.graph.steps.len());
    for step in &graph.steps {
        let decl = &imported.graph.steps[&step.name];
        assert_eq!(step.inputs, decl.inputs, "{}", step.name);
    }
}

#[test]
fn a_broken_graph_fails_validation_as_from_file_fails() {
    let (_dir, imported, file) = imported_project();
    // (what, step, list, value): `value` is added to that list of the step.
    let breakages = [
        ("missing input", "a.o", "inputs", "src/gone.c"),
        ("directory input (valid)", "a.o", "inputs", "src/sub"),
        ("input that is an output", "lib.a", "inputs", "out/a.o"),
        ("unknown dep", "a.o", "deps", "nothing"),
        ("cycle", "gen.h", "deps", "lib.a"),
        ("duplicate output", "b.o", "outputs", "out/a.o"),
        (
            "a file named like a glob is that file (valid)",
            "a.o",
            "inputs",
            "src/c[1].c",
        ),
        ("escaping path", "a.o", "inputs", "../x.c"),
    ];
    for (what, step, list, value) in breakages {
        let mut broken = imported.clone();
        let decl = broken.graph.steps.get_mut(step).unwrap();
        let list = match list {
            "inputs" => &mut decl.inputs,
            "deps" => &mut decl.deps,
            _ => &mut decl.outputs,
        };
        list.push(value.into());
        let in_memory = broken.validate(&file).map_err(|e| e.to_string());
        let from_file = Graph::from_file(broken.graph.clone(), &file, &broken.root)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(in_memory, from_file, "{what}");
        assert_eq!(in_memory.is_ok(), what.ends_with("(valid)"), "{what}");
    }
}
