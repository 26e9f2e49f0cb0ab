//! Signed verdicts: `check`'s result as an in-toto attestation anyone can verify.
//!
//! A report on stdout proves nothing to someone who did not run the check. An attestation
//! does: it binds the verdict to the exact bytes of the outputs and is signed with a key the
//! reader trusts, so "these files were built reproducibly" (or were not) can be handed on.
//!
//! The file is a [DSSE](https://github.com/secure-systems-lab/dsse) envelope (protocol v1)
//! whose payload is an [in-toto Statement v1](https://in-toto.io/Statement/v1):
//!
//! - envelope: `payloadType` [`PAYLOAD_TYPE`], `payload` the statement's JSON in base64,
//!   `signatures` `[{keyid, sig}]`, each an Ed25519 signature over [`pae`] of the two;
//! - statement: `_type` [`STATEMENT_TYPE`], `subject` the final outputs by name and sha256,
//!   `predicateType` [`PREDICATE_TYPE`], `predicate` a [`Predicate`];
//! - keys: Ed25519 in the PEM files OpenSSL uses ([`read_signing_key`],
//!   [`read_verifying_key`], [`keygen`]); a `keyid` is the sha256 of the raw public key
//!   ([`keyid`]).
//!
//! Typical use, for `check --attest FILE --key KEY`:
//!
//! ```no_run
//! use reprobe::attest::*;
//! # fn main() -> Result<(), AttestError> {
//! # let steps = Vec::new(); let tools = Vec::new();
//! let key = read_signing_key("key.pem".as_ref())?;
//! let subject = vec![Subject::of_file("out/app", "project/out/app".as_ref())?];
//! let predicate = Predicate::new(vec!["clock".into()], steps, tools);
//! sign_to_file(&Statement::new(subject, predicate), &key, "verdict.intoto.json".as_ref())?;
//! # Ok(()) }
//! ```
//!
//! and for `attestation verify FILE --key PUB`:
//!
//! ```no_run
//! use reprobe::attest::*;
//! # fn main() -> Result<(), AttestError> {
//! let key = read_verifying_key("pub.pem".as_ref())?;
//! let verified = verify("verdict.intoto.json".as_ref(), &key)?;
//! println!("{} (signed by {})", verified.statement.predicate.result, verified.keyid);
//! # Ok(()) }
//! ```

mod digest;
mod dsse;
mod error;
mod file;
mod keys;
mod predicate;
mod statement;

pub use digest::Sha256Digest;
pub use dsse::{decode_base64, pae, Envelope, Signature, PAYLOAD_TYPE};
pub use error::AttestError;
pub use file::{
    read_envelope, sign, sign_to_file, verify, verify_envelope, write_envelope, VerifiedStatement,
    MAX_ENVELOPE_FILE,
};
pub use keys::{keygen, keyid, public_key_pem, read_signing_key, read_verifying_key, KeyPairFiles};
pub use predicate::{
    NotApplied, Outcome, Predicate, StepAttestation, StepReason, StepVerdict, Tool, PREDICATE_TYPE,
};
pub use statement::{DigestSet, Statement, Subject, SubjectCheck, SubjectStatus, STATEMENT_TYPE};

/// The key types of the signing library, re-exported so callers need no dependency of their
/// own to hold a key.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
