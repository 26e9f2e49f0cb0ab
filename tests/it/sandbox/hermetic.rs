//! Hermeticity findings end to end: network attempts seen by the seccomp supervisor,
//! undeclared reads, and pinned (fixed-output) fetches, with the real binary and real
//! programs in the real sandbox.
//!
//! Destinations that must be *recorded* are never loopback: inside a step, 127.0.0.1 is
//! the step's own loopback, which is allowed and not reported. They are documentation
//! addresses (192.0.2.1, 2001:db8::1, 10.1.2.3) that a step cannot reach anyway: it has
//! no route. DNS queries are recorded whatever the resolver's address.

use crate::common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::thread;

const PATH_ENV: &str = "[env]\nPATH = \"/usr/bin:/bin\"\n";

/// A graph with one step `s` running `run` and producing `out`.
fn one_step(run: &str) -> String {
    format!("{PATH_ENV}\n[steps.s]\nrun = '''{run}'''\noutputs = [\"out\"]\n")
}

/// Builds the project in `dir` with `--json` and returns (exit code, manifest, stderr).
fn build(dir: &std::path::Path, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["build", "--json", "--no-cache"];
    args.extend_from_slice(extra);
    let out = run_in(dir, &args);
    (code(&out), json(&out), stderr(&out))
}

/// Like [`build`], with file opens observed in every step (`build` observes them only
/// to explain a failure; `check` always does).
fn build_observing_files(dir: &std::path::Path) -> (i32, Value, String) {
    let out = reprobe()
        .args(["build", "--json", "--no-cache"])
        .env("REPROBE_OBSERVE", "all")
        .current_dir(dir)
        .output()
        .expect("reprobe runs");
    (code(&out), json(&out), stderr(&out))
}

fn findings<'a>(manifest: &'a Value, step: &str) -> &'a Value {
    let steps = manifest["steps"].as_array().expect("steps");
    &steps
        .iter()
        .find(|s| s["name"] == step)
        .unwrap_or_else(|| panic!("no step {step}"))["findings"]
}

fn attempts(manifest: &Value, step: &str) -> Vec<Value> {
    findings(manifest, step)["network"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn undeclared(manifest: &Value, step: &str) -> Vec<String> {
    findings(manifest, step)["undeclared"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The attempt to `address`, if recorded.
fn attempt_to<'a>(list: &'a [Value], address: &str) -> Option<&'a Value> {
    list.iter().find(|a| a["address"] == address)
}

/// Compiles `probe.c` in `dir` into a statically linked `probe` (no libc to hook).
fn compile_static_probe(dir: &std::path::Path) {
    let status = Command::new("gcc")
        .args(["-static", "-O2", "-o", "probe", "probe.c"])
        .current_dir(dir)
        .status()
        .expect("gcc runs");
    assert!(status.success(), "gcc -static failed");
}

fn argv(attempt: &Value) -> String {
    attempt["argv"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

#[test]
fn bash_dev_tcp_to_a_remote_address_is_recorded_denied_and_warned_about() {
    let dir = project(
        &one_step("bash -c 'exec 3<>/dev/tcp/192.0.2.1/8443' 2>err; echo $? > out"),
        &[],
    );
    let (code, manifest, err) = build(dir.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let list = attempts(&manifest, "s");
    let attempt = attempt_to(&list, "192.0.2.1").unwrap_or_else(|| panic!("{list:?}"));
    assert_eq!(attempt["family"], "inet");
    assert_eq!(attempt["port"], 8443);
    assert!(argv(attempt).starts_with("bash -c exec 3<>/dev/tcp/192.0.2.1/8443"));
    assert!(attempt["pid"].as_i64().unwrap() > 1);
    assert!(
        err.contains("step `s` tried to reach the network") && err.contains("192.0.2.1 port 8443"),
        "{err}"
    );
    assert_eq!(list.len(), 1, "only the connect: {list:?}");
}

#[test]
fn deny_network_attempts_makes_build_exit_1() {
    let dir = project(
        &one_step("bash -c 'exec 3<>/dev/tcp/192.0.2.1/80'; echo > out"),
        &[],
    );
    let (plain, _, _) = build(dir.path(), &[]);
    assert_eq!(plain, 0);
    let (denied, _, err) = build(dir.path(), &["--deny-network-attempts"]);
    assert_eq!(denied, 1, "{err}");
}

/// `reprobe build --json` with the cache (unlike [`build`]), and extra environment.
fn build_cached(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, Value, String) {
    let mut command = reprobe();
    command
        .args(["build", "--json"])
        .args(args)
        .current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("reprobe runs");
    (code(&out), json(&out), stderr(&out))
}

#[test]
fn a_cache_hit_reports_the_findings_of_the_run_that_made_it() {
    // A warm cache must not let a step that tried the network past
    // --deny-network-attempts: the hit carries the findings of the run it reuses.
    let dir = project(
        &one_step(
            "bash -c 'exec 3<>/dev/tcp/192.0.2.1/80'; cat /etc/hostname > /dev/null; echo > out",
        ),
        &[],
    );
    let (first, manifest, err) = build_cached(dir.path(), &["--deny-network-attempts"], &[]);
    assert_eq!(first, 1, "{err}");
    assert_eq!(manifest["steps"][0]["cached"], false);
    let (second, manifest, err) = build_cached(dir.path(), &["--deny-network-attempts"], &[]);
    assert_eq!(second, 1, "{err}");
    assert_eq!(manifest["steps"][0]["cached"], true, "{manifest}");
    assert!(
        attempt_to(&attempts(&manifest, "s"), "192.0.2.1").is_some(),
        "{manifest}"
    );
    assert_eq!(undeclared(&manifest, "s"), vec!["/etc/hostname"]);
    assert!(
        err.contains("tried to reach the network"),
        "warned again: {err}"
    );
}

#[test]
fn a_cache_entry_made_with_less_observation_is_not_taken() {
    // An entry recorded without observation knows no findings: a build that observes
    // runs the step again rather than report it clean.
    let dir = project(
        &one_step("bash -c 'exec 3<>/dev/tcp/192.0.2.1/80'; echo > out"),
        &[],
    );
    let (first, manifest, err) = build_cached(dir.path(), &[], &[("REPROBE_OBSERVE", "off")]);
    assert_eq!(first, 0, "{err}");
    assert!(attempts(&manifest, "s").is_empty());
    let (second, manifest, err) = build_cached(dir.path(), &["--deny-network-attempts"], &[]);
    assert_eq!(second, 1, "{err}");
    assert_eq!(manifest["steps"][0]["cached"], false, "{manifest}");
    // The observed run's entry is then taken, findings and all.
    let (third, manifest, _) = build_cached(dir.path(), &["--deny-network-attempts"], &[]);
    assert_eq!(third, 1);
    assert_eq!(manifest["steps"][0]["cached"], true, "{manifest}");
}

#[test]
fn the_build_table_marks_a_step_that_tried_the_network_even_when_it_succeeded() {
    let dir = project(
        &one_step("bash -c 'exec 3<>/dev/tcp/192.0.2.1/80'; echo > out"),
        &[],
    );
    let out = run_in(dir.path(), &["build", "--no-cache"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("s "))
        .expect("row of s");
    assert!(row.contains("ran network"), "{text}");
    assert!(text.contains("1 tried the network"), "{text}");
}

#[test]
fn the_step_gets_enetunreach_as_on_a_machine_without_network() {
    let script = "import socket, errno\n\
s = socket.socket()\n\
try:\n    s.connect(('192.0.2.1', 80))\nexcept OSError as e:\n    open('out', 'w').write(errno.errorcode[e.errno])\n";
    let dir = project(
        &one_step("python3 probe.py").replace("run", "inputs = [\"probe.py\"]\nrun"),
        &[("probe.py", script)],
    );
    let (code, manifest, err) = build(dir.path(), &["--out", "o"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("o/out")).unwrap(),
        "ENETUNREACH"
    );
    assert!(attempt_to(&attempts(&manifest, "s"), "192.0.2.1").is_some());
}

#[test]
fn loopback_inside_the_step_is_allowed_and_never_reaches_the_host() {
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    host.set_nonblocking(true).unwrap();
    let port = host.local_addr().unwrap().port();
    // Inside, 127.0.0.1 is the step's own loopback: nothing listens there.
    let dir = project(
        &one_step(&format!(
            "bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null; echo $? > out"
        )),
        &[],
    );
    let (code, manifest, err) = build(dir.path(), &["--out", "o"]);
    assert_eq!(code, 0, "{err}");
    assert!(attempts(&manifest, "s").is_empty(), "{manifest}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("o/out")).unwrap(),
        "1\n"
    );
    assert!(host.accept().is_err(), "the host listener was reached");
}

#[test]
fn python_sockets_inet6_and_udp_are_recorded_with_address_and_port() {
    let script = r#"import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
try:
    s.connect(('2001:db8::1', 8080))
except OSError:
    pass
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b'hi', ('10.1.2.3', 9999))
except OSError:
    pass
open('out', 'w').write('done')
"#;
    let dir = project(
        &one_step("python3 probe.py").replace("run", "inputs = [\"probe.py\"]\nrun"),
        &[("probe.py", script)],
    );
    let (code, manifest, err) = build(dir.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let list = attempts(&manifest, "s");
    let v6 = attempt_to(&list, "2001:db8::1").unwrap_or_else(|| panic!("{list:?}"));
    assert_eq!(
        (v6["family"].as_str(), v6["port"].as_u64()),
        (Some("inet6"), Some(8080))
    );
    assert!(argv(v6).starts_with("python3 probe.py"));
    let udp = attempt_to(&list, "10.1.2.3").unwrap_or_else(|| panic!("{list:?}"));
    assert_eq!(udp["port"], 9999);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn network_calls_of_32_bit_code_are_recorded_and_denied() {
    // `int $0x80` makes 32-bit system calls from a 64-bit program (as a 32-bit program
    // does): connect (362), sendto (369), sendmsg (370) and sendmmsg (345), with their
    // arguments in static data, below 4 GiB in a non-PIE binary.
    let program = r#"#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
static struct sockaddr_in tcp_to;
static struct sockaddr_in udp_to;
static struct sockaddr_in dns_to;
static char payload[] = "hi";
/* A DNS query for m32.example.org, and a 32-bit msghdr and iovec pointing at it. */
static unsigned char query[] = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
  3, 'm', '3', '2', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0, 1, 0, 1};
static unsigned int iov32[2];
/* A 32-bit mmsghdr: a msghdr and the length sent, so it serves sendmsg as well. */
static unsigned int msg32[8];
static struct sockaddr_in mdns_to;
static long call32(long nr, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long ebp asm("rbp") = f;
  asm volatile("int $0x80" : "=a"(ret)
               : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e), "r"(ebp) : "memory");
  return ret;
}
int main(void) {
  tcp_to.sin_family = AF_INET; tcp_to.sin_port = htons(443);
  tcp_to.sin_addr.s_addr = htonl(0xC0000201);
  udp_to.sin_family = AF_INET; udp_to.sin_port = htons(9999);
  udp_to.sin_addr.s_addr = htonl(0xC0000202);
  int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);
  long c = call32(362, tcp, (long)&tcp_to, sizeof tcp_to, 0, 0, 0);
  long s = call32(369, udp, (long)payload, 2, 0, (long)&udp_to, sizeof udp_to);
  dns_to.sin_family = AF_INET; dns_to.sin_port = htons(53);
  dns_to.sin_addr.s_addr = htonl(0xC0000203);
  iov32[0] = (unsigned int)(long)query; iov32[1] = sizeof query;
  msg32[0] = (unsigned int)(long)&dns_to; msg32[1] = sizeof dns_to;
  msg32[2] = (unsigned int)(long)iov32; msg32[3] = 1;
  long m = call32(370, udp, (long)msg32, 0, 0, 0, 0);
  mdns_to = dns_to; mdns_to.sin_addr.s_addr = htonl(0xC0000204);
  msg32[0] = (unsigned int)(long)&mdns_to;
  long mm = call32(345, udp, (long)msg32, 1, 0, 0, 0);
  printf("%ld %ld %ld %ld\n", c, s, m, mm);
  return 0;
}
"#;
    let graph = one_step("./probe > out").replace("run", "inputs = [\"probe\"]\nrun");
    let dir = project(&graph, &[("probe.c", program)]);
    let status = Command::new("gcc")
        .args(["-static", "-no-pie", "-O1", "-o", "probe", "probe.c"])
        .current_dir(dir.path())
        .status()
        .expect("gcc runs");
    assert!(status.success(), "gcc -static -no-pie failed");
    let out_dir = dir.path().join("out-dir");
    let (code, manifest, err) = build(dir.path(), &["--out", out_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let out = std::fs::read_to_string(out_dir.join("out")).unwrap();
    assert_eq!(out, "-101 -101 -101 -101\n", "all denied with ENETUNREACH");
    let list = attempts(&manifest, "s");
    let tcp = attempt_to(&list, "192.0.2.1").unwrap_or_else(|| panic!("{list:#?}"));
    assert_eq!(tcp["port"], 443);
    let udp = attempt_to(&list, "192.0.2.2").unwrap_or_else(|| panic!("{list:#?}"));
    assert_eq!(udp["port"], 9999);
    // sendmsg, sendmmsg: the 32-bit header and iovec are read as such, the query for
    // its name.
    for (address, call) in [("192.0.2.3", "sendmsg"), ("192.0.2.4", "sendmmsg")] {
        let dns = attempt_to(&list, address).unwrap_or_else(|| panic!("{call}: {list:#?}"));
        assert_eq!(dns["dns_name"], "m32.example.org", "{call}: {dns}");
    }
}

#[test]
fn io_uring_is_refused_in_a_step_so_no_connect_escapes_the_filter() {
    // A ring connects without a filtered call; the step gets ENOSYS, as on a kernel
    // without io_uring. On the host (the control) the same program gets a ring.
    let program = r#"#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  char params[120];
  memset(params, 0, sizeof params);
  long fd = syscall(SYS_io_uring_setup, 8, params);
  printf("%s\n", fd >= 0 ? "ring" : strerror(errno));
  return 0;
}
"#;
    let graph = one_step("./probe > out").replace("run", "inputs = [\"probe\"]\nrun");
    let dir = project(&graph, &[("probe.c", program)]);
    compile_static_probe(dir.path());
    let host = Command::new(dir.path().join("probe"))
        .output()
        .expect("probe runs");
    let host = String::from_utf8_lossy(&host.stdout).to_string();
    if host != "ring\n" {
        eprintln!("skipped: the host itself refuses io_uring ({host})");
        return;
    }
    let out_dir = dir.path().join("out-dir");
    let (status, _, err) = build(dir.path(), &["--out", out_dir.to_str().unwrap()]);
    assert_eq!(status, 0, "{err}");
    let inside = std::fs::read_to_string(out_dir.join("out")).unwrap();
    assert_eq!(inside, "Function not implemented\n", "host: {host}");
}

#[test]
fn a_lookup_from_a_thread_is_recorded_with_its_name_and_the_process_pid() {
    // Threaded resolvers (curl's, a Python thread) query from a thread that is not the
    // process's leader: the attempt still names what was looked up, and the process.
    let script = r#"import os, socket, threading
def look(name):
    try:
        socket.getaddrinfo(name, 80)
    except OSError:
        pass
t = threading.Thread(target=look, args=("thread.example.org",))
t.start()
t.join()
look("main.example.org")
open('out', 'w').write(str(os.getpid()))
"#;
    let dir = project(
        &one_step("python3 probe.py").replace("run", "inputs = [\"probe.py\"]\nrun"),
        &[("probe.py", script)],
    );
    let out_dir = dir.path().join("out-dir");
    let (code, manifest, err) = build(dir.path(), &["--out", out_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let list = attempts(&manifest, "s");
    let pid: u64 = std::fs::read_to_string(out_dir.join("out"))
        .unwrap()
        .parse()
        .unwrap();
    for name in ["thread.example.org", "main.example.org"] {
        let dns = list
            .iter()
            .find(|a| a["dns_name"] == name)
            .unwrap_or_else(|| panic!("{name} not recorded: {list:#?}"));
        assert_eq!(dns["pid"], pid, "the process, not the thread: {dns}");
    }
}

#[test]
fn a_lookup_over_tcp_fails_at_once_and_is_recorded() {
    // glibc told to use TCP (`use-vc`) writes its A and AAAA queries together on one
    // stream: the connect to port 53 is denied at once, as offline, so nothing waits.
    let run = "RES_OPTIONS=use-vc getent ahosts example.org; echo $? > out";
    let graph = one_step(run).replace("run", "timeout = 30\nrun");
    let dir = project(&graph, &[]);
    let (code, manifest, err) = build(dir.path(), &[]);
    assert_eq!(code, 0, "the step ends by itself: {err}");
    let list = attempts(&manifest, "s");
    assert!(
        list.iter().any(|a| a["port"] == 53),
        "the TCP connect is recorded: {list:#?}"
    );
}

#[test]
fn a_server_on_the_unspecified_address_is_reached_and_not_reported() {
    // Connecting to 0.0.0.0 or :: reaches the host itself, as on any offline machine.
    let script = r#"import socket
for family, any_address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    server = socket.socket(family)
    server.bind((any_address, 0))
    server.listen()
    client = socket.create_connection((any_address, server.getsockname()[1]))
    client.close()
    server.close()
open('out', 'w').write('connected')
"#;
    let dir = project(
        &one_step("python3 probe.py").replace("run", "inputs = [\"probe.py\"]\nrun"),
        &[("probe.py", script)],
    );
    let (code, manifest, err) = build(dir.path(), &["--deny-network-attempts"]);
    assert_eq!(code, 0, "{err}");
    assert!(attempts(&manifest, "s").is_empty(), "{manifest}");
}

#[test]
fn getent_hosts_is_recorded_with_the_name_it_looked_up() {
    let dir = project(&one_step("getent hosts example.org; echo $? > out"), &[]);
    let (code, manifest, err) = build(dir.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let list = attempts(&manifest, "s");
    let dns = list
        .iter()
        .find(|a| a["dns_name"] == "example.org")
        .unwrap_or_else(|| panic!("no DNS query recorded: {list:?}"));
    assert_eq!(dns["port"], 53);
    assert_eq!(argv(dns), "getent hosts example.org");
    assert!(err.contains("looked up example.org"), "{err}");
}

#[test]
fn a_dns_query_to_a_loopback_resolver_is_recorded_too() {
    let script = "import socket, struct\n\
q = struct.pack('>HHHHHH', 1, 0x100, 1, 0, 0, 0) + b'\\x05build\\x07example\\x00' + struct.pack('>HH', 1, 1)\n\
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
try:\n    u.sendto(q, ('127.0.0.53', 53))\nexcept OSError:\n    pass\n\
open('out', 'w').write('done')\n";
    let dir = project(
        &one_step("python3 probe.py").replace("run", "inputs = [\"probe.py\"]\nrun"),
        &[("probe.py", script)],
    );
    let (code, manifest, err) = build(dir.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let list = attempts(&manifest, "s");
    let dns = attempt_to(&list, "127.0.0.53").unwrap_or_else(|| panic!("{list:?}"));
    assert_eq!(dns["dns_name"], "build.example");
}

#[test]
fn a_static_binary_is_observed_too() {
    let dir = project(&format!("{PATH_ENV}\n[steps.s]\nrun = \"./probe > out\"\ninputs = [\"probe\"]\noutputs = [\"out\"]\n"), &[(
        "probe.c",
        "#include <arpa/inet.h>\n#include <stdio.h>\n#include <sys/socket.h>\n\
int main(void) {\n  struct sockaddr_in a = {0};\n  a.sin_family = AF_INET;\n  a.sin_port = htons(443);\n\
  inet_pton(AF_INET, \"192.0.2.7\", &a.sin_addr);\n  int s = socket(AF_INET, SOCK_STREAM, 0);\n\
  printf(\"%d\\n\", connect(s, (struct sockaddr *)&a, sizeof a));\n  return 0;\n}\n",
    )]);
    compile_static_probe(dir.path());
    let (code, manifest, err) = build(dir.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let list = attempts(&manifest, "s");
    let attempt = attempt_to(&list, "192.0.2.7").unwrap_or_else(|| panic!("{list:?}"));
    assert_eq!(attempt["port"], 443);
    assert_eq!(argv(attempt), "./probe");
}

/// A static C program that connects a UDP socket to `server`:53 and sends a query for
/// `name` with `write(2)` (as Go's resolver does), then prints what `read` got back.
const WRITE_QUERY_C: &str = r#"#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
  unsigned char q[512] = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t n = 12;
  for (char *label = strtok(argv[2], "."); label; label = strtok(NULL, ".")) {
    q[n++] = (unsigned char)strlen(label);
    memcpy(q + n, label, strlen(label));
    n += strlen(label);
  }
  q[n++] = 0; q[n++] = 0; q[n++] = 1; q[n++] = 0; q[n++] = 1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(53);
  inet_pton(AF_INET, argv[1], &a.sin_addr);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { printf("connect failed\n"); return 0; }
  if (write(s, q, n) < 0) { printf("write failed\n"); return 0; }
  unsigned char r[512];
  ssize_t got = read(s, r, sizeof r);
  printf("rcode %d\n", got > 3 ? r[3] & 15 : -1);
  return 0;
}
"#;

#[test]
fn a_dns_query_sent_with_write_on_a_connected_socket_is_recorded_with_its_name() {
    let graph = format!(
        "{PATH_ENV}\n[steps.s]\nrun = \"./probe 192.0.2.53 written.example > out; ./probe 127.0.0.53 loopback.example >> out\"\ninputs = [\"probe\"]\noutputs = [\"out\"]\n"
    );
    let dir = project(&graph, &[("probe.c", WRITE_QUERY_C)]);
    compile_static_probe(dir.path());
    let (code, manifest, err) = build(dir.path(), &["--out", "o"]);
    assert_eq!(code, 0, "{err}");
    // The resolver fails at once, as offline (SERVFAIL), instead of waiting for a reply.
    let out = std::fs::read_to_string(dir.path().join("o/out")).unwrap();
    assert_eq!(out, "rcode 2\nrcode 2\n");
    let list = attempts(&manifest, "s");
    for (server, name) in [
        ("192.0.2.53", "written.example"),
        ("127.0.0.53", "loopback.example"),
    ] {
        let attempt = attempt_to(&list, server).unwrap_or_else(|| panic!("{server}: {list:?}"));
        assert_eq!(attempt["port"], 53);
        assert_eq!(attempt["dns_name"], name, "{list:?}");
        assert!(argv(attempt).starts_with("./probe"), "{attempt}");
    }
}

#[test]
fn a_grandchild_is_observed_with_its_own_pid_and_argv() {
    let dir = project(
        &one_step("sh -c 'bash -c \"exec 3<>/dev/tcp/10.9.8.7/21\"; true' 2>/dev/null; echo > out"),
        &[],
    );
    let (code, manifest, err) = build(dir.path(), &[]);
    assert_eq!(code, 0, "{err}");
    let list = attempts(&manifest, "s");
    let attempt = attempt_to(&list, "10.9.8.7").unwrap_or_else(|| panic!("{list:?}"));
    assert_eq!(attempt["port"], 21);
    assert_eq!(argv(attempt), "bash -c exec 3<>/dev/tcp/10.9.8.7/21");
    assert!(attempt["pid"].as_i64().unwrap() > 2, "{attempt}");
}

#[test]
fn check_gives_a_step_that_tried_the_network_the_verdict_network() {
    let dir = project(
        &one_step("bash -c 'exec 3<>/dev/tcp/192.0.2.1/80' 2>/dev/null; echo same > out"),
        &[],
    );
    let out = run_in(dir.path(), &["check", "--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["steps"][0]["verdict"], "network");
    assert_eq!(report["steps"][0]["network"][0]["address"], "192.0.2.1");
}

#[test]
fn an_undeclared_header_fails_the_step_with_the_likely_reason() {
    let dir = project(
        &format!("{PATH_ENV}\n[steps.compile]\nrun = \"gcc -c src/hello.c -o hello.o\"\ninputs = [\"src/hello.c\"]\noutputs = [\"hello.o\"]\n"),
        &[
            ("src/hello.c", "#include \"config.h\"\nint main(void) { return X; }\n"),
            ("src/config.h", "#define X 0\n"),
        ],
    );
    let out = run_in(dir.path(), &["build"]);
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    assert!(
        err.contains("step `compile` tried to open src/config.h, which is not in its inputs"),
        "{err}"
    );
    let (_, manifest, _) = build(dir.path(), &[]);
    assert_eq!(undeclared(&manifest, "compile"), vec!["src/config.h"]);
}

/// Like [`build_observing_files`], with opens observed by seccomp instead of the
/// tripwire file system (`REPROBE_TRIPWIRE=off`).
fn build_observing_files_with_seccomp(dir: &std::path::Path) -> (i32, Value, String) {
    let out = reprobe()
        .args(["build", "--json", "--no-cache"])
        .env("REPROBE_OBSERVE", "all")
        .env("REPROBE_TRIPWIRE", "off")
        .current_dir(dir)
        .output()
        .expect("reprobe runs");
    (code(&out), json(&out), stderr(&out))
}

/// A temporary directory in the host user's home (`/root` when tests run as root):
/// home directories are hidden in the sandbox, and reads there are findings.
fn temp_dir_in_home() -> tempfile::TempDir {
    let home = std::env::var("HOME").expect("HOME is set");
    assert!(
        home.starts_with("/home/") || home == "/root",
        "these tests need HOME below /home or /root, not {home}"
    );
    tempfile::Builder::new()
        .prefix(".reprobe-test-")
        .tempdir_in(home)
        .expect("temp dir in HOME")
}

/// A graph reading `data.txt` of the project by its absolute host path.
fn project_reading_itself(dir: &std::path::Path) {
    std::fs::write(dir.join("data.txt"), "secret\n").unwrap();
    let graph = one_step(&format!(
        "cat {} > out 2>/dev/null; true",
        dir.join("data.txt").display()
    ));
    std::fs::write(dir.join("reprobe.toml"), graph).unwrap();
}

#[test]
fn an_absolute_path_into_the_project_is_an_undeclared_read() {
    // The project's host path is visible (hidden) in the sandbox when it is not below
    // a directory the sandbox replaces (/tmp): here, below the home directory.
    let dir = temp_dir_in_home();
    project_reading_itself(dir.path());
    let (status, manifest, err) = build(dir.path(), &[]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(undeclared(&manifest, "s"), vec!["data.txt"], "{err}");
    assert!(
        err.contains("warning: step `s` read or tried to read paths it did not declare: data.txt"),
        "build warns by default: {err}"
    );
    let out = run_in(dir.path(), &["check", "--json"]);
    let report = json(&out);
    assert_eq!(report["steps"][0]["verdict"], "undeclared", "{report}");
    assert_eq!(report["steps"][0]["undeclared"][0], "data.txt");
}

#[test]
fn seccomp_sees_an_absolute_path_into_a_project_below_tmp() {
    let dir = project("", &[]);
    project_reading_itself(dir.path());
    let (_, manifest, err) = build_observing_files_with_seccomp(dir.path());
    assert_eq!(undeclared(&manifest, "s"), vec!["data.txt"], "{err}");
}

#[test]
fn reads_of_home_and_unlisted_etc_files_are_reported_and_judged_undeclared() {
    let home = temp_dir_in_home();
    let secret = home.path().join(".config/x");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, "token\n").unwrap();
    let run = format!(
        "cat {} /etc/hostname 2>/dev/null; cat /etc/passwd > /dev/null; echo same > out",
        secret.display()
    );
    let dir = project(&one_step(&run), &[]);
    // Observed by default: no REPROBE_OBSERVE.
    let (status, manifest, err) = build(dir.path(), &[]);
    assert_eq!(status, 0, "{err}");
    let paths = undeclared(&manifest, "s");
    assert_eq!(
        paths,
        vec!["/etc/hostname".to_string(), secret.display().to_string()]
    );
    assert!(err.contains("did not declare"), "{err}");
    let out = run_in(dir.path(), &["check", "--json"]);
    let report = json(&out);
    assert_eq!(report["steps"][0]["verdict"], "undeclared", "{report}");
    assert_eq!(code(&out), 1);
}

#[test]
fn seccomp_sees_reads_below_the_steps_own_home_too() {
    let dir = project(
        &one_step("cat ~/.config/x /etc/hostname 2>/dev/null; cat /etc/passwd > /dev/null; echo same > out"),
        &[],
    );
    let (status, manifest, err) = build_observing_files_with_seccomp(dir.path());
    assert_eq!(status, 0, "{err}");
    let paths = undeclared(&manifest, "s");
    assert_eq!(paths, vec!["/etc/hostname", "/homeless-shelter/.config/x"]);
}

#[test]
fn a_relative_read_of_an_undeclared_project_file_that_falls_back_is_found_by_check() {
    // The step looks for src/config.h next to its input and quietly falls back when it
    // is missing: it succeeds in both builds. `check` (and `build` with
    // REPROBE_OBSERVE=all) observe the names looked up in the work directory; `build`
    // by default observes them only when re-running a failed step.
    let run = "if [ -e src/config.h ]; then cat src/config.h; else echo default; fi > out; \
               cat src/a.txt >> out";
    let graph = one_step(run).replace("run", "inputs = [\"src/a.txt\"]\nrun");
    let dir = project(&graph, &[("src/a.txt", "a\n"), ("src/config.h", "x\n")]);
    let out = run_in(dir.path(), &["check", "--json"]);
    let report = json(&out);
    assert_eq!(code(&out), 1, "{report}");
    assert_eq!(report["steps"][0]["verdict"], "undeclared", "{report}");
    assert_eq!(
        report["steps"][0]["undeclared"][0], "src/config.h",
        "{report}"
    );
    let (status, manifest, err) = build_observing_files(dir.path());
    assert_eq!(status, 0, "{err}");
    assert_eq!(undeclared(&manifest, "s"), vec!["src/config.h"]);
    let (status, manifest, err) = build(dir.path(), &[]);
    assert_eq!(status, 0, "{err}");
    assert!(undeclared(&manifest, "s").is_empty(), "{manifest}");
}

#[test]
fn the_hermetic_example_builds_with_its_findings_observed_by_default() {
    let dir = copy_corpus("hermetic");
    let (status, manifest, err) = build(dir.path(), &["-v"]);
    assert_eq!(status, 3, "compile fails: {err}");
    assert!(
        err.contains("observed: network calls and opens outside the work directory"),
        "-v says what is observed: {err}"
    );
    assert_eq!(undeclared(&manifest, "compile"), vec!["src/config.h"]);
    assert_eq!(undeclared(&manifest, "peek"), vec!["/etc/hostname"]);
    assert!(
        err.contains(
            "warning: step `peek` read or tried to read paths it did not declare: /etc/hostname"
        ),
        "{err}"
    );
    assert_eq!(attempts(&manifest, "probe").len(), 2, "{manifest}");
    // The fallback on a missing local.conf needs the work directory's names: `check`.
    assert!(undeclared(&manifest, "settings").is_empty(), "{manifest}");
}

/// Runs reprobe with `args` in `dir`, in a mount namespace where `/dev/fuse` is
/// `/dev/null` (as on a machine without FUSE); `None` where this process may not make
/// mount namespaces (not root).
fn run_without_fuse(dir: &std::path::Path, args: &[&str]) -> Option<std::process::Output> {
    let probe = Command::new("unshare").args(["-m", "true"]).output().ok()?;
    if !probe.status.success() {
        eprintln!("skipped: unshare -m is not permitted here (needs root)");
        return None;
    }
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg("mount --bind /dev/null /dev/fuse && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_reprobe"))
        .args(args)
        .env_remove("REPROBE_STORE")
        .current_dir(dir)
        .output()
        .expect("unshare runs");
    Some(out)
}

#[test]
fn without_fuse_build_observes_network_calls_and_check_falls_back_to_seccomp() {
    let dir = copy_corpus("hermetic");
    let Some(out) = run_without_fuse(dir.path(), &["build", "--json", "-v"]) else {
        return;
    };
    let (manifest, err) = (json(&out), stderr(&out));
    assert_eq!(code(&out), 3, "{err}");
    assert!(
        err.contains("/dev/fuse cannot be opened, so only network calls are observed"),
        "-v says what is observed: {err}"
    );
    // No tripwire: build's default does not pay for seccomp on every open...
    assert!(undeclared(&manifest, "peek").is_empty(), "{manifest}");
    assert_eq!(attempts(&manifest, "probe").len(), 2, "{manifest}");
    // ...but a failed step's re-run does, to name what it missed.
    assert_eq!(undeclared(&manifest, "compile"), vec!["src/config.h"]);
    let Some(out) = run_without_fuse(dir.path(), &["check", "--json"]) else {
        return;
    };
    let report = json(&out);
    let peek = report["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == "peek"))
        .expect("peek is judged");
    assert_eq!(peek["verdict"], "undeclared", "{report}");
    assert_eq!(peek["undeclared"][0], "/etc/hostname", "{report}");
}

#[test]
fn the_sandboxs_own_etc_files_look_the_same_whether_the_tripwire_serves_them_or_not() {
    // Served by the tripwire (build's default) or bound over the host's (network only):
    // same owner, mode and contents, so observing does not change a step's output.
    let run = "ls -ln /etc/passwd /etc/group /etc/hosts /etc/hostname | cut -d' ' -f1,3,4 > out; \
               id -un >> out; id -gn >> out; cat /etc/hostname /etc/hosts >> out";
    let dir = project(&one_step(run), &[]);
    let mut outputs = Vec::new();
    for level in ["network", "files"] {
        let out_dir = dir.path().join(format!("out-{level}"));
        let built = reprobe()
            .args(["build", "--no-cache", "--out", out_dir.to_str().unwrap()])
            .env("REPROBE_OBSERVE", level)
            .current_dir(dir.path())
            .output()
            .expect("reprobe runs");
        assert_eq!(code(&built), 0, "{}", stderr(&built));
        outputs.push(std::fs::read_to_string(out_dir.join("out")).unwrap());
    }
    assert_eq!(outputs[0], outputs[1]);
    assert!(outputs[0].starts_with("-rw-r--r-- 0 0\n"), "{}", outputs[0]);
}

#[test]
fn a_failed_step_is_reported_with_both_its_own_and_its_re_runs_findings() {
    // The first run already records /etc/hostname (observed by default); the re-run
    // that explains the failure adds the relative name it looked up.
    let run = "cat /etc/hostname > /dev/null; cat src/config.h > out";
    let graph = one_step(run).replace("run", "inputs = [\"src/a.txt\"]\nrun");
    let dir = project(&graph, &[("src/a.txt", "a\n"), ("src/config.h", "x\n")]);
    let (status, manifest, err) = build(dir.path(), &[]);
    assert_eq!(status, 3, "{err}");
    assert_eq!(
        undeclared(&manifest, "s"),
        vec!["/etc/hostname", "src/config.h"],
        "{err}"
    );
}

#[test]
fn names_a_step_creates_itself_are_not_undeclared_reads_even_where_the_project_has_them() {
    // The project holds stale copies of what the step writes (a build directory from an
    // earlier build): looking those names up to create them reads nothing undeclared.
    let run = "mkdir -p build/obj && cc_out=build/obj/a.o; cat src/a.txt > $cc_out; \
               cat src/a.txt > build/a.d; cat build/a.d > out";
    let graph = one_step(run).replace("run", "inputs = [\"src/a.txt\"]\nrun");
    let dir = project(
        &graph,
        &[
            ("src/a.txt", "a\n"),
            ("build/obj/a.o", "stale\n"),
            ("build/a.d", "stale\n"),
        ],
    );
    let (status, manifest, err) = build_observing_files(dir.path());
    assert_eq!(status, 0, "{err}");
    assert!(undeclared(&manifest, "s").is_empty(), "{manifest}");
}

#[test]
fn the_work_directory_stays_an_ordinary_directory_for_the_step() {
    // Removing, re-creating and renaming declared directories and files works as on
    // any directory, and only what is left at the end comes back.
    let run = "rm -r src/sub && mkdir src/sub && echo new > src/sub/b.txt && \
               mv src/a.txt src/c.txt && ls -R src > out && cat src/sub/b.txt >> out";
    let graph = one_step(run).replace("run", "inputs = [\"src/**\"]\nrun");
    let dir = project(&graph, &[("src/a.txt", "a\n"), ("src/sub/b.txt", "b\n")]);
    let (status, manifest, err) = build_observing_files(dir.path());
    assert_eq!(status, 0, "{err}");
    assert!(undeclared(&manifest, "s").is_empty(), "{manifest}");
    let out = dir.path().join("out-dir");
    let built = run_in(dir.path(), &["build", "--out", out.to_str().unwrap()]);
    assert_eq!(code(&built), 0, "{}", stderr(&built));
    let listing = std::fs::read_to_string(out.join("out")).unwrap();
    assert_eq!(listing, "src:\nc.txt\nsub\n\nsrc/sub:\nb.txt\nnew\n");
}

#[test]
fn etc_files_only_root_may_read_stay_unreadable() {
    let run =
        "if cat /etc/shadow >/dev/null 2>&1; then echo readable > out; else echo denied > out; fi";
    let dir = project(&one_step(run), &[]);
    let out = dir.path().join("out-dir");
    let built = reprobe()
        .args(["build", "--no-cache", "--out", out.to_str().unwrap()])
        .env("REPROBE_OBSERVE", "all")
        .current_dir(dir.path())
        .output()
        .expect("reprobe runs");
    assert_eq!(code(&built), 0, "{}", stderr(&built));
    assert_eq!(
        std::fs::read_to_string(out.join("out")).unwrap(),
        "denied\n"
    );
}

#[test]
fn observed_opens_go_through_the_tripwire_file_system() {
    // The mechanism itself: /etc is the tripwire's FUSE mirror and, when the work
    // directory's names are observed too (`all`), the work directory an overlay on it.
    // By default (`build`) the work directory is the plain tmpfs. REPROBE_TRIPWIRE=off:
    // neither mount (seccomp observes each open).
    let run = "awk '{for (i = 7; i < NF; i++) if ($i == \"-\") print $5, $(i + 1)}' \
               /proc/self/mountinfo > out";
    let dir = project(&one_step(run), &[]);
    let out_dir = dir.path().join("out-dir");
    for (observe, tripwire, work_fs, etc_fuse) in [
        ("all", "on", "overlay", true),
        ("", "on", "tmpfs", true),
        ("all", "off", "tmpfs", false),
    ] {
        let built = reprobe()
            .args(["build", "--no-cache", "--out", out_dir.to_str().unwrap()])
            .env("REPROBE_OBSERVE", observe)
            .env("REPROBE_TRIPWIRE", tripwire)
            .current_dir(dir.path())
            .output()
            .expect("reprobe runs");
        assert_eq!(code(&built), 0, "{}", stderr(&built));
        let mounts = std::fs::read_to_string(out_dir.join("out")).unwrap();
        let lines: Vec<&str> = mounts.lines().collect();
        let work = format!("/build/project {work_fs}");
        assert!(lines.contains(&work.as_str()), "{tripwire}: {mounts}");
        assert_eq!(
            lines.contains(&"/etc fuse"),
            etc_fuse,
            "{tripwire}: {mounts}"
        );
    }
}

#[test]
fn a_step_flooding_the_tripwire_still_times_out() {
    // Every open of an /etc file the mirror serves is a request to reprobe's helper; a
    // step opening one in a loop must not keep the helper from ending it at its timeout.
    let run = "while :; do cat /etc/debian_version /etc/hostname > /dev/null; done";
    let graph = one_step(run).replace("run", "timeout = 2\nrun");
    let dir = project(&graph, &[]);
    let started = std::time::Instant::now();
    let out = reprobe()
        .args(["build", "--no-cache"])
        .env("REPROBE_OBSERVE", "all")
        .current_dir(dir.path())
        .output()
        .expect("reprobe runs");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("timed out after 2s"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed().as_secs() < 30, "ended at its timeout");
}

#[test]
fn a_clean_step_has_no_findings() {
    let dir = project(
        &one_step("cat src/a.txt > out").replace("run", "inputs = [\"src/a.txt\"]\nrun"),
        &[("src/a.txt", "a\n")],
    );
    let (code, manifest, err) = build(dir.path(), &["--deny-network-attempts"]);
    assert_eq!(code, 0, "{err}");
    assert!(attempts(&manifest, "s").is_empty());
    assert!(undeclared(&manifest, "s").is_empty());
}

/// Serves `body` for every GET on the host's loopback; returns the port.
fn serve(body: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    port
}

const PAYLOAD: &[u8] = b"pinned content\n";

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

fn fetch_graph(port: u16, path: &str, sha: &str) -> String {
    format!(
        "{PATH_ENV}\n[steps.fetch]\nrun = \"curl -sSf -o src.txt http://127.0.0.1:{port}/{path}\"\nnetwork = true\noutputs = [\"src.txt\"]\nsha256 = \"{sha}\"\n"
    )
}

#[test]
fn a_pinned_fetch_reaches_the_host_and_a_new_url_with_the_same_content_is_no_rebuild() {
    let port = serve(PAYLOAD);
    let dir = project(&fetch_graph(port, "a.txt", &sha256_hex(PAYLOAD)), &[]);
    let out = run_in(dir.path(), &["build", "--json", "--deny-network-attempts"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let manifest = json(&out);
    assert_eq!(step_status(&manifest, "fetch"), "ran");
    assert!(attempts(&manifest, "fetch").is_empty());
    std::fs::write(
        dir.path().join("reprobe.toml"),
        fetch_graph(port, "mirror/b.txt", &sha256_hex(PAYLOAD)),
    )
    .unwrap();
    let again = json(&run_in(dir.path(), &["build", "--json"]));
    assert_eq!(step_status(&again, "fetch"), "cached");
}

#[test]
fn a_pinned_fetch_with_other_content_fails_showing_both_hashes() {
    let port = serve(PAYLOAD);
    let declared = sha256_hex(b"what we expected\n");
    let dir = project(&fetch_graph(port, "a.txt", &declared), &[]);
    let out = run_in(dir.path(), &["build"]);
    assert_eq!(code(&out), 3);
    let err = stderr(&out);
    assert!(
        err.contains(&declared) && err.contains(&sha256_hex(PAYLOAD)),
        "{err}"
    );
}
