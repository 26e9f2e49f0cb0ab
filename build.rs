//! Compiles the clock shim (`src/sandbox/clock_shim.c`) into a shared object that the reprobe
//! binary carries inside itself: `check` preloads it into steps to push their wall
//! clock, so the clock variation needs no package on the machine (see `src/clock.rs`).

use std::env;
use std::path::PathBuf;

fn main() {
    let source = "src/sandbox/clock_shim.c";
    println!("cargo:rerun-if-changed={source}");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let library = out.join("libreprobe_clock.so");
    let compiler = cc::Build::new().get_compiler();
    let status = compiler
        .to_command()
        .args([
            "-shared",
            "-fPIC",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Wno-nonnull-compare",
        ])
        .arg("-o")
        .arg(&library)
        .arg(source)
        .arg("-ldl")
        .status()
        .unwrap_or_else(|err| panic!("cannot run the C compiler for {source}: {err}"));
    assert!(status.success(), "the C compiler failed on {source}");
}
