//! What passes between the processes of a sandbox: the request `Sandbox::run` writes
//! for the helper and the status the helper writes back, the reports init and the step
//! send the helper, and the fds the helper and init share.

use std::fs;
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::failure::SetupFailure;
use super::ids::IdMode;
use crate::model::findings::SandboxFindings;
use crate::sandbox::error::SandboxError;
use crate::sandbox::limits::LimitExceeded;
use crate::sandbox::spec::{SandboxSpec, StepExit};

/// Name prefix of the per-step temporary directories in `$TMPDIR`.
pub(crate) const SCRATCH_PREFIX: &str = "reprobe-sandbox-";

/// What `Sandbox::run` hands to the helper, as JSON in a private temporary file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HelperRequest {
    /// The step to run.
    pub spec: SandboxSpec,
    /// How sandbox ids map to host ids.
    pub ids: IdMode,
    /// The per-run temporary directory (hidden inside the sandbox).
    pub scratch_dir: PathBuf,
    /// Empty directory in `scratch_dir` where the new root tmpfs is mounted.
    pub root_dir: PathBuf,
    /// Where the helper writes its [`HelperStatus`].
    pub status_path: PathBuf,
}

impl HelperRequest {
    /// A request whose temporary paths live in `scratch`.
    pub(crate) fn new(spec: SandboxSpec, ids: IdMode, scratch: &Path) -> Self {
        HelperRequest {
            spec,
            ids,
            scratch_dir: scratch.to_path_buf(),
            root_dir: scratch.join("root"),
            status_path: scratch.join("status.json"),
        }
    }

    /// The JSON text of the request.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, SandboxError> {
        serde_json::to_vec(self).map_err(|err| SandboxError::Protocol {
            path: self.scratch_dir.join("request.json"),
            message: err.to_string(),
        })
    }
}

/// What the helper reports back in the status file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum HelperStatus {
    /// The step ran (and maybe failed or timed out).
    Finished {
        /// How it ended.
        exit: StepExit,
        /// Wall time from clone to the last process gone, in nanoseconds.
        duration_ns: u64,
        /// What the supervisor saw.
        #[serde(default)]
        findings: SandboxFindings,
        /// The limit the step most likely ran into, if it failed.
        #[serde(default)]
        exceeded: Option<LimitExceeded>,
    },
    /// The sandbox could not be built; the step did not run.
    SetupFailed(SetupFailure),
}

/// Messages from init and the step process to the helper, one JSON line each.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum InitReport {
    /// Setup failed inside the sandbox.
    Setup(SetupFailure),
    /// The step's main process ended.
    Step(StepExit),
    /// The step ran into one of its limits (sent before `Step`).
    Limit(LimitExceeded),
}

/// The write end of the report pipe, as init and the step process use it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReportPipe(pub RawFd);

impl ReportPipe {
    /// Sends one report with a single write. Reports are clipped so that they fit in the
    /// pipe's buffer: the helper reads them only after init is gone.
    pub(crate) fn send(self, report: &InitReport) {
        let clipped = match report {
            InitReport::Setup(failure) => InitReport::Setup(failure.clipped()),
            InitReport::Step(exit) => InitReport::Step(*exit),
            InitReport::Limit(limit) => InitReport::Limit(*limit),
        };
        let Ok(mut line) = serde_json::to_vec(&clipped) else {
            return;
        };
        line.push(b'\n');
        // SAFETY: the fd stays open for the life of this process; ManuallyDrop keeps
        // the File from closing it.
        let file = std::mem::ManuallyDrop::new(unsafe { fs::File::from_raw_fd(self.0) });
        let _ = (&*file).write(&line);
    }
}

/// The fds shared between the helper and init.
pub(crate) struct InitFds {
    /// Init reads one byte here once its id maps are written; EOF means the helper died.
    pub go_read: RawFd,
    /// The helper's end of the go pipe (init closes its copy).
    pub go_write: RawFd,
    /// The helper's end of the report pipe (init closes its copy).
    pub report_read: RawFd,
    /// Where init and the step send [`InitReport`]s.
    pub report: ReportPipe,
    /// The step's end of the seccomp hand-over socket, when the step is observed.
    pub observe_step: Option<RawFd>,
    /// The helper's end of it (init closes its copy).
    pub observe_helper: Option<RawFd>,
    /// Init's end of the socket it sends the tripwire's FUSE device on, when opens are
    /// observed by the tripwire (module `observe::tripwire`).
    pub tripwire_init: Option<RawFd>,
    /// The helper's end of it (init closes its copy).
    pub tripwire_helper: Option<RawFd>,
}
