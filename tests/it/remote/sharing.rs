//! Two machines sharing one server: the second builds nothing.

use std::fs;

use super::{steps_where, Machine};
use crate::common::buildgrid::BuildGrid;
use crate::common::{code, json, stderr};
use reprobe::remote::Digest;

#[test]
fn a_second_checkout_with_its_own_store_takes_every_step_from_the_server() {
    let server = BuildGrid::start();
    let first = Machine::of_corpus("hello-c");
    let second = Machine::of_corpus("hello-c");
    assert_ne!(first.path(), second.path());

    let out1 = first.out("out");
    let built = first.run(
        &server,
        &["build", "--json", "--out", out1.to_str().unwrap()],
    );
    assert_eq!(code(&built), 0, "{}", stderr(&built));
    assert_eq!(steps_where(&json(&built), "status", "ran").len(), 2);
    assert!(!stderr(&built).contains("warning"), "{}", stderr(&built));

    let out2 = second.out("out");
    let fetched = second.run(
        &server,
        &["build", "--json", "--out", out2.to_str().unwrap()],
    );
    assert_eq!(code(&fetched), 0, "{}", stderr(&fetched));
    let manifest = json(&fetched);
    assert_eq!(
        steps_where(&manifest, "cache_source", "remote"),
        vec!["compile", "link"],
        "{manifest}"
    );
    assert!(
        !stderr(&fetched).contains("warning"),
        "{}",
        stderr(&fetched)
    );
    assert_eq!(
        fs::read(out1.join("hello")).unwrap(),
        fs::read(out2.join("hello")).unwrap(),
        "the program from the server is the one the first machine built"
    );

    // A graph of another shape has no index on the server: its steps are looked up one
    // by one in the action cache.
    let third = Machine::of_corpus("hello-c");
    let graph = third.path().join("reprobe.toml");
    let text = fs::read_to_string(&graph).unwrap();
    fs::write(
        &graph,
        format!(
            "{text}\n[steps.size]\nrun = \"wc -c < hello > size.txt\"\n\
             deps = [\"link\"]\noutputs = [\"size.txt\"]\n"
        ),
    )
    .unwrap();
    let looked_up = third.run(&server, &["build", "--json"]);
    assert_eq!(code(&looked_up), 0, "{}", stderr(&looked_up));
    let manifest = json(&looked_up);
    assert_eq!(
        steps_where(&manifest, "cache_source", "remote"),
        vec!["compile", "link"],
        "{manifest}"
    );
    assert_eq!(steps_where(&manifest, "status", "ran"), vec!["size"]);

    // The second machine's store now holds the steps: a local hit, no server needed.
    let again = second.run_against("grpc://127.0.0.1:1/none", &["build", "--json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        steps_where(&json(&again), "cache_source", "local"),
        vec!["compile", "link"]
    );
}

#[test]
fn after_a_server_restart_its_blobs_remain_and_its_lost_entries_are_plain_misses() {
    let mut server = BuildGrid::start();
    let first = Machine::of_corpus("hello-c");
    let built = first.run(&server, &["build", "--json"]);
    assert_eq!(code(&built), 0, "{}", stderr(&built));
    let blobs: Vec<Digest> = json(&built)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["outputs"].as_array().unwrap().clone())
        .filter_map(|o| {
            Some(Digest {
                hash: hex::decode(o["sha256"].as_str()?).ok()?.try_into().ok()?,
                size_bytes: o["size"].as_u64()?,
            })
        })
        .collect();
    assert_eq!(blobs.len(), 2);

    server.restart();
    // The disk storage kept every blob; the test config's in-memory action cache did not
    // keep the entries (docs/remote.md names a persistent one).
    assert!(server.connect().find_missing(&blobs).unwrap().is_empty());
    let second = Machine::of_corpus("hello-c");
    let rebuilt = second.run(&server, &["build", "--json"]);
    assert_eq!(code(&rebuilt), 0, "{}", stderr(&rebuilt));
    assert!(
        !stderr(&rebuilt).contains("warning"),
        "a miss is no failure: {}",
        stderr(&rebuilt)
    );
    assert_eq!(steps_where(&json(&rebuilt), "status", "ran").len(), 2);

    // The rebuild published the entries again: a third machine gets everything.
    let third = Machine::of_corpus("hello-c");
    let fetched = third.run(&server, &["build", "--json"]);
    assert_eq!(code(&fetched), 0, "{}", stderr(&fetched));
    assert_eq!(
        steps_where(&json(&fetched), "cache_source", "remote").len(),
        2
    );
}

#[test]
fn a_server_with_a_persistent_action_cache_serves_every_step_after_a_restart() {
    let mut server = BuildGrid::start_persistent();
    let first = Machine::of_corpus("hello-c");
    let built = first.run(&server, &["build", "-q"]);
    assert_eq!(code(&built), 0, "{}", stderr(&built));

    server.restart();
    let second = Machine::of_corpus("hello-c");
    let fetched = second.run(&server, &["build", "--json"]);
    assert_eq!(code(&fetched), 0, "{}", stderr(&fetched));
    assert_eq!(
        steps_where(&json(&fetched), "cache_source", "remote"),
        vec!["compile", "link"],
        "entries and blobs survived the restart of BuildGrid and Redis"
    );
}

#[test]
fn local_hits_whose_blobs_the_server_lacks_are_not_offered_to_other_machines() {
    let server = BuildGrid::start();
    let first = Machine::of_corpus("hello-c");
    // Built before the server was used: its blobs never reached the server.
    let local = first.run_against("grpc://127.0.0.1:1/none", &["build", "-q"]);
    assert_eq!(code(&local), 0, "{}", stderr(&local));
    let hits = first.run(&server, &["build", "-q"]);
    assert_eq!(code(&hits), 0, "{}", stderr(&hits));

    let second = Machine::of_corpus("hello-c");
    let built = second.run(&server, &["build", "--json"]);
    let err = stderr(&built);
    assert_eq!(code(&built), 0, "{err}");
    assert!(
        !err.contains("warning"),
        "a plain miss, not a damaged server: {err}"
    );
    assert_eq!(steps_where(&json(&built), "status", "ran").len(), 2);
}
