//! What the supervisor watches while a step runs, as part of the step's spec, and how
//! that is described to the user (docs/design.md sections 4 and 6).

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What the sandbox's supervisor watches while a step runs (docs/design.md sections 4 and 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// Network system calls: recorded and denied, except loopback.
    pub network: bool,
    /// File opens: undeclared project files, home directories, unlisted `/etc` files.
    pub files: bool,
    /// With `files`, also the names the step looks up in its work directory that the
    /// project has and the step did not declare (a relative `#include "config.h"`). They
    /// are seen through an overlay on the work directory, which costs about 2.7
    /// microseconds on every open there; without it, only opens outside the work
    /// directory are recorded, and opens are never observed with seccomp (which costs
    /// several times the open itself) when the tripwire is missing.
    #[serde(default = "default_true")]
    pub work_names: bool,
    /// The project on the host, to which the work directory's relative paths map back.
    pub project_root: Option<PathBuf>,
    /// Host directories below the project that are never reported (the store).
    pub ignored: Vec<PathBuf>,
    /// Observe file opens with seccomp even where the tripwire could record them.
    #[serde(default)]
    pub opens_by_seccomp: bool,
    /// The statically linked programs the step executes (module `observe::execs`): `check` asks
    /// for them when it pushes the clock through the shim, which they do not load.
    #[serde(default)]
    pub static_programs: bool,
}

impl Default for Observation {
    fn default() -> Self {
        Observation {
            network: true,
            files: true,
            work_names: true,
            project_root: None,
            ignored: Vec::new(),
            opens_by_seccomp: false,
            static_programs: false,
        }
    }
}

impl Observation {
    /// What is observed, in words, for `-v`: with `fuse` false (no usable `/dev/fuse`),
    /// the fallback that applies instead of the tripwire.
    pub fn describe(&self, fuse: bool) -> String {
        let what = match (self.network, self.files, self.work_names) {
            (false, false, _) => return "observed: nothing (REPROBE_OBSERVE=off)".into(),
            (true, false, _) => "network calls; a failed step is re-run with its file opens observed too",
            (_, true, false) => "network calls and opens outside the work directory (/etc, home directories, the project's own path); a failed step is re-run with the names it looks up in its work directory observed too",
            (_, true, true) => "network calls, opens outside the work directory (/etc, home directories, the project's own path) and the names looked up in the work directory",
        };
        let fallback = match (self.files, fuse, self.seccomp_fallback()) {
            (true, false, true) => "; /dev/fuse cannot be opened, so opens are observed with seccomp, call by call",
            (true, false, false) => "; /dev/fuse cannot be opened, so only network calls are observed (and failed steps' opens, with seccomp)",
            _ => "",
        };
        format!("observed: {what}{fallback}")
    }

    /// True when `/dev/fuse` is the FUSE device (10:229) and can be opened for reading
    /// and writing, which the tripwire needs (a check from outside the sandbox, which
    /// opens it the same way).
    pub fn fuse_available() -> bool {
        use std::os::unix::fs::MetadataExt;
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .and_then(|device| device.metadata())
            .is_ok_and(|meta| meta.rdev() == libc::makedev(10, 229))
    }

    /// True when opens are observed with seccomp if the tripwire cannot be mounted: when
    /// asked for (`REPROBE_TRIPWIRE=off`) or when the work directory's names are observed too
    /// (`check`, a failed step's re-run), where a finding matters more than the cost.
    pub(crate) fn seccomp_fallback(&self) -> bool {
        self.opens_by_seccomp || self.work_names
    }
}

/// Serde default of [`Observation::work_names`]: specs written before it existed observed
/// everything.
fn default_true() -> bool {
    true
}
