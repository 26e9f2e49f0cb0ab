//! The remote cache client against a real BuildGrid server (installed by scripts/test.sh).
//!
//! Each test starts its own server with its own disk storage, so that tests that kill,
//! pause or damage a server do not disturb the others.

use crate::common::buildgrid;

use std::fs;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use buildgrid::{free_port, test_options, BuildGrid};
use prost::Message;
use reprobe::remote::{
    document_action, reapi, step_action, Blob, BlobSource, Digest, OutputEntry, RemoteCache,
    RemoteError, RemoteOptions, RemoteUrl,
};

/// The most any failing call may take in these tests: far above every bound the client
/// sets, so the assertion is "it returns", not "it is fast".
const GENEROUS: Duration = Duration::from_secs(60);

/// Deterministic bytes that do not compress or repeat.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            &Digest::of_bytes(&[seed.to_le_bytes(), counter.to_le_bytes()].concat()).hash,
        );
        counter += 1;
    }
    out.truncate(len);
    out
}

#[test]
fn capabilities_are_read_at_connect() {
    let server = BuildGrid::start();
    let cache = server.connect();
    assert!(
        cache.max_batch_bytes() > 1024 * 1024,
        "{}",
        cache.max_batch_bytes()
    );
    assert!(cache.can_update_action_cache());
    assert_eq!(cache.url(), &server.url());
}

#[test]
fn small_blobs_round_trip_and_find_missing() {
    let server = BuildGrid::start();
    let cache = server.connect();
    let work = tempfile::tempdir().unwrap();

    let in_memory = Blob::from_bytes(b"hello remote cache".to_vec());
    let file_path = work.path().join("input.bin");
    fs::write(&file_path, pseudo_random(100_000, 1)).unwrap();
    let from_file = Blob::from_file(&file_path).unwrap();
    let empty = Blob::from_bytes(Vec::new());
    let absent = Digest::of_bytes(b"never uploaded");

    let all = [in_memory.digest, from_file.digest, empty.digest, absent];
    let missing = cache.find_missing(&all).unwrap();
    // The empty blob may or may not be reported; the others are missing, in order.
    let missing: Vec<Digest> = missing.into_iter().filter(|d| *d != empty.digest).collect();
    assert_eq!(missing, vec![in_memory.digest, from_file.digest, absent]);

    cache
        .upload(&[
            in_memory.clone(),
            from_file.clone(),
            empty.clone(),
            in_memory.clone(),
        ])
        .unwrap();
    assert_eq!(
        cache.find_missing(&all).unwrap(),
        vec![absent],
        "only the blob never uploaded is missing"
    );
    assert_eq!(cache.find_missing(&[absent, absent]).unwrap(), vec![absent]);

    let dest = work.path().join("out/deep/copy.bin");
    cache.download(from_file.digest, &dest).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), fs::read(&file_path).unwrap());
    assert_eq!(
        cache.read_blob(in_memory.digest).unwrap(),
        b"hello remote cache"
    );
    assert_eq!(cache.read_blob(empty.digest).unwrap(), b"");

    let err = cache
        .download(absent, &work.path().join("absent"))
        .unwrap_err();
    assert!(matches!(err, RemoteError::NotFound { .. }), "{err}");
    assert!(!work.path().join("absent").exists());

    // Uploading what the server has uploads nothing.
    assert_eq!(cache.upload_missing(&[in_memory, from_file]).unwrap(), 0);
}

#[test]
fn many_small_blobs_go_in_several_batches() {
    let server = BuildGrid::start();
    let cache = server.connect();
    let work = tempfile::tempdir().unwrap();
    // About 2.5 times the batch limit in blobs of 64 KiB.
    let count = (cache.max_batch_bytes() as usize * 5 / 2) / 65_536 + 1;
    let blobs: Vec<Blob> = (0..count)
        .map(|i| Blob::from_bytes(pseudo_random(65_536, i as u64 + 100)))
        .collect();
    assert_eq!(cache.upload_missing(&blobs).unwrap(), count);
    let digests: Vec<Digest> = blobs.iter().map(|b| b.digest).collect();
    assert!(cache.find_missing(&digests).unwrap().is_empty());

    let mut wanted: Vec<(Digest, std::path::PathBuf)> = digests
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, work.path().join(format!("blob-{i}"))))
        .collect();
    // The same blob twice, and one that is not there.
    wanted.push((digests[0], work.path().join("again")));
    let absent = Digest::of_bytes(b"absent");
    wanted.push((absent, work.path().join("absent")));
    let results = cache.download_many(&wanted);
    assert_eq!(results.len(), wanted.len());
    for (i, blob) in blobs.iter().enumerate() {
        results[i].as_ref().unwrap();
        let BlobSource::Bytes(bytes) = &blob.source else {
            unreachable!()
        };
        assert_eq!(&fs::read(&wanted[i].1).unwrap(), bytes);
    }
    results[count].as_ref().unwrap();
    assert_eq!(
        fs::read(work.path().join("again")).unwrap(),
        fs::read(&wanted[0].1).unwrap()
    );
    assert!(matches!(
        results[count + 1],
        Err(RemoteError::NotFound { .. })
    ));
}

#[test]
fn a_large_blob_is_streamed_both_ways() {
    let server = BuildGrid::start();
    let cache = server.connect();
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("large.bin");
    let content = pseudo_random(10 * 1024 * 1024 + 17, 7);
    fs::write(&source, &content).unwrap();
    let blob = Blob::from_file(&source).unwrap();
    assert!(
        blob.digest.size_bytes > cache.max_batch_bytes(),
        "goes through ByteStream"
    );

    cache.upload(std::slice::from_ref(&blob)).unwrap();
    assert!(cache.find_missing(&[blob.digest]).unwrap().is_empty());
    // Uploading it again is harmless (the server may answer before the end of the stream).
    cache.upload(std::slice::from_ref(&blob)).unwrap();

    let dest = work.path().join("copy.bin");
    cache.download(blob.digest, &dest).unwrap();
    assert!(
        fs::read(&dest).unwrap() == content,
        "the copy has the same bytes"
    );
    assert!(cache.read_blob(blob.digest).unwrap() == content);

    // Two destinations of one large blob.
    let results = cache.download_many(&[
        (blob.digest, work.path().join("a")),
        (blob.digest, work.path().join("b")),
    ]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(fs::read(work.path().join("b")).unwrap() == content);
}

#[test]
fn a_file_that_is_not_its_digest_is_not_stored() {
    let server = BuildGrid::start();
    let cache = server.connect();
    let work = tempfile::tempdir().unwrap();
    for (name, len) in [("small", 1000), ("large", 6 * 1024 * 1024)] {
        let path = work.path().join(name);
        fs::write(&path, pseudo_random(len, 3)).unwrap();
        let mut blob = Blob::from_file(&path).unwrap();
        // The file changes after it was hashed, keeping its size.
        let mut changed = pseudo_random(len, 3);
        changed[len / 2] ^= 0xff;
        fs::write(&path, &changed).unwrap();
        let err = cache.upload(std::slice::from_ref(&blob)).unwrap_err();
        assert!(
            matches!(err, RemoteError::LocalChanged { .. }),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(name), "{err}");
        assert_eq!(
            cache.find_missing(&[blob.digest]).unwrap(),
            vec![blob.digest]
        );
        // Shorter than announced.
        blob.digest.size_bytes += 1;
        assert!(cache.upload(&[blob]).is_err());
    }
}

#[test]
fn a_step_result_round_trips_through_the_action_cache() {
    let server = BuildGrid::start();
    let cache = server.connect();
    let key = "5f".repeat(32);
    assert_eq!(cache.get_step_result(&key).unwrap(), None);

    let lib = Blob::from_bytes(b"\x7fELF pretend library".to_vec());
    let tool = Blob::from_bytes(pseudo_random(5 * 1024 * 1024, 9));
    let outputs = vec![
        OutputEntry {
            path: "out/lib.a".into(),
            digest: lib.digest,
            is_executable: false,
        },
        OutputEntry {
            path: "bin/tool".into(),
            digest: tool.digest,
            is_executable: true,
        },
    ];
    // Outputs first: recording a step whose outputs are not in the CAS is refused.
    let err = cache.put_step_result(&key, &outputs).unwrap_err();
    assert!(err.to_string().contains("upload the outputs"), "{err}");
    cache.upload_missing(&[lib, tool]).unwrap();
    cache.put_step_result(&key, &outputs).unwrap();

    let mut expected = outputs.clone();
    expected.sort();
    assert_eq!(cache.get_step_result(&key).unwrap(), Some(expected));
    assert_eq!(cache.get_step_result(&"60".repeat(32)).unwrap(), None);

    // The entry is an ordinary REAPI entry: its Action and Command are in the CAS.
    let keyed = step_action(&key).unwrap();
    let result = cache
        .get_action_result(keyed.action_digest)
        .unwrap()
        .unwrap();
    assert_eq!(result.output_files.len(), 2);
    let action = reapi::Action::decode(&cache.read_blob(keyed.action_digest).unwrap()[..]).unwrap();
    let command_digest = Digest::from_proto(action.command_digest.as_ref().unwrap()).unwrap();
    let command = reapi::Command::decode(&cache.read_blob(command_digest).unwrap()[..]).unwrap();
    assert_eq!(
        command.arguments,
        vec!["reprobe-step".to_string(), key.clone()]
    );
    let input_root = Digest::from_proto(action.input_root_digest.as_ref().unwrap()).unwrap();
    assert_eq!(input_root, Digest::EMPTY);
    assert!(cache.find_missing(&[input_root]).unwrap().is_empty());

    // Bad arguments are refused before any call.
    assert!(matches!(
        cache.get_step_result("not-a-key"),
        Err(RemoteError::InvalidArgument(_))
    ));
    let escaping = [OutputEntry {
        path: "../escape".into(),
        digest: Digest::EMPTY,
        is_executable: false,
    }];
    assert!(matches!(
        cache.put_step_result(&key, &escaping),
        Err(RemoteError::InvalidArgument(_))
    ));
}

#[test]
fn a_named_document_round_trips() {
    let server = BuildGrid::start();
    let cache = server.connect();
    assert_eq!(cache.get_document("manifest", "graph-a").unwrap(), None);
    let small = br#"{"format":"reprobe/manifest/1"}"#.to_vec();
    let digest = cache.put_document("manifest", "graph-a", &small).unwrap();
    assert_eq!(digest, Digest::of_bytes(&small));
    assert_eq!(
        cache.get_document("manifest", "graph-a").unwrap(),
        Some(small)
    );
    assert_eq!(cache.get_document("manifest", "graph-b").unwrap(), None);
    assert_eq!(cache.get_document("report", "graph-a").unwrap(), None);

    // Replaced by a later put; a large document goes through ByteStream.
    let large = pseudo_random(6 * 1024 * 1024, 11);
    cache.put_document("manifest", "graph-a", &large).unwrap();
    assert!(cache.get_document("manifest", "graph-a").unwrap() == Some(large));

    let keyed = document_action("manifest", "graph-a").unwrap();
    let command =
        reapi::Command::decode(&cache.read_blob(keyed.command_digest).unwrap()[..]).unwrap();
    assert_eq!(command.arguments, vec!["reprobe-manifest", "graph-a"]);
    assert_eq!(command.output_paths, vec!["manifest"]);
}

#[test]
fn a_blob_damaged_on_the_server_is_detected_and_never_written() {
    let server = BuildGrid::start();
    let cache = server.connect();
    let work = tempfile::tempdir().unwrap();
    let small = Blob::from_bytes(pseudo_random(4096, 21));
    let large = Blob::from_bytes(pseudo_random(6 * 1024 * 1024, 22));
    let document = b"a manifest".to_vec();
    let document_digest = cache.put_document("manifest", "g", &document).unwrap();
    cache.upload(&[small.clone(), large.clone()]).unwrap();

    for digest in [small.digest, large.digest, document_digest] {
        let on_disk = server
            .blob_file(&digest)
            .unwrap_or_else(|| panic!("blob {digest} in {}", server.storage_dir().display()));
        let mut bytes = fs::read(&on_disk).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        fs::write(&on_disk, &bytes).unwrap();
    }

    for (name, digest) in [("small", small.digest), ("large", large.digest)] {
        let dest = work.path().join(name);
        let err = cache.download(digest, &dest).unwrap_err();
        match &err {
            RemoteError::Corrupt { digest: bad, .. } => assert_eq!(*bad, digest),
            other => panic!("{name}: expected Corrupt, got {other}"),
        }
        assert!(!dest.exists(), "{name}: nothing is written");
        // An existing destination is left as it was.
        fs::write(&dest, b"previous").unwrap();
        assert!(cache.download(digest, &dest).is_err());
        assert_eq!(fs::read(&dest).unwrap(), b"previous");
        assert!(matches!(
            cache.read_blob(digest),
            Err(RemoteError::Corrupt { .. })
        ));
        // No temporary file is left behind.
        let names: Vec<String> = fs::read_dir(work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(".reprobe-download")),
            "{names:?}"
        );
    }
    let err = cache.get_document("manifest", "g").unwrap_err();
    assert!(matches!(err, RemoteError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[test]
fn a_killed_server_makes_calls_fail_not_hang() {
    let mut server = BuildGrid::start();
    let cache = server.connect();
    let blob = Blob::from_bytes(b"before the crash".to_vec());
    cache.upload(std::slice::from_ref(&blob)).unwrap();
    let addr = server.url().authority();
    server.kill();

    let work = tempfile::tempdir().unwrap();
    let large = Blob::from_bytes(pseudo_random(6 * 1024 * 1024, 5));
    type Call<'a> = Box<dyn Fn() -> Result<(), RemoteError> + 'a>;
    let calls: Vec<(&str, Call)> = vec![
        (
            "find_missing",
            Box::new(|| cache.find_missing(&[blob.digest]).map(drop)),
        ),
        (
            "upload small",
            Box::new(|| cache.upload(&[Blob::from_bytes(b"x".to_vec())])),
        ),
        (
            "upload large",
            Box::new(|| cache.upload(std::slice::from_ref(&large))),
        ),
        (
            "download",
            Box::new(|| cache.download(blob.digest, &work.path().join("d"))),
        ),
        (
            "read large",
            Box::new(|| cache.read_blob(large.digest).map(drop)),
        ),
        (
            "get_step_result",
            Box::new(|| cache.get_step_result(&"ab".repeat(32)).map(drop)),
        ),
    ];
    for (name, call) in calls {
        let started = Instant::now();
        let err = call().unwrap_err();
        assert!(
            started.elapsed() < GENEROUS,
            "{name} took {:?}",
            started.elapsed()
        );
        assert!(err.is_unavailable(), "{name}: {err:?}");
        assert!(err.to_string().contains(&addr), "{name}: {err}");
    }
    assert!(!work.path().join("d").exists());
}

#[test]
fn a_hung_server_makes_calls_time_out() {
    let server = BuildGrid::start();
    let options = RemoteOptions {
        call_timeout: Duration::from_secs(3),
        ..test_options()
    };
    let cache = RemoteCache::connect(&server.url(), options).unwrap();
    let blob = Blob::from_bytes(pseudo_random(6 * 1024 * 1024, 8));
    cache.upload(std::slice::from_ref(&blob)).unwrap();
    server.pause();
    let work = tempfile::tempdir().unwrap();
    for (name, result) in [
        ("find_missing", cache.find_missing(&[blob.digest]).map(drop)),
        (
            "download large",
            cache.download(blob.digest, &work.path().join("d")),
        ),
        (
            "upload large",
            cache.upload(&[Blob::from_bytes(pseudo_random(6 << 20, 9))]),
        ),
    ] {
        let err = result.unwrap_err();
        assert!(err.is_unavailable(), "{name}: {err:?}");
        assert!(err.to_string().contains("127.0.0.1"), "{name}: {err}");
    }
    let started = Instant::now();
    let err = RemoteCache::connect(&server.url(), options)
        .err()
        .expect("connect fails");
    assert!(started.elapsed() < GENEROUS);
    assert!(err.is_unavailable(), "{err:?}");
    server.resume();
    // Once the server goes on, the same client works again.
    assert!(cache.find_missing(&[blob.digest]).unwrap().is_empty());
}

#[test]
fn a_restarted_server_still_has_its_blobs() {
    let mut server = BuildGrid::start();
    let cache = server.connect();
    let small = Blob::from_bytes(b"kept on disk".to_vec());
    let large = Blob::from_bytes(pseudo_random(6 * 1024 * 1024, 13));
    cache.upload(&[small.clone(), large.clone()]).unwrap();
    server.restart();

    // The same client reconnects by itself.
    let work = tempfile::tempdir().unwrap();
    let deadline = Instant::now() + GENEROUS;
    let missing = loop {
        match cache.find_missing(&[small.digest, large.digest]) {
            Ok(missing) => break missing,
            Err(err) if Instant::now() < deadline && err.is_unavailable() => {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(err) => panic!("after restart: {err}"),
        }
    };
    assert!(missing.is_empty(), "{missing:?}");
    cache
        .download(large.digest, &work.path().join("large"))
        .unwrap();
    assert_eq!(cache.read_blob(small.digest).unwrap(), b"kept on disk");
    // And so does a new one.
    let fresh = server.connect();
    assert!(fresh.find_missing(&[small.digest]).unwrap().is_empty());
}

#[test]
fn an_unreachable_address_fails_at_connect() {
    let port = free_port();
    let url: RemoteUrl = format!("grpc://127.0.0.1:{port}/x").parse().unwrap();
    let started = Instant::now();
    let err = RemoteCache::connect(&url, test_options())
        .err()
        .expect("fails");
    assert!(started.elapsed() < GENEROUS);
    assert!(matches!(err, RemoteError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("check that the server runs"), "{text}");
}

#[test]
fn a_silent_listener_fails_at_connect() {
    // Accepts TCP connections (the kernel does) but never speaks HTTP/2.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url: RemoteUrl = format!("grpc://{}", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let started = Instant::now();
    let err = RemoteCache::connect(&url, test_options())
        .err()
        .expect("fails");
    assert!(started.elapsed() < GENEROUS);
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains(&url.authority()), "{err}");
}

#[test]
fn an_unknown_instance_is_refused_at_connect() {
    let server = BuildGrid::start();
    let mut url = server.url();
    url.instance = "no-such-instance".into();
    let err = RemoteCache::connect(&url, test_options())
        .err()
        .expect("fails");
    assert!(!err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("GetCapabilities"), "{err}");
}

#[test]
fn several_threads_share_one_cache() {
    let server = BuildGrid::start();
    let cache = server.connect();
    let work = tempfile::tempdir().unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let (cache, work) = (&cache, work.path());
            scope.spawn(move || {
                for i in 0..5u64 {
                    let len = if i == 4 {
                        5 * 1024 * 1024
                    } else {
                        1000 * (i as usize + 1)
                    };
                    let blob = Blob::from_bytes(pseudo_random(len, t * 100 + i));
                    cache.upload(std::slice::from_ref(&blob)).unwrap();
                    let dest = work.join(format!("{t}-{i}"));
                    cache.download(blob.digest, &dest).unwrap();
                    assert_eq!(Digest::of_file(&dest).unwrap(), blob.digest);
                }
            });
        }
    });
}
