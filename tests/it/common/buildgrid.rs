//! A real BuildGrid server for the remote cache tests.
//!
//! BuildGrid is installed by `scripts/test.sh` into the virtualenv `.venv-buildgrid` at the
//! root of the repository. [`BuildGrid::start`] writes `tests/it/buildgrid/config.yml` with a
//! free port and a private disk storage, starts `bgd server start` on it, and waits until
//! the server answers GetCapabilities. The server is killed when the value is dropped.
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reprobe::remote::{Digest, RemoteCache, RemoteOptions, RemoteUrl};

/// The instance name the test server serves.
pub const INSTANCE: &str = "reprobe-tests";

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `bgd` program of the repository's BuildGrid virtualenv.
pub fn bgd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-buildgrid/bin/bgd")
}

/// A running BuildGrid server with a private disk storage (and, for a persistent one,
/// its own Redis holding the action cache).
pub struct BuildGrid {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// The Redis server's port and process, for a persistent server.
    redis: Option<(u16, Option<Child>)>,
}

impl BuildGrid {
    /// Starts a server on a free port; panics (saying how to install BuildGrid) when `bgd`
    /// is missing, and with the server's log when it does not come up.
    pub fn start() -> BuildGrid {
        let bgd = bgd();
        assert!(
            bgd.is_file(),
            "BuildGrid is not installed at {}; run scripts/test.sh once (it creates the \
             virtualenv .venv-buildgrid with buildgrid==0.4.4)",
            bgd.display()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir(dir.path().join("cas")).expect("storage dir");
        let mut server = BuildGrid {
            dir,
            port: 0,
            child: None,
            redis: None,
        };
        server.launch(free_port());
        server
    }

    /// Starts a server whose action cache outlives restarts (`config-persistent.yml`):
    /// entries in a Redis of its own that keeps an append-only file; [`restart`](Self::restart)
    /// restarts both. Panics, saying how to install them, when Redis or BuildGrid's Redis
    /// support is missing.
    pub fn start_persistent() -> BuildGrid {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir(dir.path().join("cas")).expect("storage dir");
        fs::create_dir(dir.path().join("redis")).expect("redis dir");
        let mut server = BuildGrid {
            dir,
            port: 0,
            child: None,
            redis: Some((free_port(), None)),
        };
        server.launch_redis();
        server.launch(free_port());
        server
    }

    /// `grpc://127.0.0.1:PORT/INSTANCE`.
    pub fn url(&self) -> RemoteUrl {
        format!("grpc://127.0.0.1:{}/{INSTANCE}", self.port)
            .parse()
            .expect("a valid URL")
    }

    /// The disk storage directory of the CAS.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("cas")
    }

    /// The server's log so far (stdout and stderr).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The file in the disk storage that holds `digest`, if any (BuildGrid 0.4's disk
    /// storage keeps a blob at `cas/objects/HASH[..2]/HASH[2..]`).
    pub fn blob_file(&self, digest: &Digest) -> Option<PathBuf> {
        let hex = digest.hex();
        let path = self
            .storage_dir()
            .join("cas/objects")
            .join(&hex[..2])
            .join(&hex[2..]);
        path.is_file().then_some(path)
    }

    /// A client with short bounds, for tests.
    pub fn connect(&self) -> RemoteCache {
        RemoteCache::connect(&self.url(), test_options())
            .unwrap_or_else(|e| panic!("connect to BuildGrid: {e}\n{}", self.log()))
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The server runs in its own process group; kill the group it leads.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server without killing it (SIGSTOP): it keeps its port but answers nothing.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        let child = self.child.as_ref().expect("the server runs");
        unsafe {
            libc::kill(-(child.id() as i32), signal);
        }
    }

    /// Kills the server (and its Redis) and starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.kill();
        if self.redis.is_some() {
            self.kill_redis();
            self.launch_redis();
        }
        self.launch(self.port);
    }

    /// Starts `redis-server` with an append-only file in the server's directory and
    /// waits until it answers.
    fn launch_redis(&mut self) {
        let port = self.redis.as_ref().expect("a persistent server").0;
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(self.dir.path().join("redis"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot run redis-server ({e}); run scripts/test.sh once (it installs Debian's redis-server)")
        });
        self.redis = Some((port, Some(child)));
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops Redis (SIGTERM: it finishes writing its append-only file) and waits for it.
    fn kill_redis(&mut self) {
        if let Some((_, Some(mut child))) = self.redis.as_mut().map(|(p, c)| (*p, c.take())) {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }

    /// Writes the config for `port` and starts the server, then waits until it answers.
    fn launch(&mut self, port: u16) {
        self.port = port;
        let name = if self.redis.is_some() {
            "config-persistent.yml"
        } else {
            "config.yml"
        };
        let template = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/it/buildgrid")
                .join(name),
        )
        .unwrap_or_else(|e| panic!("read tests/it/buildgrid/{name}: {e}"));
        let redis_port = self.redis.as_ref().map_or(0, |(port, _)| *port);
        let config = template
            .replace("@REDIS_PORT@", &redis_port.to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@STORAGE@", &self.storage_dir().to_string_lossy())
            .replace("@INSTANCE@", INSTANCE);
        let config_path = self.dir.path().join("config.yml");
        fs::write(&config_path, config).expect("write config");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("server log");
        let mut command = Command::new(bgd());
        command
            .args(["server", "start"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        // Should the test process die without dropping the server, the server dies too.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().expect("start bgd");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until GetCapabilities succeeds, or panics with the log.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let options = RemoteOptions {
            connect_timeout: Duration::from_millis(500),
            call_timeout: Duration::from_secs(2),
            ..RemoteOptions::default()
        };
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("wait"))
            {
                panic!("BuildGrid exited with {status}:\n{}", self.log());
            }
            match RemoteCache::connect(&self.url(), options) {
                Ok(_) => return,
                Err(err) if Instant::now() > deadline => {
                    self.kill();
                    panic!(
                        "BuildGrid did not answer within {START_TIMEOUT:?} ({err}):\n{}",
                        self.log()
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for BuildGrid {
    fn drop(&mut self) {
        self.kill();
        self.kill_redis();
    }
}

/// Bounds short enough for tests and long enough for a loaded machine.
pub fn test_options() -> RemoteOptions {
    RemoteOptions {
        connect_timeout: Duration::from_secs(2),
        call_timeout: Duration::from_secs(10),
        ..RemoteOptions::default()
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}
