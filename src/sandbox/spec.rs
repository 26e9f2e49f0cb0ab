//! What a step is and what became of it: the spec the caller hands to `Sandbox::run`,
//! the build user, and the outcome it gets back. Plain data, shared by the facade, the
//! isolation (which builds the sandbox from the spec) and the observation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::limits::{LimitExceeded, Limits};
use super::observation::Observation;
use crate::model::findings::SandboxFindings;

/// Directories hidden in every sandbox, whatever the spec says (docs/design.md section 4).
pub const ALWAYS_HIDDEN: [&str; 5] = ["/home", "/root", "/tmp", "/var/tmp", "/run"];

/// Everything needed to run one step in isolation.
///
/// Serde (de)serializable because it is passed to the re-executed helper process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Program and arguments; a shell command comes as `["/bin/sh", "-c", cmd]`.
    /// `argv[0]` without a slash is looked up in the spec's own `PATH`.
    pub argv: Vec<String>,
    /// The exact environment of the step: nothing from the caller leaks in.
    pub env: BTreeMap<String, String>,
    /// Absolute host directory, prepared by the caller with the inputs; the step's cwd.
    pub host_workdir: PathBuf,
    /// Absolute path where `host_workdir` appears inside (varies: `build_path` variation).
    pub workdir: PathBuf,
    /// Host directories that must be invisible inside (the project dir, the store), in
    /// addition to [`ALWAYS_HIDDEN`].
    pub hidden: Vec<PathBuf>,
    /// Host name seen by the step (`uname -n`).
    pub hostname: String,
    /// NIS domain name seen by the step.
    pub domainname: String,
    /// The build user the step runs as.
    pub user: SandboxUser,
    /// The step's umask, e.g. `0o022`.
    pub umask: u32,
    /// `Some(n)`: restrict CPU affinity to the first `n` allowed cores (`nproc` says `n`).
    pub cpus: Option<usize>,
    /// True only for fixed-output fetch steps: keep the host network namespace.
    pub network: bool,
    /// Wall-clock limit; the whole step is killed when it is reached.
    pub timeout_secs: f64,
    /// Memory, disk and process limits. The disk limit is the size of the one tmpfs
    /// holding the work directory, `/tmp` and `/dev/shm`.
    pub limits: Limits,
    /// Host file receiving the step's stdout (created or truncated).
    pub stdout: PathBuf,
    /// Host file receiving the step's stderr (created or truncated).
    pub stderr: PathBuf,
    /// What the supervisor watches (never anything for a `network` step).
    #[serde(default)]
    pub observation: Observation,
    /// `Some(offset)`: the clock shim ([`crate::sandbox::clock`]) and its offset file are placed in
    /// the sandbox's `/.reprobe`, for a step whose environment preloads it.
    #[serde(default)]
    pub clock_offset_secs: Option<i64>,
}

/// The identity a step runs as, with its own `/etc/passwd` and `/etc/group` entries
/// (the `user` variation changes all of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxUser {
    /// Numeric user id inside the sandbox.
    pub uid: u32,
    /// Numeric primary group id inside the sandbox.
    pub gid: u32,
    /// Login name (`id -un`, `whoami`).
    pub name: String,
    /// Name of the primary group.
    pub group: String,
    /// Home directory written to the passwd entry (the step's `HOME` comes from its env).
    pub home: PathBuf,
}

/// What happened to one step, as the build engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOutcome {
    /// How the step ended.
    pub status: StepExit,
    /// Wall time from creating the sandbox until its last process was gone.
    pub duration: Duration,
    /// What the supervisor saw: network attempts and undeclared reads.
    pub findings: SandboxFindings,
    /// For a failed (or timed-out) step, the limit it most likely ran into; for one that
    /// succeeded, a full disk or process table it reached anyway.
    pub exceeded: Option<LimitExceeded>,
}

/// How a step's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepExit {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal number.
    Signaled(i32),
    /// It ran past `timeout_secs` and was killed with everything it started.
    TimedOut,
}

impl StepExit {
    /// True when the step exited with code 0: the only successful outcome.
    pub fn success(&self) -> bool {
        matches!(self, StepExit::Exited(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exit_zero_is_success() {
        assert!(StepExit::Exited(0).success());
        assert!(!StepExit::Exited(1).success());
        assert!(!StepExit::Signaled(9).success());
        assert!(!StepExit::TimedOut.success());
    }
}
