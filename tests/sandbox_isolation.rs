//! The sandbox isolates real build steps: each test runs real commands through
//! `reprobe::sandbox::Sandbox` (which re-executes the reprobe binary) and checks one
//! behaviour a build step must or must not have.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reprobe::sandbox::{Sandbox, SandboxOutcome, SandboxSpec, SandboxUser, StepExit};
use tempfile::TempDir;

/// One step's host side: its work directory and output files, all in a temp dir.
struct Step {
    dir: TempDir,
    spec: SandboxSpec,
}

impl Step {
    /// A step running `script` with bash, as user `builder` (1000:100) in `/build/work`.
    fn bash(script: &str) -> Step {
        let dir = tempfile::Builder::new()
            .prefix("sandbox-test-")
            .tempdir()
            .expect("temp dir");
        let work = dir.path().join("work");
        fs::create_dir(&work).expect("work dir");
        let env = BTreeMap::from([
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
            ("HOME".to_string(), "/homeless-shelter".to_string()),
            ("USER".to_string(), "builder".to_string()),
        ]);
        let spec = SandboxSpec {
            argv: vec!["bash".into(), "-c".into(), script.into()],
            env,
            host_workdir: work,
            workdir: "/build/work".into(),
            hidden: vec![],
            hostname: "reprobe-a".into(),
            domainname: "example-a".into(),
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
            timeout_secs: 60.0,
            tmp_size_bytes: 16 << 20,
            stdout: dir.path().join("stdout"),
            stderr: dir.path().join("stderr"),
        };
        Step { dir, spec }
    }

    /// Runs the step and returns its outcome.
    fn run(&self) -> SandboxOutcome {
        sandbox().run(&self.spec).expect("sandbox run")
    }

    /// Runs the step, requires success, and returns its stdout.
    fn output(&self) -> String {
        let outcome = self.run();
        assert_eq!(
            outcome.status,
            StepExit::Exited(0),
            "step failed; stderr: {}",
            self.stderr()
        );
        self.stdout()
    }

    fn stdout(&self) -> String {
        fs::read_to_string(&self.spec.stdout).expect("stdout file")
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.spec.stderr).expect("stderr file")
    }

    fn work(&self) -> &Path {
        &self.spec.host_workdir
    }
}

fn sandbox() -> Sandbox {
    Sandbox::with_exe(env!("CARGO_BIN_EXE_reprobe").into())
}

#[test]
fn a_step_runs_and_its_output_is_captured() {
    let step = Step::bash("echo hello; echo oops >&2");
    assert_eq!(step.output(), "hello\n");
    assert_eq!(step.stderr(), "oops\n");
}
