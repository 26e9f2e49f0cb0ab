//! How reprobe's own cache keys become REAPI Action Cache keys.
//!
//! The Action Cache is keyed by the digest of an `Action` message. reprobe does not run
//! actions remotely; it only needs a stable name for "the outputs of the step whose input
//! hash is K" and "the manifest of graph G". Each such name is turned into a small, real
//! `Command` and `Action`, so that the entries are ordinary REAPI entries any tool can list
//! and inspect: the `Command`'s arguments spell out what the entry is.

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;

use super::{Digest, RemoteError};

/// First argument of the `Command` of a build step's entry.
pub const STEP_PROGRAM: &str = "reprobe-step";

/// Prefix of the first argument of the `Command` of a named document's entry.
pub const DOCUMENT_PROGRAM_PREFIX: &str = "reprobe-";

/// An `Action` (and its `Command`) that stands for one reprobe cache key.
///
/// It exists so that the Action Cache key of a reprobe entry is computed in one place,
/// deterministically, and so that the two messages it is made of can be uploaded to the CAS
/// beside the entry (REAPI tools expect an entry's Action and Command to be fetchable).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedAction {
    /// The Action Cache key: the digest of `action_bytes`.
    pub action_digest: Digest,
    /// The `Action` message.
    pub action: reapi::Action,
    /// Its encoding, as stored in the CAS.
    pub action_bytes: Vec<u8>,
    /// The digest of `command_bytes`.
    pub command_digest: Digest,
    /// The `Command` message.
    pub command: reapi::Command,
    /// Its encoding, as stored in the CAS.
    pub command_bytes: Vec<u8>,
}

impl KeyedAction {
    /// Builds the Action for a command line and its declared outputs.
    fn new(arguments: Vec<String>, output_paths: Vec<String>) -> KeyedAction {
        let command = reapi::Command {
            arguments,
            output_paths,
            ..Default::default()
        };
        let (command_digest, command_bytes) = Digest::of_message(&command);
        let action = reapi::Action {
            command_digest: Some(command_digest.to_proto()),
            input_root_digest: Some(Digest::EMPTY.to_proto()),
            do_not_cache: false,
            ..Default::default()
        };
        let (action_digest, action_bytes) = Digest::of_message(&action);
        KeyedAction {
            action_digest,
            action,
            action_bytes,
            command_digest,
            command,
            command_bytes,
        }
    }

    /// The blobs that must be in the CAS for the entry to be complete: the `Action`, the
    /// `Command` and the empty input root.
    pub fn blobs(&self) -> Vec<(Digest, Vec<u8>)> {
        vec![
            (self.action_digest, self.action_bytes.clone()),
            (self.command_digest, self.command_bytes.clone()),
            (Digest::EMPTY, Vec::new()),
        ]
    }
}

/// The Action that names the outputs of the build step whose input hash is `key`.
///
/// `key` is reprobe's input hash of the step, 64 lower-case hex digits. The Action depends on
/// the key alone (its `Command` is `["reprobe-step", KEY]` with no declared outputs), so a
/// lookup needs nothing but the key; the outputs themselves are listed in the entry's
/// `ActionResult`.
pub fn step_action(key: &str) -> Result<KeyedAction, RemoteError> {
    if key.len() != 64
        || !key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(RemoteError::InvalidArgument(format!(
            "`{key}` is not a step cache key (64 lower-case hex digits of a sha256)"
        )));
    }
    Ok(KeyedAction::new(
        vec![STEP_PROGRAM.to_string(), key.to_string()],
        Vec::new(),
    ))
}

/// The Action that names a document of kind `kind` called `name`, e.g. the manifest of the
/// graph whose id is `name` (`kind` = `manifest`).
///
/// Its `Command` is `["reprobe-KIND", NAME]` and declares one output file, `KIND`; the
/// document is that output. `kind` is a short lower-case word (letters, digits, `-`); `name`
/// is any string.
pub fn document_action(kind: &str, name: &str) -> Result<KeyedAction, RemoteError> {
    if kind.is_empty()
        || kind == "step"
        || !kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(RemoteError::InvalidArgument(format!(
            "`{kind}` is not a document kind (lower-case letters, digits and `-`, not `step`)"
        )));
    }
    Ok(KeyedAction::new(
        vec![format!("{DOCUMENT_PROGRAM_PREFIX}{kind}"), name.to_string()],
        vec![kind.to_string()],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn step_action_spells_out_the_key() {
        let keyed = step_action(KEY).unwrap();
        assert_eq!(keyed.command.arguments, vec!["reprobe-step", KEY]);
        assert!(keyed.command.output_paths.is_empty());
        assert_eq!(
            keyed.action.command_digest,
            Some(keyed.command_digest.to_proto())
        );
        assert_eq!(
            keyed.action.input_root_digest,
            Some(Digest::EMPTY.to_proto())
        );
        assert!(!keyed.action.do_not_cache);
        assert_eq!(
            reapi::Action::decode(&keyed.action_bytes[..]).unwrap(),
            keyed.action
        );
        assert_eq!(Digest::of_bytes(&keyed.action_bytes), keyed.action_digest);
        assert_eq!(Digest::of_bytes(&keyed.command_bytes), keyed.command_digest);
    }

    #[test]
    fn step_action_is_pinned() {
        // The Action Cache key is a shared format: caches filled by one reprobe are read by
        // another. Any change of these bytes orphans every existing entry.
        let keyed = step_action(KEY).unwrap();
        assert_eq!(
            hex::encode(&keyed.command_bytes),
            format!(
                "0a0c{}0a40{}",
                hex::encode("reprobe-step"),
                hex::encode(KEY)
            )
        );
        assert_eq!(
            keyed.action_digest.to_string(),
            "0cb4dee3729ba154766f6f0107353c2128b43e136dfc86f8aff1412683f1e439/138"
        );
        assert_eq!(step_action(KEY).unwrap(), keyed);
    }

    #[test]
    fn bad_keys_and_kinds_are_refused() {
        for key in [
            "",
            "abc",
            &KEY.to_uppercase(),
            &format!("{KEY}0"),
            &KEY.replace('a', "g"),
        ] {
            assert!(step_action(key).is_err(), "{key}");
        }
        for kind in ["", "step", "Manifest", "a b", "a/b"] {
            assert!(document_action(kind, "g").is_err(), "{kind}");
        }
    }

    #[test]
    fn document_action_declares_its_output() {
        let keyed = document_action("manifest", "graph-1").unwrap();
        assert_eq!(keyed.command.arguments, vec!["reprobe-manifest", "graph-1"]);
        assert_eq!(keyed.command.output_paths, vec!["manifest"]);
    }

    proptest! {
        #[test]
        fn distinct_keys_give_distinct_actions(a in "[0-9a-f]{64}", b in "[0-9a-f]{64}") {
            let (ka, kb) = (step_action(&a).unwrap(), step_action(&b).unwrap());
            prop_assert_eq!(a == b, ka.action_digest == kb.action_digest);
            prop_assert_eq!(ka.clone(), step_action(&a).unwrap());
        }

        #[test]
        fn documents_never_collide_with_steps_or_each_other(
            kind in "[a-z0-9-]{1,12}", name in "\\PC{0,40}", key in "[0-9a-f]{64}", other in "\\PC{0,40}",
        ) {
            prop_assume!(kind != "step");
            let doc = document_action(&kind, &name).unwrap();
            prop_assert_ne!(doc.action_digest, step_action(&key).unwrap().action_digest);
            let doc2 = document_action(&kind, &other).unwrap();
            prop_assert_eq!(name == other, doc.action_digest == doc2.action_digest);
        }
    }
}
