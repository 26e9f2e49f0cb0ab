//! The per-step sandbox: fresh Linux namespaces around one build step (docs/design.md section 4).
//!
//! `Sandbox::run` never forks the (multi-threaded) reprobe process to run foreign code.
//! It writes a request file and hands it to the fork server (module `server`): a
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

pub mod clock;
mod exec_step;
mod execs;
mod fuse;
mod helper;
mod ids;
mod init;
mod limits;
mod observe;
mod packages;
mod resolver;
mod rootfs;
mod seccomp;
mod server;
mod tripwire;
mod wire;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use helper::helper_main;
pub use limits::{
    format_size, parse_size, Enforcement, LimitExceeded, Limits, DEFAULT_DISK_BYTES,
    DEFAULT_MEMORY_BYTES, DEFAULT_PIDS,
};
pub use observe::ETC_ALLOWED;
pub use server::server_main;

use crate::model::findings::SandboxFindings;

use helper::{HelperRequest, HelperStatus, SetupFailure};
use ids::IdMode;
use server::{ForkServer, ServerError};

/// Environment variable that overrides the binary re-executed as the sandbox helper.
///
/// Integration tests of the library run inside the test harness, whose `current_exe` is
/// not reprobe; they point this at `env!("CARGO_BIN_EXE_reprobe")`.
pub const SANDBOX_EXE_ENV: &str = "REPROBE_SANDBOX_EXE";

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

/// Environment variable overriding what is observed: `all` (network calls, file opens
/// and names looked up in the work directory), `files` (network calls and file opens
/// outside the work directory), `network`, or `off`. Meant for measuring the cost of
/// observation (`benches/observe.sh`) and for debugging.
pub const OBSERVE_ENV: &str = "REPROBE_OBSERVE";

/// Name prefix of the per-step temporary directories in `$TMPDIR`.
const SCRATCH_PREFIX: &str = "reprobe-sandbox-";

/// Environment variable: `off` observes file opens with seccomp (one round trip per
/// open) instead of the tripwire file system (module `tripwire`). For comparisons.
pub const TRIPWIRE_ENV: &str = "REPROBE_TRIPWIRE";

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
    /// The statically linked programs the step executes (module `execs`): `check` asks
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
    /// Network calls and file opens outside the work directory always, names looked up
    /// in the work directory when `work_names`; [`OBSERVE_ENV`] overrides all three.
    pub fn from_env(work_names: bool) -> Self {
        let level = std::env::var(OBSERVE_ENV).unwrap_or_default();
        let (network, files, work_names) = match level.as_str() {
            "off" => (false, false, false),
            "network" => (true, false, false),
            "files" => (true, true, false),
            "all" => (true, true, true),
            _ => (true, true, work_names),
        };
        Observation {
            network,
            files,
            work_names,
            opens_by_seccomp: std::env::var(TRIPWIRE_ENV).is_ok_and(|v| v == "off"),
            ..Observation::default()
        }
    }

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
    /// asked for ([`TRIPWIRE_ENV`]) or when the work directory's names are observed too
    /// (`check`, a failed step's re-run), where a finding matters more than the cost.
    pub(crate) fn seccomp_fallback(&self) -> bool {
        self.opens_by_seccomp || self.work_names
    }

    /// The calls the step's filter sends to the supervisor (none for a fetch step).
    pub(crate) fn filter_set(&self, network_step: bool) -> Option<seccomp::FilterSet> {
        let set = seccomp::FilterSet {
            network: self.network && !network_step,
            files: self.files && !network_step,
            execs: self.static_programs && !network_step,
        };
        (set.network || set.files || set.execs).then_some(set)
    }
}

/// Serde default of [`Observation::work_names`]: specs written before it existed observed
/// everything.
fn default_true() -> bool {
    true
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

impl From<SetupFailure> for SandboxError {
    fn from(f: SetupFailure) -> Self {
        SandboxError::Setup {
            operation: f.operation,
            path: f.path,
            message: f.message,
        }
    }
}

/// Environment variable that turns the fork server off (`off`): every step then
/// re-executes reprobe as its helper. For measuring what the server saves, and a way out
/// should it misbehave.
pub const FORK_SERVER_ENV: &str = "REPROBE_FORK_SERVER";

/// Runs build steps in sandboxes: each step's helper is forked by the fork server
/// (module `server`), or, without one, is the reprobe binary re-executed.
#[derive(Debug, Clone)]
pub struct Sandbox {
    exe: PathBuf,
    /// Started on first use; `None` inside when it is turned off or could not start.
    server: Arc<OnceLock<Option<ForkServer>>>,
}

impl Sandbox {
    /// A sandbox runner using the running binary, or `$REPROBE_SANDBOX_EXE`.
    pub fn new() -> Result<Self, SandboxError> {
        if let Some(exe) = std::env::var_os(SANDBOX_EXE_ENV) {
            return Ok(Self::with_exe(exe.into()));
        }
        let exe = std::env::current_exe().map_err(|source| SandboxError::Io {
            action: "locate the running reprobe binary",
            path: PathBuf::from("/proc/self/exe"),
            source,
        })?;
        Ok(Self::with_exe(exe))
    }

    /// A sandbox runner whose fork server (or, without one, whose helper) is `exe`, a
    /// reprobe binary.
    pub fn with_exe(exe: PathBuf) -> Self {
        Sandbox {
            exe,
            server: Arc::new(OnceLock::new()),
        }
    }

    /// The fork server, started on first use unless [`FORK_SERVER_ENV`] is `off`.
    fn fork_server(&self) -> Option<&ForkServer> {
        self.server
            .get_or_init(|| {
                if std::env::var(FORK_SERVER_ENV).is_ok_and(|v| v == "off") {
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

/// The helper's last words for an error message.
fn last_words_text(words: &str) -> String {
    if words.is_empty() {
        "it wrote nothing to the step's stderr".into()
    } else {
        format!("its last words on the step's stderr: {words}")
    }
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

/// Rejects specs that cannot describe a sandbox, before anything is created.
fn validate(spec: &SandboxSpec) -> Result<(), SandboxError> {
    let bad = |msg: String| Err(SandboxError::InvalidSpec(msg));
    if spec.argv.is_empty() || spec.argv[0].is_empty() {
        return bad("argv is empty: there is no program to run".into());
    }
    let mut strings = spec
        .argv
        .iter()
        .chain(spec.env.keys())
        .chain(spec.env.values());
    if let Some(s) = strings.find(|s| s.contains('\0')) {
        return bad(format!("{s:?} contains a NUL byte"));
    }
    if let Some(key) = spec.env.keys().find(|k| k.is_empty() || k.contains('=')) {
        return bad(format!(
            "environment variable name {key:?} is empty or contains '='"
        ));
    }
    check_dir_path("host_workdir", &spec.host_workdir)?;
    check_dir_path("workdir", &spec.workdir)?;
    for hidden in &spec.hidden {
        check_dir_path("hidden", hidden)?;
    }
    ids::check_user(&spec.user)?;
    check_names(spec)?;
    if spec.umask > 0o777 {
        return bad(format!("umask {:o} is larger than 0777", spec.umask));
    }
    if spec.cpus == Some(0) {
        return bad("cpus is Some(0): a step needs at least one core".into());
    }
    if !(spec.timeout_secs.is_finite() && spec.timeout_secs > 0.0) {
        return bad(format!(
            "timeout_secs {} is not a positive number",
            spec.timeout_secs
        ));
    }
    let limits = &spec.limits;
    if limits.disk_bytes == 0 || limits.memory_bytes == 0 || limits.pids == 0 {
        return bad(format!("limits must be positive: {limits:?}"));
    }
    Ok(())
}

/// Host and domain names must be settable (at most 64 bytes, no NUL).
fn check_names(spec: &SandboxSpec) -> Result<(), SandboxError> {
    for (what, name) in [
        ("hostname", &spec.hostname),
        ("domainname", &spec.domainname),
    ] {
        if name.len() > 64 || name.contains(['\0', '\n']) {
            return Err(SandboxError::InvalidSpec(format!(
                "{what} {name:?} is longer than 64 bytes or contains NUL/newline"
            )));
        }
    }
    if spec.hostname.is_empty() {
        return Err(SandboxError::InvalidSpec("hostname is empty".into()));
    }
    Ok(())
}

/// A directory path the sandbox mounts on or over: absolute, normal, not `/`.
fn check_dir_path(what: &str, path: &Path) -> Result<(), SandboxError> {
    let normal = path.is_absolute()
        && path.components().count() > 1
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if normal {
        Ok(())
    } else {
        Err(SandboxError::InvalidSpec(format!(
            "{what} {} must be an absolute path below / without `..`",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn spec() -> SandboxSpec {
        SandboxSpec {
            argv: vec!["/bin/true".into()],
            env: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
            host_workdir: "/tmp/x".into(),
            workdir: "/build/work".into(),
            hidden: vec![],
            hostname: "reprobe".into(),
            domainname: "(none)".into(),
            user: SandboxUser {
                uid: 1000,
                gid: 100,
                name: "builder".into(),
                group: "users".into(),
                home: "/homeless-shelter".into(),
            },
            umask: 0o022,
            cpus: None,
            network: false,
            timeout_secs: 10.0,
            limits: Limits::default(),
            stdout: "/dev/null".into(),
            stderr: "/dev/null".into(),
            observation: Observation::default(),
            clock_offset_secs: None,
        }
    }

    #[test]
    fn a_plain_spec_is_valid() {
        assert!(validate(&spec()).is_ok());
    }

    #[test]
    fn relative_or_dotted_workdirs_are_rejected() {
        for bad in ["build", "/", "/build/../etc", "build/x"] {
            let mut s = spec();
            s.workdir = bad.into();
            assert!(validate(&s).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn empty_argv_zero_cpus_and_bad_timeouts_are_rejected() {
        let mut s = spec();
        s.argv.clear();
        assert!(validate(&s).is_err());
        let mut s = spec();
        s.cpus = Some(0);
        assert!(validate(&s).is_err());
        for t in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut s = spec();
            s.timeout_secs = t;
            assert!(validate(&s).is_err());
        }
    }

    #[test]
    fn only_exit_zero_is_success() {
        assert!(StepExit::Exited(0).success());
        assert!(!StepExit::Exited(1).success());
        assert!(!StepExit::Signaled(9).success());
        assert!(!StepExit::TimedOut.success());
    }
}
