//! The executor (split into files per concern next).

mod step_job;
pub use step_job::*;
