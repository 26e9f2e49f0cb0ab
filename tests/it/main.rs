//! reprobe's integration tests: one test binary, a module per command, each driving the
//! real `reprobe` binary on real files (docs/ARCHITECTURE.md, "Tests").

mod common;
mod diff_support;

mod architecture;
mod attest;
mod attest_cli;
mod build;
mod challenge;
mod check;
mod diff;
mod explain;
mod import;
mod readme;
mod remote;
mod remote_client;
mod sandbox;
mod store;
mod whole_command;
