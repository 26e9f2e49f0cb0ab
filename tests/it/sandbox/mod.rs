//! The sandbox isolates real build steps: each test runs real commands through
//! `reprobe::sandbox::Sandbox` (which re-executes the reprobe binary) and checks one
//! behaviour a build step must or must not have.

mod hermetic;

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reprobe::sandbox::{Limits, Sandbox, SandboxOutcome, SandboxSpec, SandboxUser, StepExit};
use tempfile::TempDir;

/// One step's host side: its work directory and output files, all in a temp dir.
struct Step {
    _dir: TempDir,
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
            limits: Limits {
                disk_bytes: 16 << 20,
                ..Limits::default()
            },
            stdout: dir.path().join("stdout"),
            stderr: dir.path().join("stderr"),
            observation: Default::default(),
            clock_offset_secs: None,
        };
        Step { _dir: dir, spec }
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

    /// Replaces the step's command with a plain argv (no shell).
    fn argv(mut self, argv: &[&str]) -> Step {
        self.spec.argv = argv.iter().map(|a| a.to_string()).collect();
        self
    }
}

/// A marker no other process on the machine has in its command line.
fn unique_marker(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("reprobe-marker-{name}-{}-{nanos}", std::process::id())
}

/// Host processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let cmdline = entry.path().join("cmdline");
        if let Ok(bytes) = fs::read(&cmdline) {
            let text = String::from_utf8_lossy(&bytes).replace('\0', " ");
            if text.contains(marker) {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// A directory outside every always-hidden location (/tmp, /home, /root, ...).
fn visible_temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("sandbox-project-")
        .tempdir_in(common::sandbox_visible_tmp())
        .expect("temp dir in the target dir")
}

/// Kills and reaps a host process at the end of a test.
struct HostProcess(std::process::Child);

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

#[test]
fn a_tcp_connection_to_a_host_listener_fails_and_reaches_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let step = Step::bash(&format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"
    ));
    let outcome = step.run();
    assert!(!outcome.status.success(), "connected: {}", step.stdout());
    assert_eq!(step.stdout(), "");
    match listener.accept() {
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the host listener saw a connection: {other:?}"),
    }
}

#[test]
fn a_tcp_connection_to_a_public_address_fails() {
    let step = Step::bash("exec 3<>/dev/tcp/1.1.1.1/80 && echo connected");
    assert!(!step.run().status.success());
    assert_eq!(step.stdout(), "");
}

#[test]
fn name_resolution_fails() {
    let step = Step::bash("getent hosts example.org");
    assert!(!step.run().status.success(), "resolved: {}", step.stdout());
}

/// A DNS server on the host answering every A query with 10.1.2.3, counting queries.
struct HostResolver {
    port: u16,
    queries: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HostResolver {
    fn start() -> HostResolver {
        use std::sync::atomic::Ordering;
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp socket");
        let port = socket.local_addr().expect("address").port();
        let queries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = queries.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                counted.fetch_add(1, Ordering::SeqCst);
                if n < 12 {
                    continue;
                }
                let mut answer = buf[..n].to_vec();
                answer[2..4].copy_from_slice(&[0x81, 0x80]); // response, no error
                answer[6..8].copy_from_slice(&[0, 1]); // one answer
                answer.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                answer.extend_from_slice(&[10, 1, 2, 3]);
                let _ = socket.send_to(&answer, peer);
            }
        });
        HostResolver { port, queries }
    }

    fn queries(&self) -> usize {
        self.queries.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An address of this host that is not loopback (loopback inside the sandbox is the
/// step's own), or 127.0.0.1 when the host has none.
fn host_address() -> String {
    let out = Command::new("hostname").arg("-I").output();
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "127.0.0.1".to_string())
}

/// Sends one DNS query for `reprobe-test.example` to argv[1]:argv[2] and prints the
/// answer's address, or `error` and the errno.
const DNS_CLIENT: &str = "import socket, struct, sys\n\
    q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0)\n\
    q += b''.join(bytes([len(p)]) + p.encode() for p in 'reprobe-test.example'.split('.'))\n\
    q += b'\\0' + struct.pack('>HH', 1, 1)\n\
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)\n\
    try:\n\
    \x20   s.sendto(q, (sys.argv[1], int(sys.argv[2]))); d, _ = s.recvfrom(512)\n\
    \x20   print('answer', '.'.join(map(str, d[-4:])))\n\
    except OSError as e:\n\
    \x20   print('error', e.errno)\n";

#[test]
fn a_name_lookup_sent_to_a_resolver_on_the_host_gets_no_answer_and_reaches_nothing() {
    let resolver = HostResolver::start();
    let address = host_address();
    let port = resolver.port.to_string();
    // Control: from the host, the resolver answers.
    let control = Command::new("python3")
        .args(["-c", DNS_CLIENT, &address, &port])
        .output()
        .expect("python3 runs");
    assert_eq!(
        String::from_utf8_lossy(&control.stdout).trim(),
        "answer 10.1.2.3",
        "the host reaches its resolver: {}",
        String::from_utf8_lossy(&control.stderr)
    );
    let before = resolver.queries();
    let step = Step::bash("").argv(&["python3", "-c", DNS_CLIENT, &address, &port]);
    let out = step.output();
    assert!(out.starts_with("error"), "the step resolved a name: {out}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(resolver.queries(), before, "a query left the sandbox");
}

#[test]
fn the_only_network_interface_is_loopback_and_it_is_up() {
    let step = Step::bash("ls /sys/class/net; cat /proc/net/dev | tail -n +3 | cut -d: -f1");
    let out = step.output();
    let names: Vec<&str> = out.split_whitespace().collect();
    assert!(names.iter().all(|n| *n == "lo"), "interfaces: {names:?}");
    let flags = Step::bash("cat /sys/class/net/lo/flags").output();
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).expect("flags");
    assert_eq!(flags & 1, 1, "lo is down: {flags:#x}");
}

#[test]
fn loopback_inside_the_sandbox_works() {
    let script = "import socket\n\
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n\
        c = socket.create_connection(s.getsockname()); a, _ = s.accept()\n\
        c.sendall(b'ping'); print(a.recv(4).decode())\n";
    let step = Step::bash("").argv(&["python3", "-c", script]);
    assert_eq!(step.output(), "ping\n");
}

#[test]
fn network_steps_keep_the_host_network() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let mut step = Step::bash(&format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"
    ));
    step.spec.network = true;
    assert_eq!(step.output(), "connected\n");
    assert!(listener.accept().is_ok());
}

#[test]
fn a_network_step_keeps_every_other_isolation() {
    let project = visible_temp_dir();
    fs::write(project.path().join("secret.txt"), "s3cret").expect("secret");
    let path = project.path().display().to_string();
    let script = format!(
        "cat {path}/secret.txt 2>/dev/null && echo SEEN\n\
         echo homes: $(ls -A /root /home)\n\
         echo host: $(hostname)\n\
         echo processes: $(ls /proc | grep -c '^[0-9]')\n\
         echo x > /usr/reprobe-probe 2>/dev/null && echo WROTE\n\
         echo env: $(env | cut -d= -f1 | grep -v -x -e PWD -e SHLVL -e _ | sort | tr '\\n' ' ')\n"
    );
    let mut step = Step::bash(&script);
    step.spec.network = true;
    step.spec.hidden = vec![project.path().to_path_buf()];
    let out = step.output();
    assert!(!out.contains("SEEN") && !out.contains("WROTE"), "{out}");
    assert!(out.contains("homes: /home: /root:\n"), "{out}");
    assert!(out.contains("host: reprobe-a\n"), "{out}");
    let processes: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("processes: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("process count");
    assert!(processes < 8, "sees host processes: {out}");
    assert!(out.contains("env: HOME PATH USER\n"), "{out}");
}

#[test]
fn a_hidden_directory_is_invisible_even_by_absolute_path() {
    let project = visible_temp_dir();
    fs::write(project.path().join("secret.txt"), "s3cret").expect("secret");
    let path = project.path().display().to_string();
    let script = format!("cat {path}/secret.txt; ls -A {path}; echo end");

    let control = Step::bash(&script);
    assert!(
        control.output().contains("s3cret"),
        "control cannot see the project"
    );

    let mut step = Step::bash(&script);
    step.spec.hidden = vec![project.path().to_path_buf()];
    let out = step.output();
    assert_eq!(out, "end\n", "hidden project visible: {out}");
    assert!(step.stderr().contains("No such file"), "{}", step.stderr());
}

#[test]
fn root_and_home_directories_look_empty() {
    let step = Step::bash("ls -A /root /home /run; echo end");
    assert_eq!(step.output(), "/home:\n\n/root:\n\n/run:\nend\n");
}

#[test]
fn writes_outside_the_work_directory_and_tmp_fail() {
    let places = [
        "/", "/usr", "/etc", "/var/tmp", "/build", "/dev", "/proc", "/root", "/run",
    ];
    for place in places {
        let step = Step::bash(&format!("echo x > {place}/reprobe-probe && echo wrote"));
        assert!(!step.run().status.success(), "{place} is writable");
        assert_eq!(step.stdout(), "");
    }
    assert!(!Path::new("/reprobe-probe").exists());
}

#[test]
fn the_work_directory_tmp_and_dev_shm_are_writable() {
    let marker = unique_marker("shm");
    let step = Step::bash(&format!(
        "echo a > out.txt && echo b > /tmp/t && echo c > /dev/shm/{marker} && cat /tmp/t /dev/shm/{marker}"
    ));
    assert_eq!(step.output(), "b\nc\n");
    let out = step.work().join("out.txt");
    assert_eq!(fs::read_to_string(&out).expect("output on the host"), "a\n");
    let host_shm = Path::new("/dev/shm").join(&marker);
    assert!(!host_shm.exists(), "sandbox /dev/shm leaked to the host");
}

#[test]
fn outputs_belong_to_the_caller_after_the_step() {
    use std::os::unix::fs::MetadataExt;
    let step = Step::bash("mkdir -p d && echo a > d/f");
    step.output();
    for path in [step.work().join("d"), step.work().join("d/f")] {
        let meta = fs::metadata(&path).expect("output");
        assert_eq!(
            meta.uid(),
            nix::unistd::geteuid().as_raw(),
            "{}",
            path.display()
        );
        assert_eq!(
            meta.gid(),
            nix::unistd::getegid().as_raw(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn tmp_is_private() {
    let host_file = tempfile::Builder::new()
        .prefix("reprobe-host-only-")
        .tempfile_in("/tmp")
        .expect("host tmp file");
    let name = host_file
        .path()
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    let marker = unique_marker("tmp");
    let step = Step::bash(&format!(
        "ls -A /tmp; test -e /tmp/{name} && echo visible; echo x > /tmp/{marker}"
    ));
    assert_eq!(step.output(), "");
    assert!(
        !Path::new("/tmp").join(&marker).exists(),
        "sandbox /tmp leaked to the host"
    );
}

#[test]
fn host_processes_are_invisible_and_cannot_be_signalled() {
    let sleeper = HostProcess(
        Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("host sleep"),
    );
    let pid = sleeper.0.id();
    let step = Step::bash(&format!(
        "kill -TERM {pid} && echo killed; ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '"
    ));
    let out = step.output();
    assert!(!out.contains("killed"), "{out}");
    let pids: Vec<u32> = out
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(!pids.contains(&pid), "host pid visible: {pids:?}");
    // init, bash, and the pipeline's ls/grep/tr at most.
    assert!(pids.len() <= 5 && pids.contains(&1), "pids: {pids:?}");
    let alive = fs::read_to_string(format!("/proc/{pid}/stat")).expect("host sleep still alive");
    assert!(!alive.contains(") Z "), "host sleep was killed");
}

#[test]
fn no_process_survives_the_step() {
    let marker = unique_marker("daemon");
    let step = Step::bash(&format!(
        "setsid bash -c 'touch started; sleep 1000; : {marker}' >/dev/null 2>&1 & \
         while [ ! -e started ]; do sleep 0.01; done; exit 0"
    ));
    assert_eq!(step.run().status, StepExit::Exited(0), "{}", step.stderr());
    assert!(
        step.work().join("started").exists(),
        "the daemon never started"
    );
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

#[test]
fn a_timeout_kills_the_step_and_everything_it_started() {
    let marker = unique_marker("timeout");
    let mut step = Step::bash(&format!(
        "setsid bash -c 'sleep 1000; : {marker}' >/dev/null 2>&1 & sleep 1000"
    ));
    step.spec.timeout_secs = 1.0;
    let start = Instant::now();
    let outcome = step.run();
    assert_eq!(outcome.status, StepExit::TimedOut);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

#[test]
fn the_environment_is_exactly_the_spec() {
    std::env::set_var("REPROBE_TEST_LEAK", "leaked-from-the-test-process");
    let mut step = Step::bash("").argv(&["env"]);
    step.spec.env.insert("LANG".into(), "C.UTF-8".into());
    let out = step.output();
    let seen: BTreeMap<String, String> = out
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(seen, step.spec.env);
    assert!(!out.contains("leaked-from-the-test-process"));
}

#[test]
fn the_step_starts_with_no_signal_ignored_or_blocked() {
    // reprobe ignores SIGPIPE (as every Rust program does); the step must not inherit it.
    let step = Step::bash("grep -E '^Sig(Ign|Blk)' /proc/self/status; yes | head -n 1");
    assert_eq!(
        step.output(),
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\ny\n"
    );
}

#[test]
fn hostname_and_domainname_are_as_specified() {
    let step = Step::bash("hostname; domainname; uname -n; cat /etc/hostname");
    assert_eq!(
        step.output(),
        "reprobe-a\nexample-a\nreprobe-a\nreprobe-a\n"
    );
}

#[test]
fn the_user_is_as_specified() {
    let step = Step::bash("id -un; whoami; id -u; id -g; id -gn; id -G; getent passwd builder");
    assert_eq!(
        step.output(),
        "builder\nbuilder\n1000\n100\nusers\n100\n\
         builder:x:1000:100:builder:/homeless-shelter:/bin/sh\n"
    );
}

#[test]
fn a_second_user_gets_its_own_passwd_entry() {
    let mut step = Step::bash("id -un; id -u; id -gn; echo ~");
    step.spec.user = SandboxUser {
        uid: 2345,
        gid: 2345,
        name: "other".into(),
        group: "othergrp".into(),
        home: "/home/other".into(),
    };
    step.spec.env.remove("HOME");
    assert_eq!(step.output(), "other\n2345\nothergrp\n/home/other\n");
}

#[test]
fn the_umask_is_as_specified() {
    for (umask, expected) in [(0o022, "0022\n"), (0o002, "0002\n")] {
        let mut step = Step::bash("umask");
        step.spec.umask = umask;
        assert_eq!(step.output(), expected);
    }
}

#[test]
fn cpus_restrict_nproc() {
    let mut step = Step::bash("nproc");
    step.spec.cpus = Some(1);
    assert_eq!(step.output(), "1\n");
    let all = Step::bash("nproc");
    let host = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    assert_eq!(all.output(), format!("{host}\n"));
}

#[test]
fn the_working_directory_is_the_spec_workdir() {
    let mut step = Step::bash("pwd; echo $PWD; ls -A");
    step.spec.workdir = "/nix/build/a-longer-path/work".into();
    fs::write(step.work().join("input.c"), "int x;").expect("input");
    assert_eq!(
        step.output(),
        "/nix/build/a-longer-path/work\n\n/nix/build/a-longer-path/work\ninput.c\n"
            .replace("\n\n", "\n")
    );
}

#[test]
fn etc_shadow_is_unreadable() {
    assert!(Path::new("/etc/shadow").exists());
    let step = Step::bash("cat /etc/shadow");
    assert!(!step.run().status.success());
    assert_eq!(step.stdout(), "");
    assert!(
        step.stderr().contains("Permission denied"),
        "{}",
        step.stderr()
    );
}

#[test]
fn exit_codes_come_back() {
    assert_eq!(Step::bash("exit 7").run().status, StepExit::Exited(7));
}

#[test]
fn signals_come_back() {
    assert_eq!(Step::bash("kill -9 $$").run().status, StepExit::Signaled(9));
}

#[test]
fn a_missing_program_fails_like_in_a_shell() {
    let step = Step::bash("").argv(&["no-such-program-reprobe"]);
    assert_eq!(step.run().status, StepExit::Exited(127));
    assert!(
        step.stderr().contains("no-such-program-reprobe"),
        "{}",
        step.stderr()
    );
}

#[test]
fn a_workdir_below_an_existing_host_directory_replaces_it() {
    let mut step = Step::bash("pwd; ls -A /srv; echo x > out");
    step.spec.workdir = "/srv/reprobe/work".into();
    assert_eq!(step.output(), "/srv/reprobe/work\nreprobe\n");
    assert!(step.work().join("out").exists());
}

#[test]
fn a_setup_failure_is_an_error_naming_the_path() {
    let mut step = Step::bash("true");
    step.spec.workdir = "/proc/reprobe-cannot-exist/work".into();
    let err = sandbox().run(&step.spec).expect_err("setup must fail");
    let message = err.to_string();
    assert!(
        message.contains("/proc/reprobe-cannot-exist/work"),
        "{message}"
    );
    assert!(message.starts_with("sandbox setup failed"), "{message}");
}

#[test]
fn steps_run_concurrently() {
    let steps: Vec<Step> = (0..6)
        .map(|i| Step::bash(&format!("sleep 0.2; echo {i} > out; cat out")))
        .collect();
    let start = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = steps
            .iter()
            .map(|s| scope.spawn(move || s.output()))
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.join().expect("thread"), format!("{i}\n"));
        }
    });
    assert!(
        start.elapsed() < Duration::from_secs(6 * 2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn per_step_overhead_of_true_is_measured() {
    let step = Step::bash("").argv(&["/bin/true"]);
    step.output();
    let rounds = 20;
    let (mut total, mut inside) = (Duration::ZERO, Duration::ZERO);
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        let outcome = step.run();
        let took = start.elapsed();
        assert!(outcome.status.success());
        total += took;
        inside += outcome.duration;
        best = best.min(took);
    }
    println!(
        "sandbox overhead for /bin/true: mean {:?} per run (best {:?}), of which {:?} \
         from namespace creation to the last process gone; {rounds} sequential runs",
        total / rounds,
        best,
        inside / rounds,
    );
}

#[test]
fn check_support_passes_here() {
    Sandbox::check_support().expect("user namespaces work on this machine");
}

#[test]
fn reading_from_stdin_gets_eof() {
    let step = Step::bash("cat; echo done");
    assert_eq!(step.output(), "done\n");
}

#[test]
fn the_host_path_of_the_work_directory_is_invisible() {
    let step = Step::bash("");
    let host = step.work().display().to_string();
    let step = step.argv(&["bash", "-c", &format!("ls -A {host}; echo end")]);
    assert_eq!(step.output(), "end\n");
}

#[test]
fn a_root_build_user_cannot_undo_the_sandbox() {
    let project = visible_temp_dir();
    fs::write(project.path().join("secret.txt"), "s3cret").expect("secret");
    let path = project.path().display().to_string();
    let mut step = Step::bash(&format!(
        "id -u; umount -l {path} && echo unmounted; umount -l /var/tmp && echo unmounted; \
         mount -o remount,rw /usr && echo remounted; hostname other && echo renamed; \
         cat {path}/secret.txt; echo end"
    ));
    step.spec.hidden = vec![project.path().to_path_buf()];
    step.spec.user = SandboxUser {
        uid: 0,
        gid: 0,
        name: "root".into(),
        group: "root".into(),
        home: "/root".into(),
    };
    assert_eq!(step.output(), "0\nend\n", "stderr: {}", step.stderr());
}

#[test]
fn stdout_and_stderr_may_share_one_file() {
    let mut step = Step::bash("echo one; echo two >&2; echo three");
    step.spec.stderr = step.spec.stdout.clone();
    assert_eq!(step.output(), "one\ntwo\nthree\n");
}

/// Marker of the long step run by the child process of the kill tests.
const LONG_STEP_ENV: &str = "REPROBE_TEST_LONG_STEP_MARKER";

/// Not a test on its own: the body of the child process of the kill tests (it returns
/// at once unless that child sets `LONG_STEP_ENV`).
#[test]
fn long_step_for_the_kill_tests() {
    let Ok(marker) = std::env::var(LONG_STEP_ENV) else {
        return;
    };
    let step = Step::bash(&format!(
        "setsid bash -c 'sleep 1000; : {marker}' >/dev/null 2>&1 & sleep 1000; : {marker}"
    ));
    let _ = step.run();
}

/// Polls `done` for up to `limit`.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// Runs a long step in a child process, kills that process with `signal`, and checks
/// that every process of the step is gone.
fn killing_the_caller_kills_the_step(signal: i32) {
    let marker = unique_marker(&format!("killed-{signal}"));
    let tmp = tempfile::tempdir().expect("temp dir for the child");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "sandbox::long_step_for_the_kill_tests",
            "--test-threads=1",
        ])
        .env(LONG_STEP_ENV, &marker)
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child test process");
    let started = eventually(Duration::from_secs(20), || {
        processes_with(&marker).len() >= 2
    });
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let _ = child.wait();
    assert!(started, "the step never started");
    let gone = eventually(Duration::from_secs(10), || {
        processes_with(&marker).is_empty()
    });
    assert!(gone, "survivors: {:?}", processes_with(&marker));
}

#[test]
fn sigkill_of_the_caller_kills_the_step() {
    killing_the_caller_kills_the_step(libc::SIGKILL);
}

#[test]
fn sigterm_of_the_caller_kills_the_step() {
    killing_the_caller_kills_the_step(libc::SIGTERM);
}
