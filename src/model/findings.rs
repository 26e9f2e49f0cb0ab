//! What the sandbox found out about a step's hermeticity while it ran (network calls,
//! undeclared reads, limits it ran into, static programs the clock shim missed), and how
//! closely the run was watched (docs/design.md section 4). Filled by the sandbox, kept in
//! each step's manifest record and with its cache entry.

use serde::{Deserialize, Serialize};

/// A network system call a step attempted (filled by the sandbox's observer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetworkAttempt {
    /// The process inside the sandbox.
    pub pid: i32,
    /// Its command line.
    pub argv: Vec<String>,
    /// Address family: `inet`, `inet6`, `unix`.
    pub family: String,
    /// Destination address.
    pub address: String,
    /// Destination port.
    pub port: u16,
    /// For a DNS query, the name looked up.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dns_name: Option<String>,
}

/// What a step's run was observed for (docs/design.md section 4), kept with its cache entry:
/// a cache hit carries the findings of the run that made it, and is taken only when that
/// run was observed at least as closely as the current build asks. Entries written before
/// this was kept read as `build`'s old default: network calls only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// Network calls.
    pub network: bool,
    /// Opens outside the work directory.
    pub files: bool,
    /// Names looked up in the work directory.
    pub work_names: bool,
}

impl Default for Observed {
    fn default() -> Self {
        Observed {
            network: true,
            files: false,
            work_names: false,
        }
    }
}

impl Observed {
    /// True when a run observed like `self` saw everything `wanted` asks for.
    pub fn covers(&self, wanted: &Observed) -> bool {
        (self.network || !wanted.network)
            && (self.files || !wanted.files)
            && (self.work_names || !wanted.work_names)
    }
}

/// What the sandbox observed about a step's hermeticity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxFindings {
    /// Attempted network access: the first [`MAX_NETWORK_ATTEMPTS`] distinct attempts.
    pub network: Vec<NetworkAttempt>,
    /// How many more distinct attempts the step made, counted but not recorded one by
    /// one (a step sending 30,000 DNS queries would otherwise give a manifest of tens of
    /// megabytes).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub network_omitted: u64,
    /// Paths the step tried to read that it did not declare.
    pub undeclared: Vec<String>,
    /// Limits a step that succeeded still ran into (its disk filled up, its process
    /// count reached `pids`): a write or fork may have failed without failing the step.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub limits: Vec<String>,
    /// Statically linked programs the step executed while its clock was pushed through
    /// the clock shim, which they do not load: the clock variation may not reach them.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub static_programs: Vec<String>,
}

impl SandboxFindings {
    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.network.is_empty()
            && self.network_omitted == 0
            && self.undeclared.is_empty()
            && self.limits.is_empty()
    }
}

/// Most distinct network attempts a step's findings record one by one; the rest are
/// counted in [`SandboxFindings::network_omitted`].
pub const MAX_NETWORK_ATTEMPTS: usize = 100;

fn is_zero(n: &u64) -> bool {
    *n == 0
}
