//! A local action entry as an ordinary REAPI `ActionResult`.
//!
//! Other REAPI tools see the step's regular files as `output_files` (path, digest,
//! executable bit) and its symbolic links as `output_symlinks`, and can list and fetch
//! them. What reprobe's own entry holds beyond that (entry types, modes, empty
//! directories, the run's findings and how closely it was observed) travels as the
//! entry itself, JSON in a CAS blob, named by a `Digest` in the result's
//! `execution_metadata.auxiliary_metadata`.

use bazel_remote_apis::google::protobuf::Any;
use prost::Message;

use crate::model::hash::InputHash;
use crate::model::tree::{self, EntryType};
use crate::remote::{reapi, Digest};
use crate::store::{ActionEntry, ACTION_SCHEMA};

/// The `type_url` of the `Any` that names the entry's JSON blob; the message is a REAPI
/// `Digest` (the last segment of the URL, as `Any` wants).
pub const ENTRY_TYPE_URL: &str =
    "type.reprobe.dev/reprobe.action.v1/build.bazel.remote.execution.v2.Digest";

/// The `worker` named in the results reprobe writes.
const WORKER: &str = "reprobe";

/// The REAPI digest of a local blob (reprobe names blobs by sha256; REAPI adds the size).
pub(super) fn blob_digest(sha256: &crate::model::hash::FileHash, size: u64) -> Digest {
    Digest {
        hash: sha256.0 .0,
        size_bytes: size,
    }
}

/// The `ActionResult` of `entry`, whose JSON is the blob `entry_blob`.
pub fn encode_entry(entry: &ActionEntry, entry_blob: Digest) -> reapi::ActionResult {
    let mut result = reapi::ActionResult {
        exit_code: 0,
        ..Default::default()
    };
    for output in &entry.outputs {
        match (output.kind, output.sha256, &output.target) {
            (EntryType::File, Some(hash), _) => result.output_files.push(reapi::OutputFile {
                path: output.path.clone(),
                digest: Some(blob_digest(&hash, output.size).to_proto()),
                is_executable: output.executable(),
                ..Default::default()
            }),
            (EntryType::Symlink, _, Some(target)) => {
                result.output_symlinks.push(reapi::OutputSymlink {
                    path: output.path.clone(),
                    target: target.clone(),
                    ..Default::default()
                })
            }
            _ => {}
        }
    }
    result.execution_metadata = Some(reapi::ExecutedActionMetadata {
        worker: WORKER.to_string(),
        auxiliary_metadata: vec![Any {
            type_url: ENTRY_TYPE_URL.to_string(),
            value: entry_blob.to_proto().encode_to_vec(),
        }],
        ..Default::default()
    });
    result
}

/// The digest of the entry's JSON blob named in `result`; `None` when the result was not
/// written by reprobe (or is for a failed run).
pub(super) fn entry_blob(result: &reapi::ActionResult) -> Option<Digest> {
    if result.exit_code != 0 {
        return None;
    }
    let metadata = result.execution_metadata.as_ref()?;
    let any = metadata
        .auxiliary_metadata
        .iter()
        .find(|a| a.type_url == ENTRY_TYPE_URL)?;
    let proto = reapi::Digest::decode(any.value.as_slice()).ok()?;
    Digest::from_proto(&proto)
}

/// Reads and checks an entry's JSON sent by the server for the step whose key is `key`
/// and whose declared outputs are `declared`. The entry must be for that key, its content
/// hash must be its outputs' and each output must be one of the declared ones or inside
/// one: an entry that fails is refused with the reason.
pub fn decode_entry(
    bytes: &[u8],
    key: &InputHash,
    declared: &[String],
) -> Result<ActionEntry, String> {
    let entry: ActionEntry =
        serde_json::from_slice(bytes).map_err(|e| format!("its entry does not parse ({e})"))?;
    check_entry(entry, key, declared)
}

/// Accepts an entry the server sent for the step whose key is `key` and whose declared
/// outputs are `declared` only when it is one: this reprobe's schema, the same key, only
/// declared outputs, and a content hash that is its outputs'.
pub fn check_entry(
    entry: ActionEntry,
    key: &InputHash,
    declared: &[String],
) -> Result<ActionEntry, String> {
    if entry.schema != ACTION_SCHEMA {
        return Err(format!(
            "its entry has schema `{}`, not `{ACTION_SCHEMA}`",
            entry.schema
        ));
    }
    if entry.input_hash != *key {
        return Err(format!(
            "its entry is for key {}, not this step's",
            entry.input_hash
        ));
    }
    for output in &entry.outputs {
        if !declares(declared, &output.path) {
            return Err(format!(
                "its entry lists `{}`, which is not a declared output",
                output.path
            ));
        }
        if output.kind == EntryType::File && output.sha256.is_none() {
            return Err(format!(
                "its entry lists file `{}` without a hash",
                output.path
            ));
        }
    }
    if tree::content_hash(&entry.outputs) != entry.content_hash {
        return Err("its entry's content hash is not that of its outputs".to_string());
    }
    Ok(entry)
}

/// Whether `path` is a declared output or inside one, and a plain relative path.
fn declares(declared: &[String], path: &str) -> bool {
    let plain = !path.is_empty()
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    plain
        && declared.iter().any(|d| {
            let d = d.trim_end_matches('/');
            path == d
                || path
                    .strip_prefix(d)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hash::{DerivationHash, Digest as Sha, FileHash};
    use crate::model::tree::TreeEntry;

    fn entry() -> ActionEntry {
        let outputs = vec![
            TreeEntry {
                path: "out".into(),
                kind: EntryType::Dir,
                mode: 0o755,
                size: 0,
                sha256: None,
                target: None,
                mtime: 0,
            },
            TreeEntry {
                path: "out/tool".into(),
                kind: EntryType::File,
                mode: 0o755,
                size: 3,
                sha256: Some(FileHash(Sha::of_bytes(b"abc"))),
                target: None,
                mtime: 0,
            },
            TreeEntry {
                path: "out/link".into(),
                kind: EntryType::Symlink,
                mode: 0o777,
                size: 4,
                sha256: None,
                target: Some("tool".into()),
                mtime: 0,
            },
        ];
        ActionEntry {
            schema: ACTION_SCHEMA.into(),
            input_hash: InputHash(Sha::of_bytes(b"key")),
            derivation_hash: DerivationHash(Sha::of_bytes(b"d")),
            content_hash: tree::content_hash(&outputs),
            outputs,
            duration_ms: 5,
            findings: Default::default(),
            observed: Default::default(),
        }
    }

    #[test]
    fn other_tools_see_files_and_links_and_reprobe_finds_its_entry() {
        let entry = entry();
        let blob = Digest::of_bytes(b"{}");
        let result = encode_entry(&entry, blob);
        assert_eq!(result.output_files.len(), 1);
        assert_eq!(result.output_files[0].path, "out/tool");
        assert!(result.output_files[0].is_executable);
        assert_eq!(result.output_symlinks[0].target, "tool");
        assert_eq!(entry_blob(&result), Some(blob));
        let failed = reapi::ActionResult {
            exit_code: 1,
            ..result
        };
        assert_eq!(entry_blob(&failed), None);
        assert_eq!(entry_blob(&reapi::ActionResult::default()), None);
    }

    #[test]
    fn an_entry_is_checked_against_the_step() {
        let entry = entry();
        let bytes = serde_json::to_vec(&entry).unwrap();
        let declared = vec!["out/".to_string()];
        assert!(decode_entry(&bytes, &entry.input_hash, &declared).is_ok());
        let other_key = InputHash(Sha::of_bytes(b"other"));
        assert!(decode_entry(&bytes, &other_key, &declared)
            .unwrap_err()
            .contains("not this step's"));
        assert!(
            decode_entry(&bytes, &entry.input_hash, &["outside".to_string()])
                .unwrap_err()
                .contains("not a declared output")
        );
        let mut lying = entry.clone();
        lying.outputs[1].sha256 = Some(FileHash(Sha::of_bytes(b"xyz")));
        let bytes = serde_json::to_vec(&lying).unwrap();
        assert!(decode_entry(&bytes, &entry.input_hash, &declared)
            .unwrap_err()
            .contains("content hash"));
        assert!(decode_entry(b"nope", &entry.input_hash, &declared).is_err());
    }

    #[test]
    fn only_declared_paths_and_their_insides() {
        let declared = vec!["a".to_string(), "d/".to_string()];
        for ok in ["a", "d", "d/x", "d/x/y"] {
            assert!(declares(&declared, ok), "{ok}");
        }
        for bad in ["b", "ab", "dx", "d/../etc", "a/./b", "", "d//x"] {
            assert!(!declares(&declared, bad), "{bad}");
        }
    }
}
