//! What can go wrong reading keys, writing attestations and verifying them.
//!
//! Every message names the file it is about and says what to do, because the person who
//! reads it is usually checking someone else's attestation and cannot see our code.

use std::io;
use std::path::PathBuf;

/// Why a key, an attestation or a verification failed.
///
/// It exists so `reprobe attestation verify` and `check --attest` can print one line that
/// names the file and the remedy, and so callers can tell a forged or altered attestation
/// ([`AttestError::Tampered`], [`AttestError::WrongKey`]) from an unreadable file.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// A key file could not be read at all (missing, unreadable, a directory).
    #[error("{path}: cannot read the key file: {source}; check the path given with --key")]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },

    /// A file given as a private key is not an Ed25519 private key in PKCS#8 (PEM or DER).
    #[error(
        "{path}: not an Ed25519 private key ({detail}); give a PKCS#8 PEM file \
         (`-----BEGIN PRIVATE KEY-----`) as made by `reprobe attestation keygen` or \
         `openssl genpkey -algorithm ed25519 -out key.pem`"
    )]
    NotAPrivateKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// A file given as a public key is not an Ed25519 public key in SubjectPublicKeyInfo
    /// form (PEM or DER).
    #[error(
        "{path}: not an Ed25519 public key ({detail}); give a PEM file \
         (`-----BEGIN PUBLIC KEY-----`) as made by `reprobe attestation keygen` or \
         `openssl pkey -in key.pem -pubout -out pub.pem`"
    )]
    NotAPublicKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// `keygen` was asked to write a key over a file that already exists.
    #[error(
        "{path} already exists; keygen never overwrites a key: remove it or choose another path"
    )]
    KeyExists {
        /// The existing file.
        path: PathBuf,
    },

    /// A key or an attestation could not be written.
    #[error("{path}: cannot write: {source}; check that its directory exists and is writable")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },

    /// An attestation (or an artifact named in one) could not be read.
    #[error("{path}: cannot read: {source}; check the path")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },

    /// The file is not a DSSE envelope reprobe can decode (not JSON, fields missing or of
    /// the wrong type, bad base64, too large).
    #[error(
        "{path}: not a DSSE envelope ({detail}); give the file written by \
         `reprobe check --attest`, unmodified"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// The envelope carries no signature at all.
    #[error("{path}: the envelope has no signature; it proves nothing: sign it again with `reprobe check --attest FILE --key KEY`")]
    Unsigned {
        /// The file.
        path: PathBuf,
    },

    /// A signature made with the given key is there, but it does not match the payload and
    /// payloadType: the file was changed after it was signed, or the signature is damaged.
    #[error(
        "{path}: the signature by key {keyid} does not match the signed content: the file was \
         altered after signing (payload, payloadType or signature); do not trust it, get the \
         original attestation again"
    )]
    Tampered {
        /// The file.
        path: PathBuf,
        /// The keyid of the key the caller trusts (also the one the signature claims).
        keyid: String,
    },

    /// The envelope was signed by other keys than the one the caller trusts.
    #[error(
        "{path}: not signed by the key {keyid} given to verify it (signed by: {signed_by}); \
         verify with the public key of the signer, and trust it only if that key is one you \
         expect"
    )]
    WrongKey {
        /// The file.
        path: PathBuf,
        /// The keyid of the key the caller trusts.
        keyid: String,
        /// The keyids the signatures name (unauthenticated hints), comma-separated.
        signed_by: String,
    },

    /// No signature verifies with the given key and none names a keyid, so reprobe cannot
    /// say whether another key signed it or the file was altered.
    #[error(
        "{path}: no signature verifies with the key {keyid}: it was signed by another key or \
         altered after signing; do not trust it"
    )]
    NotVerified {
        /// The file.
        path: PathBuf,
        /// The keyid of the key the caller trusts.
        keyid: String,
    },

    /// The signature is good, but the payload is not of the type reprobe writes.
    #[error(
        "{path}: payloadType is `{found}`, not `{expected}`: this is not an in-toto \
         attestation; give a file written by `reprobe check --attest`"
    )]
    WrongPayloadType {
        /// The file.
        path: PathBuf,
        /// The payloadType found.
        found: String,
        /// The payloadType reprobe writes.
        expected: &'static str,
    },

    /// The signature is good, but the payload is not an in-toto Statement v1 carrying a
    /// reprobe verdict that reprobe can read.
    #[error(
        "{path}: the signed payload is not a reprobe verdict statement ({detail}); it may come \
         from another tool or a newer reprobe: check it with that tool, or upgrade reprobe"
    )]
    NotAVerdict {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },

    /// The signed predicate contradicts itself: its overall result is not what its steps
    /// say. Only a faulty or dishonest signer produces this.
    #[error(
        "{path}: the signed verdict says `{claimed}` but its steps say `{derived}`; the signer \
         produced an inconsistent attestation: do not trust it"
    )]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// The `result` the predicate claims.
        claimed: String,
        /// The result its steps imply.
        derived: String,
    },

    /// The operating system's random source failed while generating a key.
    #[error(
        "cannot generate a key for {path}: the system's random source failed: {detail}; try again"
    )]
    Random {
        /// The private key file that was to be written.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}

impl AttestError {
    /// Whether the error says the attestation must not be trusted (a signature that does
    /// not verify, another signer, content that is not a consistent reprobe verdict), as
    /// opposed to a file or key that could not be read at all. `attestation verify` gives
    /// the two different exit codes.
    pub fn is_untrusted(&self) -> bool {
        match self {
            AttestError::Unsigned { .. }
            | AttestError::Tampered { .. }
            | AttestError::WrongKey { .. }
            | AttestError::NotVerified { .. }
            | AttestError::WrongPayloadType { .. }
            | AttestError::NotAVerdict { .. }
            | AttestError::Inconsistent { .. } => true,
            AttestError::ReadKey { .. }
            | AttestError::NotAPrivateKey { .. }
            | AttestError::NotAPublicKey { .. }
            | AttestError::KeyExists { .. }
            | AttestError::Write { .. }
            | AttestError::Read { .. }
            | AttestError::Malformed { .. }
            | AttestError::Random { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_signature_is_untrusted_an_unreadable_file_is_not() {
        let path = PathBuf::from("v.json");
        let tampered = AttestError::Tampered {
            path: path.clone(),
            keyid: "k".to_string(),
        };
        let unreadable = AttestError::Read {
            path: path.clone(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        let garbled = AttestError::Malformed {
            path,
            detail: "not JSON".to_string(),
        };
        assert!(tampered.is_untrusted());
        assert!(!unreadable.is_untrusted());
        assert!(!garbled.is_untrusted());
    }
}
