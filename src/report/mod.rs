//! The views of every command's result: the terminal, Markdown, HTML, JUnit XML and JSON
//! forms of what the engine and the diff engine found. No view computes a verdict: each
//! only shows what its report holds.
//!
//! One folder or file per command ([`check`], [`explain`], [`diff`], [`challenge`],
//! [`build`], [`store`], [`import`]), one file per format within it; shared by all:
//! [`table`] (terminal tables and colour), [`escape`] (the one HTML and the one Markdown
//! escaper), [`text`] (values cut, durations, argv) and [`json`] (how JSON is printed).
//! This layer sits above the engine and below the command line, which picks a view and
//! decides whether to colour.

pub(crate) mod attestation;
pub(crate) mod build;
pub(crate) mod challenge;
pub(crate) mod check;
pub(crate) mod diff;
pub(crate) mod escape;
pub(crate) mod explain;
pub(crate) mod import;
pub(crate) mod json;
pub(crate) mod store;
pub(crate) mod table;
pub(crate) mod text;
