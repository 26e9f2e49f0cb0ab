//! Ninja import: a real `build.ninja` parser and its translation into a reprobe graph.
//!
//! - [`parse`] reads a `build.ninja` (with `include` and `subninja`) into a [`BuildFile`]
//!   ([`build_file`]): every edge with its paths and its evaluated command, as Ninja itself
//!   would see them, paths spelled as Ninja does ([`canonical`]) and `$in` and `$out`
//!   escaped for the shell ([`shell_escape::push_shell_escaped`]).
//! - [`print`] writes a [`BuildFile`] back as Ninja text (used by the round-trip tests).
//! - [`deps`] reads what the compiler discovered on a first build (`.ninja_deps`, depfiles).
//! - [`import`] turns the edges reachable from the default targets into a
//!   [`crate::model::graph::GraphFile`] whose root covers the build directory and the sources.

pub(crate) mod build_file;
pub(crate) mod canonical;
pub mod deps;
pub(crate) mod file_kinds;
pub mod import;
pub mod parse;
pub(crate) mod paths;
pub(crate) mod print;
pub(crate) mod shell_escape;

pub use build_file::{BuildFile, Edge, Location, NinjaError};
pub(crate) use import::load_graph;
pub use import::{import, Import, ImportOptions, GENERATED_MARK};
pub use parse::parse_str;
pub use print::to_ninja;
