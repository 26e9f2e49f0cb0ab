//! Replays the fuzz seeds and every crashing input the fuzzers ever found
//! (`fuzz/regressions/TARGET/*`) through the same code as the fuzz targets, so a fixed
//! crash stays fixed without a nightly toolchain.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/fuzz_targets/shape.rs"]
mod shape;

#[path = "../../../fuzz/fuzz_targets/ninja_input.rs"]
mod ninja_input;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files: Vec<PathBuf> = ["seeds", "regressions"]
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(root.join(dir).join(target))
                .into_iter()
                .flatten()
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: impl Fn(&[u8])) -> usize {
    let files = inputs(target);
    for file in &files {
        let data = std::fs::read(file).expect("readable input");
        eprintln!("{target}: {}", file.display());
        run(&data);
    }
    files.len()
}

#[test]
fn graph_parser_inputs_replay_without_panic() {
    let n = replay("graph_parse", |data| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        for file in ["reprobe.toml", "graph.json"] {
            let file = Path::new(file);
            if let Ok(parsed) = reprobe::model::graph::parse_graph_text(file, text) {
                let root = Path::new("/nonexistent/reprobe-fuzz");
                let _ = reprobe::model::graph::Graph::from_file(parsed, file, root);
            }
        }
    });
    assert!(n > 0, "no graph seeds");
}

#[test]
fn manifest_reader_inputs_replay_without_panic() {
    let n = replay("manifest_read", |data| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let path = Path::new("fuzz.json");
        if let Ok(m) = reprobe::model::manifest::Manifest::from_json(path, text) {
            assert!(reprobe::model::manifest::Manifest::from_json(path, &m.to_json()).is_ok());
        }
    });
    assert!(n > 0, "no manifest seeds");
}

macro_rules! diff_replay {
    ($test:ident, $target:literal, $kind:ident) => {
        #[test]
        fn $test() {
            let n = replay($target, |data| shape::diff(shape::Kind::$kind, data));
            assert!(n > 0, concat!("no seeds for ", $target));
        }
    };
}

diff_replay!(tar_inputs_replay_without_panic, "diff_tar", Tar);
diff_replay!(gzip_inputs_replay_without_panic, "diff_gzip", Gzip);
diff_replay!(xz_inputs_replay_without_panic, "diff_xz", Xz);
diff_replay!(zstd_inputs_replay_without_panic, "diff_zstd", Zstd);
diff_replay!(zip_inputs_replay_without_panic, "diff_zip", Zip);
diff_replay!(ar_inputs_replay_without_panic, "diff_ar", Ar);
diff_replay!(elf_inputs_replay_without_panic, "diff_elf", Elf);
diff_replay!(json_inputs_replay_without_panic, "diff_json", Json);
diff_replay!(text_inputs_replay_without_panic, "diff_text", Text);

#[test]
fn ninja_parser_inputs_replay_without_panic() {
    let n = replay("ninja_parse", ninja_input::exercise);
    assert!(n > 0, "no Ninja seeds");
}
