//! What reprobe does with a graph: run it ([`exec`]), vary and compare two builds
//! ([`variation`], [`check`]), explain a rebuild from two manifests ([`explain`]) and
//! compare a build with another's ([`challenge`]); share a cache with other machines
//! ([`remote_cache`]). Built on the model, the sandbox, the
//! store and the diff engine; rendered by [`crate::report`] and [`crate::cli`].

/// The schema of every report: `check`, `explain`, `challenge` and `diff` print this
/// envelope (docs/design.md section 7a).
pub const REPORT_SCHEMA: &str = "reprobe/report/1";

pub mod challenge;
pub mod check;
pub mod exec;
pub mod explain;
pub mod remote_cache;
pub mod variation;
