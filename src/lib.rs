//! reprobe: tells whether builds are reproducible and why caches miss.
//!
//! The library is split by concept, one module each; the binary in `main.rs` only parses
//! the command line (see [`cli`]).

pub mod cli;
pub mod diff;
pub mod error;
pub mod report;
pub mod sandbox;
