//! The per-step sandbox: fresh Linux namespaces around one build step.
//! (Interface stub; the implementation lands from the `sandbox` branch.)
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything needed to run one step in isolation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxSpec {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub host_workdir: PathBuf,
    pub workdir: PathBuf,
    pub hidden: Vec<PathBuf>,
    pub hostname: String,
    pub domainname: String,
    pub user: SandboxUser,
    pub umask: u32,
    pub cpus: Option<usize>,
    pub network: bool,
    pub timeout_secs: f64,
    pub tmp_size_bytes: u64,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}
/// The build user inside.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxUser {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub group: String,
    pub home: PathBuf,
}
/// Outcome.
pub struct SandboxOutcome {
    pub status: StepExit,
    pub duration: std::time::Duration,
}
/// Exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepExit {
    Exited(i32),
    Signaled(i32),
    TimedOut,
}
impl StepExit {
    pub fn success(&self) -> bool {
        *self == StepExit::Exited(0)
    }
}
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("x")]
    X,
}
pub struct Sandbox {
    exe: PathBuf,
}
impl Sandbox {
    pub fn new() -> Result<Self, SandboxError> {
        Ok(Sandbox {
            exe: PathBuf::new(),
        })
    }
    pub fn with_exe(exe: PathBuf) -> Self {
        Sandbox { exe }
    }
    pub fn check_support() -> Result<(), SandboxError> {
        Ok(())
    }
    pub fn run(&self, _spec: &SandboxSpec) -> Result<SandboxOutcome, SandboxError> {
        let _ = &self.exe;
        Err(SandboxError::X)
    }
}
pub fn helper_main(_spec_path: &Path) -> ! {
    std::process::exit(1)
}
