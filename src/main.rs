//! The `reprobe` binary: parses the command line and hands off to the library.

/// mimalloc instead of glibc's malloc: the graph parsers, the importer and the diff
/// engine allocate many small strings, where it is measurably faster
/// (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    reprobe::cli::main()
}
