//! How a build runs: parallelism, cache use, what is recorded and observed, where work
//! directories go.

use std::path::PathBuf;

use std::sync::Arc;

use super::profile::SandboxProfile;
use crate::engine::remote_cache::RemoteTier;

/// How to run a build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Steps run at once.
    pub jobs: usize,
    /// Reuse and fill the action cache (`--no-cache` turns reuse off).
    pub use_cache: bool,
    /// The sandbox settings.
    pub profile: SandboxProfile,
    /// Keep work directories of failed steps (for debugging).
    pub keep_failed: bool,
    /// Write successful runs into the action cache (`check` does not: its builds are
    /// experiments, not artifacts to serve).
    pub record_cache: bool,
    /// Write the manifest into the store's `builds/` (the history `explain` reads).
    pub record_manifest: bool,
    /// Where work directories are made (default: the store's `tmp/`).
    pub work_root: Option<PathBuf>,
    /// Also observe the names each step looks up in its work directory (a relative
    /// `#include` of an undeclared project header). That needs an overlay on the work
    /// directory, which costs about 2.7 microseconds per open there, so `build` leaves it
    /// off and observes those names only when re-running a failed step to explain it;
    /// `check` turns it on. Network calls and opens outside the work directory (home
    /// directories, `/etc`, absolute paths into the project) are always observed.
    pub observe_work_names: bool,
    /// Verify the blobs of a cached final step before taking the hit (`--out` reads
    /// them): a corrupt one is removed and the step runs again in this build, so a
    /// flipped byte is never exported.
    pub verify_final_outputs: bool,
    /// A shared remote cache behind the local one (docs/remote.md): looked up on a local
    /// miss, and given what this build runs when `record_cache` is on.
    pub remote: Option<Arc<RemoteTier>>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            use_cache: true,
            profile: SandboxProfile::default(),
            keep_failed: false,
            record_cache: true,
            record_manifest: true,
            work_root: None,
            observe_work_names: false,
            verify_final_outputs: false,
            remote: None,
        }
    }
}
