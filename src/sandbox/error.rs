//! Why a step could not be run in the sandbox, as opposed to a step that ran and failed.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use super::settings::SANDBOX_EXE_ENV;

/// Why a step could not be run in the sandbox (as opposed to a step that ran and failed).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel does not let reprobe create the namespaces it needs; steps are never
    /// run unisolated instead.
    #[error(
        "user namespaces are not usable: {reason}; {fix} (reprobe never runs a step unisolated)"
    )]
    Unsupported {
        /// What was found.
        reason: String,
        /// The kernel setting to change.
        fix: String,
    },
    /// The spec cannot describe a sandbox (a caller bug or a bad graph).
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    /// A host-side file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which host path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The helper process could not be started.
    #[error("cannot start the sandbox helper {}: {source}; set {SANDBOX_EXE_ENV} to the reprobe binary", exe.display())]
    Spawn {
        /// The binary that was executed.
        exe: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Building the sandbox failed (a mount, the id maps, ...); the step did not run.
    #[error("sandbox setup failed: {operation} {path}: {message}")]
    Setup {
        /// The operation that failed, e.g. "mount tmpfs on".
        operation: String,
        /// The path (or object) it was applied to.
        path: String,
        /// The OS error or explanation.
        message: String,
    },
    /// The helper ended without a report (killed, e.g. by Ctrl-C, or crashed).
    #[error(
        "the sandbox helper ended without reporting an outcome ({status}); {}",
        last_words_text(last_words)
    )]
    HelperDied {
        /// The helper's exit status.
        status: ExitStatus,
        /// The end of the step's stderr file, which the helper also writes to (the file
        /// itself is temporary and gone by the time a person reads this).
        last_words: String,
    },
    /// The fork server died while the step's helper ran (the helper and the step died
    /// with it).
    #[error("the sandbox fork server (reprobe __sandbox-server) died while the step ran, and the step's processes with it; was it killed?")]
    ServerDied,
    /// The helper's report could not be understood (a reprobe version mismatch?).
    #[error("cannot read the sandbox helper's report {}: {message}", path.display())]
    Protocol {
        /// The status file.
        path: PathBuf,
        /// What was wrong with it.
        message: String,
    },
}

/// The helper's last words for an error message.
pub(super) fn last_words_text(words: &str) -> String {
    if words.is_empty() {
        "it wrote nothing to the step's stderr".into()
    } else {
        format!("its last words on the step's stderr: {words}")
    }
}
