//! reprobe: tells whether builds are reproducible and why caches miss.
//!
//! The library is split by concept, one module each; the binary in `main.rs` only parses
//! the command line (see [`cli`]).

pub mod challenge;
pub mod check;
pub mod cli;
pub mod clock;
pub mod diff;
pub mod error;
pub mod exec;
pub mod explain;
pub mod fsafe;
pub mod graph;
pub mod hash;
pub mod inputs;
pub mod manifest;
pub mod ninja;
pub mod remote;
pub mod report;
pub mod sandbox;
pub mod store;
pub mod tree;
pub mod variation;
pub mod wholecmd;
