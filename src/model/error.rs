//! Exit codes shared by every command: they are part of reprobe's interface.

/// The process exit codes of docs/design.md section 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything succeeded and nothing was found.
    Ok = 0,
    /// The command ran and has findings (differences, nondeterminism, disagreement).
    Findings = 1,
    /// The input (graph, manifest, flags, files) was unusable.
    BadInput = 2,
    /// A build step failed.
    StepFailed = 3,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}
