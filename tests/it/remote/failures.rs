//! A server that dies mid-build, and one whose storage is damaged.

use std::fs;
use std::process::Stdio;
use std::time::Duration;

use super::{step_field, steps_where, Machine};
use crate::common::buildgrid::BuildGrid;
use crate::common::{code, json, project, reprobe, stderr};
use reprobe::remote::Digest;

/// The warning that turns the remote cache off for the rest of a run.
const OFF: &str = "is not used for the rest of this run";

#[test]
fn a_server_killed_mid_build_leaves_one_warning_and_a_local_build() {
    let mut server = BuildGrid::start();
    let graph = r#"
[steps.first]
run = "echo first > first.txt"
outputs = ["first.txt"]

[steps.slow]
run = "sleep 4; echo slow > slow.txt"
deps = ["first"]
outputs = ["slow.txt"]

[steps.after1]
run = "cat slow.txt slow.txt > after1.txt"
deps = ["slow"]
outputs = ["after1.txt"]

[steps.after2]
run = "cat slow.txt first.txt > after2.txt"
deps = ["slow", "first"]
outputs = ["after2.txt"]
"#;
    let machine = Machine::with(project(graph, &[]));
    let child = reprobe()
        .args(["build", "--json", "-j", "1", "--remote"])
        .arg(server.url().to_string())
        .env("REPROBE_STORE", machine.store.path())
        .current_dir(machine.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("reprobe runs");
    // The slow step's work directory appears in the store's tmp/ when it starts.
    let tmp = machine.store.path().join("tmp");
    while !fs::read_dir(&tmp)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().contains("slow"))
        })
        .unwrap_or(false)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let output = child.wait_with_output().expect("reprobe ends");
    let err = stderr(&output);
    assert_eq!(code(&output), 0, "{err}");
    assert_eq!(err.matches(OFF).count(), 1, "exactly one warning: {err}");
    assert!(err.contains(&server.url().authority()), "{err}");
    let manifest = json(&output);
    assert_eq!(
        steps_where(&manifest, "status", "ran").len(),
        4,
        "{manifest}"
    );
}

#[test]
fn a_corrupt_blob_on_the_server_is_reported_and_rebuilt_never_served() {
    let server = BuildGrid::start();
    let first = Machine::of_corpus("hello-c");
    let built = first.run(&server, &["build", "--json"]);
    assert_eq!(code(&built), 0, "{}", stderr(&built));
    let object = step_field(&json(&built), "compile", "outputs")[0].clone();
    let hash = object["sha256"].as_str().expect("hello.o's hash");
    let digest = Digest {
        hash: hex::decode(hash).unwrap().try_into().unwrap(),
        size_bytes: object["size"].as_u64().unwrap(),
    };
    let file = server
        .blob_file(&digest)
        .expect("hello.o is on the server's disk");
    let mut bytes = fs::read(&file).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&file, &bytes).unwrap();

    let second = Machine::of_corpus("hello-c");
    let out = second.out("out");
    let rebuilt = second.run(
        &server,
        &["build", "--json", "--out", out.to_str().unwrap()],
    );
    let err = stderr(&rebuilt);
    assert_eq!(code(&rebuilt), 0, "{err}");
    assert!(
        err.contains("step `compile` not taken from the remote cache") && err.contains(hash),
        "the warning names the step and the blob: {err}"
    );
    assert!(
        !err.contains(OFF),
        "a bad blob does not turn the cache off: {err}"
    );
    let manifest = json(&rebuilt);
    assert_eq!(steps_where(&manifest, "status", "ran"), vec!["compile"]);
    assert_eq!(
        steps_where(&manifest, "cache_source", "remote"),
        vec!["link"]
    );
    let local_object = second
        .store
        .path()
        .join("blobs")
        .join(&hash[..2])
        .join(hash);
    assert_eq!(
        Digest::of_bytes(&fs::read(local_object).unwrap()),
        digest,
        "the local store holds the rebuilt object, not the server's damaged copy"
    );
    assert!(out.join("hello").is_file());
}

#[test]
fn a_server_that_stops_answering_is_given_up_within_its_bound() {
    let server = BuildGrid::start();
    let machine = Machine::of_corpus("hello-c");
    server.pause();
    let output = reprobe()
        .args(["build", "--json", "--remote"])
        .arg(server.url().to_string())
        .env("REPROBE_STORE", machine.store.path())
        .env("REPROBE_REMOTE_TIMEOUT", "2s")
        .current_dir(machine.path())
        .output()
        .expect("reprobe runs");
    server.resume();
    let err = stderr(&output);
    assert_eq!(code(&output), 0, "{err}");
    assert_eq!(err.matches(OFF).count(), 1, "exactly one warning: {err}");
    assert!(err.contains("did not answer"), "{err}");
    assert_eq!(steps_where(&json(&output), "status", "ran").len(), 2);
}

#[test]
fn a_remote_url_that_is_not_one_is_bad_input_naming_the_form() {
    let machine = Machine::of_corpus("hello-c");
    let output = machine.run_against("cache.example:8980", &["build"]);
    let err = stderr(&output);
    assert_eq!(code(&output), 2, "{err}");
    assert!(
        err.contains("cache.example:8980") && err.contains("grpc://HOST:PORT"),
        "{err}"
    );
    let output = reprobe()
        .args(["check", "--against-remote"])
        .current_dir(machine.path())
        .output()
        .expect("reprobe runs");
    let err = stderr(&output);
    assert_eq!(code(&output), 2, "{err}");
    assert!(err.contains("REPROBE_REMOTE"), "{err}");
}
