//! The per-step sandbox: fresh Linux namespaces around one build step (docs/design.md section 4).
//!
//! `Sandbox::run` never forks the (multi-threaded) reprobe process to run foreign code.
//! It writes a request file and hands it to the fork server (module `isolate::server`): a
//! single-threaded `reprobe __sandbox-server` process, started once per `Sandbox`, which
//! forks a helper for the step. (Without a server, `REPROBE_FORK_SERVER=off`, reprobe
//! re-executes itself as `reprobe __sandbox FILE`; the helper is the same code.) The
//! single-threaded helper ([`helper_main`]) creates the namespaces, becomes the parent
//! of a small init process (pid 1 of the step's pid namespace) and reports the outcome
//! back through a status file. The process chain, top to bottom:
//!
//! ```text
//! reprobe ── fork server (exits when reprobe's end of its socket closes)
//!              └─ helper (host namespaces: writes the id maps, enforces the timeout)
//!                   └─ init (pid 1: builds the root filesystem, reaps, reports)
//!                        └─ step (build user, exact environment, exec)
//! ```
//!
//! Every link below the server dies with the one above it (`PR_SET_PDEATHSIG`), and
//! every process of the step dies with init (the kernel empties a pid namespace when its
//! init exits; init also kills them all itself once the step's main process has ended).
//!
//! Limits ([`Limits`], module `limits`): the work directory, `/tmp` and `/dev/shm` are
//! one tmpfs of the step's disk limit, into which init copies the prepared host work
//! directory before the step and from which it copies everything back after it; memory,
//! processes and file sizes are capped with rlimits.
//!
//! Ids: when reprobe runs as root, sandbox id `n` is host id `3_000_000 + n` (the work
//! directory is chowned to the build user for the step and back to the caller after),
//! so the step owns nothing on the host and cannot read root-only files. Run by an
//! ordinary user, the build user is that user. A build user with uid 0 runs in a nested
//! user namespace where every mount is locked, so it cannot unmount what hides host
//! directories.
//!
//! A reprobe killed with SIGKILL cannot remove its steps' temporary directories in
//! `$TMPDIR`: its fork server, which sees its control socket close, ends those steps and
//! removes them. Known limits: with `REPROBE_FORK_SERVER=off` they stay;
//! `/proc/self/mountinfo` inside still names the host path of the work directory;
//! mount_setattr(2) needs Linux 5.12.
//!
//! The code is in two parts: `isolate` builds the sandbox (namespaces, root file
//! system, ids, limits, the helper, init and the fork server), `observe` watches the
//! step from outside (the supervisor, the tripwire file system, the path policy). The
//! isolation serves the observation from its helper; the observation knows nothing of
//! the isolation. Both read the spec types of the leaf modules beside this one.

pub mod clock;
mod error;
mod generated_etc;
mod isolate;
mod limits;
mod observation;
mod observe;
mod settings;
mod spec;
mod validate;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use error::SandboxError;
pub use isolate::{helper_main, server_main};
pub use limits::{
    format_size, parse_size, Enforcement, LimitExceeded, Limits, DEFAULT_DISK_BYTES,
    DEFAULT_MEMORY_BYTES, DEFAULT_PIDS,
};
pub use observation::Observation;
pub use observe::ETC_ALLOWED;
pub use settings::{
    ObserveLevel, SandboxSettings, FORK_SERVER_ENV, OBSERVE_ENV, SANDBOX_EXE_ENV, TRIPWIRE_ENV,
};
pub use spec::{SandboxOutcome, SandboxSpec, SandboxUser, StepExit, ALWAYS_HIDDEN};

use isolate::ids::{self, IdMode};
use isolate::protocol::{HelperRequest, HelperStatus, SCRATCH_PREFIX};
use isolate::server::{ForkServer, ServerError};
use validate::validate;

/// Runs build steps in sandboxes: each step's helper is forked by the fork server
/// (module `isolate::server`), or, without one, is the reprobe binary re-executed.
#[derive(Debug, Clone)]
pub struct Sandbox {
    exe: PathBuf,
    settings: SandboxSettings,
    /// Started on first use; `None` inside when it is turned off or could not start.
    server: Arc<OnceLock<Option<ForkServer>>>,
}

impl Sandbox {
    /// A sandbox runner with `settings`, whose fork server (or, without one, whose
    /// helper) is [`SandboxSettings::exe`] or else the running binary.
    pub fn new(settings: SandboxSettings) -> Result<Self, SandboxError> {
        let exe = match &settings.exe {
            Some(exe) => exe.clone(),
            None => std::env::current_exe().map_err(|source| SandboxError::Io {
                action: "locate the running reprobe binary",
                path: PathBuf::from("/proc/self/exe"),
                source,
            })?,
        };
        Ok(Sandbox {
            exe,
            settings,
            server: Arc::new(OnceLock::new()),
        })
    }

    /// A sandbox runner whose fork server (or, without one, whose helper) is `exe`, a
    /// reprobe binary, with the default settings otherwise.
    pub fn with_exe(exe: PathBuf) -> Self {
        Sandbox {
            exe: exe.clone(),
            settings: SandboxSettings {
                exe: Some(exe),
                ..SandboxSettings::default()
            },
            server: Arc::new(OnceLock::new()),
        }
    }

    /// What a step observes with this runner's settings: see
    /// [`SandboxSettings::observation`].
    pub fn observation(&self, work_names: bool) -> Observation {
        self.settings.observation(work_names)
    }

    /// The fork server, started on first use unless [`SandboxSettings::fork_server`] is
    /// off.
    fn fork_server(&self) -> Option<&ForkServer> {
        self.server
            .get_or_init(|| {
                if !self.settings.fork_server {
                    return None;
                }
                ForkServer::start(&self.exe).ok()
            })
            .as_ref()
    }

    /// Checks that this kernel lets reprobe create the namespaces a sandbox needs, so a
    /// build stops before its first step with an error naming the setting to change.
    pub fn check_support() -> Result<(), SandboxError> {
        ids::check_sysctls()?;
        ids::probe_namespaces()
    }

    /// Runs one step in a fresh sandbox and waits for it (and everything it started).
    ///
    /// Blocking, and safe to call from many threads at once: every call has its own
    /// helper process, temporary directory and namespaces.
    pub fn run(&self, spec: &SandboxSpec) -> Result<SandboxOutcome, SandboxError> {
        validate(spec)?;
        let ids = IdMode::for_caller(&spec.user)?;
        let scratch = tempfile::Builder::new()
            .prefix(SCRATCH_PREFIX)
            .permissions(fs::Permissions::from_mode(0o755))
            .tempdir()
            .map_err(|source| SandboxError::Io {
                action: "create a temporary directory in",
                path: std::env::temp_dir(),
                source,
            })?;
        let request = HelperRequest::new(spec.clone(), ids, scratch.path());
        fs::create_dir(&request.root_dir).map_err(|source| SandboxError::Io {
            action: "create the sandbox root mount point",
            path: request.root_dir.clone(),
            source,
        })?;
        let request_path = scratch.path().join("request.json");
        write_private(&request_path, &request.to_json()?)?;

        ids::hand_over_workdir(&spec.host_workdir, ids, &spec.user)?;
        let outcome = self.spawn_helper(spec, &request_path, &request.status_path);
        let taken_back = ids::take_back_workdir(&spec.host_workdir, ids);
        let outcome = outcome?;
        taken_back?;
        Ok(outcome)
    }

    /// Starts `reprobe __sandbox REQUEST`, waits for it and decodes its status file.
    fn spawn_helper(
        &self,
        spec: &SandboxSpec,
        request_path: &Path,
        status_path: &Path,
    ) -> Result<SandboxOutcome, SandboxError> {
        let stdout = create_output(&spec.stdout)?;
        let stderr = if spec.stderr == spec.stdout {
            // One file for both streams: share the open file (and its offset).
            stdout.try_clone().map_err(|source| SandboxError::Io {
                action: "duplicate the handle of",
                path: spec.stderr.clone(),
                source,
            })?
        } else {
            create_output(&spec.stderr)?
        };
        if let Some(server) = self.fork_server() {
            match server.run_helper(request_path, stdout.as_fd(), stderr.as_fd()) {
                Ok(status) => return read_status(status_path, status, &spec.stderr),
                // The server never saw the request: re-execute reprobe instead.
                Err(ServerError::Gone) => {}
                Err(ServerError::DiedDuringStep) => return Err(SandboxError::ServerDied),
                Err(ServerError::Io(source)) => {
                    return Err(SandboxError::Io {
                        action: "hand the step to the sandbox fork server",
                        path: request_path.to_path_buf(),
                        source,
                    })
                }
            }
        }
        let mut command = Command::new(&self.exe);
        command
            .arg("__sandbox")
            .arg(request_path)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let parent = std::process::id();
        // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid).
        unsafe {
            command.pre_exec(move || die_with_parent(parent));
        }
        let status = command.status().map_err(|source| SandboxError::Spawn {
            exe: self.exe.clone(),
            source,
        })?;
        read_status(status_path, status, &spec.stderr)
    }
}

/// In the forked child before exec: die when the thread that spawned us dies.
fn die_with_parent(parent: u32) -> io::Result<()> {
    // SAFETY: plain system calls with integer arguments.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::getppid() as u32 != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    Ok(())
}

/// How much of the stderr file a [`SandboxError::HelperDied`] quotes.
const LAST_WORDS_BYTES: u64 = 1024;

/// The last `max` bytes of a file, as text, trimmed; empty when it cannot be read.
fn tail_of(path: &Path, max: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut bytes = Vec::new();
    let _ = file.take(max).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).trim().to_string()
}

/// Decodes the helper's status file into the outcome or the setup error it reports.
fn read_status(
    status_path: &Path,
    status: ExitStatus,
    stderr: &Path,
) -> Result<SandboxOutcome, SandboxError> {
    let text = match fs::read_to_string(status_path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(SandboxError::HelperDied {
                status,
                last_words: tail_of(stderr, LAST_WORDS_BYTES),
            })
        }
        Err(source) => {
            return Err(SandboxError::Io {
                action: "read the sandbox status file",
                path: status_path.to_path_buf(),
                source,
            })
        }
    };
    let parsed: HelperStatus =
        serde_json::from_str(&text).map_err(|err| SandboxError::Protocol {
            path: status_path.to_path_buf(),
            message: err.to_string(),
        })?;
    match parsed {
        HelperStatus::Finished {
            exit,
            duration_ns,
            findings,
            exceeded,
        } => Ok(SandboxOutcome {
            status: exit,
            duration: Duration::from_nanos(duration_ns),
            findings,
            exceeded: exceeded.filter(|e| !exit.success() || e.matters_on_success()),
        }),
        HelperStatus::SetupFailed(failure) => Err(failure.into()),
    }
}

/// Creates (or truncates) one of the step's output files on the host.
fn create_output(path: &Path) -> Result<File, SandboxError> {
    File::create(path).map_err(|source| SandboxError::Io {
        action: "create the step output file",
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file only its owner can read (the request holds the step's environment).
fn write_private(path: &Path, contents: &[u8]) -> Result<(), SandboxError> {
    let io_err = |source| SandboxError::Io {
        action: "write the sandbox request",
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err)?;
    file.write_all(contents).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use error::last_words_text;

    #[test]
    fn a_helper_that_died_is_quoted_from_the_end_of_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stderr");
        fs::write(
            &path,
            format!("{}\nthread panicked: boom\n", "x".repeat(5000)),
        )
        .unwrap();
        let words = tail_of(&path, 30);
        assert!(words.ends_with("thread panicked: boom"), "{words}");
        assert!(words.len() <= 30);
        assert_eq!(tail_of(&dir.path().join("none"), 30), "");
        assert_eq!(last_words_text(""), "it wrote nothing to the step's stderr");
    }
}
