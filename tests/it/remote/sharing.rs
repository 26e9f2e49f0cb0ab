//! Two machines sharing one server: the second builds nothing.

use std::fs;

use super::{steps_where, Machine};
use crate::common::buildgrid::BuildGrid;
use crate::common::{code, json, stderr};

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

    // The second machine's store now holds the steps: a local hit, no server needed.
    let again = second.run_against("grpc://127.0.0.1:1/none", &["build", "--json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        steps_where(&json(&again), "cache_source", "local"),
        vec!["compile", "link"]
    );
}
