//! What reprobe does with a graph: run it ([`exec`]), vary and compare two builds
//! ([`variation`], [`check`]), explain a rebuild from two manifests ([`explain`]) and
//! compare a build with another's ([`challenge`]); share a cache with other machines
//! ([`remote_cache`]). Built on the model, the sandbox, the
//! store and the diff engine; rendered by [`crate::report`] and [`crate::cli`].

/// The schema of every report: `check`, `explain`, `challenge` and `diff` print this
/// envelope (docs/design.md section 7a).
pub(crate) const REPORT_SCHEMA: &str = "reprobe/report/1";

pub(crate) mod attestation;
pub mod challenge;
pub(crate) mod check;
pub(crate) mod exec;
pub mod explain;
pub(crate) mod remote_cache;
pub mod variation;
