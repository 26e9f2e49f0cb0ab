//! The shared vocabulary of reprobe: what a build graph is, how its inputs and outputs are
//! hashed, what a build records, and the words for what varies between builds and why
//! outputs differ ([`vocabulary`]). Everything above (sources, sandbox, store, diff,
//! engine, reports, command line) speaks in these types; this layer imports only
//! [`crate::fsafe`].

pub mod error;
pub mod fasthash;
pub mod graph;
pub mod hash;
pub mod inputs;
pub mod manifest;
pub mod tree;
pub mod vocabulary;
