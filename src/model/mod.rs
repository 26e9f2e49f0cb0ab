//! The shared vocabulary of reprobe: what a build graph is, how its inputs and outputs are
//! hashed, what a build records (and what the sandbox found out about each step), how a
//! path is normalized lexically, and the words for what varies between builds and why
//! outputs differ ([`vocabulary`]). Everything above (sources, sandbox, store, diff,
//! engine, reports, command line) speaks in these types; this layer imports only
//! [`crate::fsafe`].

pub(crate) mod error;
pub(crate) mod fasthash;
pub(crate) mod findings;
pub mod graph;
pub mod hash;
pub mod inputs;
pub(crate) mod lexical_path;
pub mod manifest;
pub mod tree;
pub(crate) mod vocabulary;
