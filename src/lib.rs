//! reprobe: tells whether builds are reproducible and why caches miss.
//!
//! The modules are layers; each imports only the ones listed before it (see
//! docs/ARCHITECTURE.md):
//! [`fsafe`] → [`model`] → [`sources`], [`sandbox`], [`store`], [`diff`], [`attest`], [`remote`] →
//! [`engine`] → [`report`] → [`cli`]. The binary in `main.rs` only calls [`cli`].

pub(crate) mod fsafe;
pub mod model;

pub mod diff;
pub mod sandbox;
pub mod sources;
pub mod store;

pub mod attest;
pub mod remote;

pub mod engine;

pub(crate) mod report;

pub mod cli;
