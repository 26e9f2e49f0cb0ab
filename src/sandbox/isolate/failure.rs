//! A failed setup operation inside or around the sandbox (a mount, the id maps, ...):
//! what every step of building the sandbox returns, sent to the helper in a report and
//! to the caller as a [`SandboxError::Setup`].

use std::fmt::Display;
use std::io;

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use crate::sandbox::error::SandboxError;

/// A failed setup operation, with the operation and the path it was applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SetupFailure {
    /// What was being done, e.g. "mount tmpfs on".
    pub operation: String,
    /// The path or object it was done to.
    pub path: String,
    /// The OS error or explanation.
    pub message: String,
}

impl SetupFailure {
    /// A failure with an explanation.
    pub(crate) fn new(operation: &str, path: impl Display, message: impl Display) -> Self {
        SetupFailure {
            operation: operation.into(),
            path: path.to_string(),
            message: message.to_string(),
        }
    }

    /// The failure with each text clipped to [`CLIP_BYTES`], so a report always fits in
    /// the report pipe.
    pub(crate) fn clipped(&self) -> Self {
        SetupFailure {
            operation: clip(&self.operation),
            path: clip(&self.path),
            message: clip(&self.message),
        }
    }

    /// A `map_err` adapter turning an errno into a failure of `operation` on `path`.
    pub(crate) fn errno(operation: &str, path: impl Display) -> impl FnOnce(Errno) -> Self {
        let (operation, path) = (operation.to_string(), path.to_string());
        move |errno| SetupFailure {
            operation,
            path,
            message: io::Error::from(errno).to_string(),
        }
    }

    /// A `map_err` adapter turning an io error into a failure of `operation` on `path`.
    pub(crate) fn io(operation: &str, path: impl Display) -> impl FnOnce(io::Error) -> Self {
        let (operation, path) = (operation.to_string(), path.to_string());
        move |err| SetupFailure {
            operation,
            path,
            message: err.to_string(),
        }
    }
}

/// Longest text of a [`SetupFailure`] sent through the report pipe.
const CLIP_BYTES: usize = 1024;

/// `text` cut to at most [`CLIP_BYTES`] on a character boundary.
fn clip(text: &str) -> String {
    let mut end = text.len().min(CLIP_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl From<SetupFailure> for SandboxError {
    fn from(f: SetupFailure) -> Self {
        SandboxError::Setup {
            operation: f.operation,
            path: f.path,
            message: f.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_failure_texts_are_clipped_on_character_boundaries() {
        let failure = SetupFailure::new("op", "é".repeat(2000), "m");
        let clipped = failure.clipped();
        assert!(clipped.path.len() <= CLIP_BYTES);
        assert!(clipped.path.chars().all(|c| c == 'é'));
        assert_eq!(clipped.operation, "op");
    }
}
