//! Ed25519 keys in the standard files OpenSSL reads and writes, their keyids, and `keygen`.
//!
//! Private keys are PKCS#8 (`-----BEGIN PRIVATE KEY-----`), public keys SubjectPublicKeyInfo
//! (`-----BEGIN PUBLIC KEY-----`), both PEM, or the same in DER: exactly what
//! `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` produce, so users keep
//! the tools and key management they already have.

use std::fs::{self, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::{self, LineEnding};
use ed25519_dalek::pkcs8::spki::SubjectPublicKeyInfoRef;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    KeypairBytes, PrivateKeyInfo,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use super::AttestError;

/// A key file larger than this is not a key; reading stops there.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The id of a public key, written into each signature's `keyid`: the lower-case hex
/// sha256 of the key's 32 raw bytes (not of its PEM or DER wrapping, so the id does not
/// depend on how the key is stored). It lets an error say which key signed.
pub fn keyid(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Reads the private key `check --attest` signs with, from a PKCS#8 PEM or DER file.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, AttestError> {
    let bytes = read_key_file(path)?;
    let not_a_key = |detail: String| AttestError::NotAPrivateKey {
        path: path.to_path_buf(),
        detail,
    };
    let der = match pem_label(&bytes) {
        Some("PRIVATE KEY") => pem_contents(&bytes).map_err(not_a_key)?,
        Some("PUBLIC KEY") => {
            return Err(not_a_key(
                "it holds a public key; signing needs the private key".into(),
            ))
        }
        Some("ENCRYPTED PRIVATE KEY") => {
            return Err(not_a_key(
                "it is protected by a passphrase, which reprobe does not read; \
                 `openssl pkey -in KEY -out plain.pem` writes it unprotected"
                    .into(),
            ))
        }
        Some(other) => return Err(not_a_key(format!("a PEM `{other}` block"))),
        None => bytes,
    };
    SigningKey::from_pkcs8_der(&der).map_err(|err| {
        not_a_key(match PrivateKeyInfo::try_from(der.as_slice()) {
            Ok(info) if info.algorithm.oid.to_string() != ED25519_OID => {
                algorithm_detail(&info.algorithm.oid.to_string())
            }
            Ok(_) => format!("a damaged Ed25519 key: {err}"),
            Err(_) => "neither a PEM key nor PKCS#8 DER".into(),
        })
    })
}

/// Reads the public key `attestation verify` checks against, from a PEM or DER
/// SubjectPublicKeyInfo file.
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, AttestError> {
    let bytes = read_key_file(path)?;
    let not_a_key = |detail: String| AttestError::NotAPublicKey {
        path: path.to_path_buf(),
        detail,
    };
    let der = match pem_label(&bytes) {
        Some("PUBLIC KEY") => pem_contents(&bytes).map_err(not_a_key)?,
        Some("PRIVATE KEY") | Some("ENCRYPTED PRIVATE KEY") => {
            return Err(not_a_key(
                "it holds a private key, which must stay with the signer; \
                 verify with its public half"
                    .into(),
            ))
        }
        Some(other) => return Err(not_a_key(format!("a PEM `{other}` block"))),
        None => bytes,
    };
    VerifyingKey::from_public_key_der(&der).map_err(|err| {
        not_a_key(match SubjectPublicKeyInfoRef::try_from(der.as_slice()) {
            Ok(info) if info.algorithm.oid.to_string() != ED25519_OID => {
                algorithm_detail(&info.algorithm.oid.to_string())
            }
            Ok(_) => format!("a damaged Ed25519 key: {err}"),
            Err(_) => "neither a PEM key nor SubjectPublicKeyInfo DER".into(),
        })
    })
}

/// The public key as PEM, as `openssl pkey -pubout` writes it.
pub fn public_key_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("an Ed25519 public key always encodes")
}

/// The private key as PKCS#8 v1 PEM, without the optional public key: the form
/// `openssl genpkey -algorithm ed25519` writes, which every PKCS#8 reader accepts.
fn private_key_pem(key: &SigningKey) -> zeroize::Zeroizing<String> {
    KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .expect("an Ed25519 private key always encodes")
}

/// The two files `keygen` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairFiles {
    /// The private key (mode 0600).
    pub private: PathBuf,
    /// The public key (mode 0644 less the umask).
    pub public: PathBuf,
    /// The new key's [`keyid`].
    pub keyid: String,
}

/// Makes a new Ed25519 key pair from the system's random source and writes it as PEM:
/// the private key to `private` with mode 0600, the public one to `public`.
///
/// It exists so users without OpenSSL can sign (`reprobe attestation keygen`). It never
/// overwrites a file: if either exists nothing is written. Each file appears whole or not
/// at all (written beside its final name, then linked into place), and if the public key
/// cannot be written the private one is removed again, so no half pair is left.
pub fn keygen(private: &Path, public: &Path) -> Result<KeyPairFiles, AttestError> {
    for path in [private, public] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(AttestError::KeyExists {
                path: path.to_path_buf(),
            });
        }
    }
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|err| AttestError::Random {
        path: private.to_path_buf(),
        detail: err.to_string(),
    })?;
    let key = SigningKey::from_bytes(&seed);
    write_new_file(private, private_key_pem(&key).as_bytes(), 0o600)?;
    if let Err(err) = write_new_file(
        public,
        public_key_pem(&key.verifying_key()).as_bytes(),
        0o644,
    ) {
        let _ = fs::remove_file(private);
        return Err(err);
    }
    Ok(KeyPairFiles {
        private: private.to_path_buf(),
        public: public.to_path_buf(),
        keyid: keyid(&key.verifying_key()),
    })
}

/// Writes `bytes` to a new file at `path` with `mode`, never replacing an existing one.
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AttestError> {
    let write_error = |source: io::Error| AttestError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = parent_dir(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".reprobe-key-")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(write_error)?;
    temp.write_all(bytes).map_err(write_error)?;
    temp.as_file().sync_all().map_err(write_error)?;
    temp.persist_noclobber(path).map_err(|err| {
        if err.error.kind() == io::ErrorKind::AlreadyExists {
            AttestError::KeyExists {
                path: path.to_path_buf(),
            }
        } else {
            write_error(err.error)
        }
    })?;
    Ok(())
}

/// The directory a file named `path` goes into (`.` for a bare name).
pub(super) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Reads at most [`MAX_KEY_FILE`] bytes of a key file.
fn read_key_file(path: &Path) -> Result<Vec<u8>, AttestError> {
    let read_error = |source: io::Error| AttestError::ReadKey {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(read_error(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_KEY_FILE} bytes, too large to be a key"),
        )));
    }
    Ok(bytes)
}

/// The label of the first PEM block (`PRIVATE KEY` in `-----BEGIN PRIVATE KEY-----`), if
/// the file is PEM.
fn pem_label(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let end = text[start..].find("-----")?;
    Some(&text[start..start + end])
}

/// The DER inside the first PEM block of `bytes` (text before the block, as some tools
/// write, is skipped).
fn pem_contents(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let start = memchr::memmem::find(bytes, b"-----BEGIN ").unwrap_or(0);
    pem::decode_vec(&bytes[start..])
        .map(|(_, der)| der)
        .map_err(|err| format!("damaged PEM: {err}"))
}

/// The object identifier of Ed25519 (RFC 8410).
const ED25519_OID: &str = "1.3.101.112";

/// Says which algorithm a key of another kind is for, by its object identifier.
fn algorithm_detail(oid: &str) -> String {
    let name = match oid {
        "1.2.840.113549.1.1.1" => "an RSA",
        "1.2.840.10045.2.1" => "an ECDSA (EC)",
        "1.2.840.10040.4.1" => "a DSA",
        "1.3.101.110" => "an X25519",
        "1.3.101.111" => "an X448",
        "1.3.101.113" => "an Ed448",
        _ => return format!("a key for algorithm {oid}; reprobe signs with Ed25519 only"),
    };
    format!("{name} key; reprobe signs with Ed25519 only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyid_is_the_sha256_of_the_raw_public_key() {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(keyid(&key), hex::encode(Sha256::digest(key.to_bytes())));
        assert_eq!(keyid(&key).len(), 64);
    }

    #[test]
    fn keygen_writes_a_readable_pair_with_a_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("key.pem");
        let public = dir.path().join("key.pub.pem");
        let files = keygen(&private, &public).unwrap();
        let signing = read_signing_key(&private).unwrap();
        let verifying = read_verifying_key(&public).unwrap();
        assert_eq!(signing.verifying_key(), verifying);
        assert_eq!(files.keyid, keyid(&verifying));
        let mode = fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&private).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }

    #[test]
    fn keygen_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("key.pem");
        let public = dir.path().join("key.pub.pem");
        fs::write(&public, "precious").unwrap();
        let err = keygen(&private, &public).unwrap_err();
        assert!(matches!(err, AttestError::KeyExists { .. }), "{err}");
        assert!(err.to_string().contains("key.pub.pem"), "{err}");
        assert!(!private.exists(), "nothing is written when one file exists");
        assert_eq!(fs::read_to_string(&public).unwrap(), "precious");
    }

    #[test]
    fn keygen_into_a_missing_directory_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("nope/key.pem");
        let public = dir.path().join("key.pub.pem");
        let err = keygen(&private, &public).unwrap_err();
        assert!(matches!(err, AttestError::Write { .. }), "{err}");
        assert!(err.to_string().contains("nope/key.pem"), "{err}");
        assert!(!public.exists());
    }

    #[test]
    fn a_file_that_is_not_a_key_is_named_with_a_remedy() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("notes.txt");
        fs::write(&junk, "just some text\n").unwrap();
        for err in [
            read_signing_key(&junk).unwrap_err(),
            read_verifying_key(&junk).unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("{}: not an Ed25519", junk.display())),
                "{text}"
            );
            assert!(text.contains("openssl"), "{text}");
        }
        let missing = dir.path().join("missing.pem");
        let text = read_signing_key(&missing).unwrap_err().to_string();
        assert!(
            text.contains("missing.pem") && text.contains("--key"),
            "{text}"
        );
    }

    #[test]
    fn the_halves_of_a_pair_are_not_interchangeable() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("k.pem");
        let public = dir.path().join("k.pub");
        keygen(&private, &public).unwrap();
        let text = read_signing_key(&public).unwrap_err().to_string();
        assert!(
            text.contains("public key; signing needs the private key"),
            "{text}"
        );
        let text = read_verifying_key(&private).unwrap_err().to_string();
        assert!(text.contains("holds a private key"), "{text}");
    }

    #[test]
    fn der_keys_are_read_too() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[9; 32]);
        let private = dir.path().join("k.der");
        let public = dir.path().join("k.pub.der");
        fs::write(&private, key.to_pkcs8_der().unwrap().as_bytes()).unwrap();
        fs::write(
            &public,
            key.verifying_key().to_public_key_der().unwrap().as_bytes(),
        )
        .unwrap();
        assert_eq!(read_signing_key(&private).unwrap(), key);
        assert_eq!(read_verifying_key(&public).unwrap(), key.verifying_key());
    }

    #[test]
    fn text_before_the_pem_block_is_skipped_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[5; 32]);
        let path = dir.path().join("k.pem");
        let pem = format!(
            "Bag Attributes\n    friendlyName: ci\n{}",
            private_key_pem(&key).as_str()
        );
        fs::write(&path, pem).unwrap();
        assert_eq!(read_signing_key(&path).unwrap(), key);

        fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\n%%%%\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let text = read_signing_key(&path).unwrap_err().to_string();
        assert!(text.contains("damaged PEM"), "{text}");

        fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let text = read_verifying_key(&path).unwrap_err().to_string();
        assert!(text.contains("a PEM `CERTIFICATE` block"), "{text}");
    }

    #[test]
    fn an_oversized_file_is_refused_without_reading_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.pem");
        fs::write(&big, vec![b'a'; (MAX_KEY_FILE + 10) as usize]).unwrap();
        let text = read_signing_key(&big).unwrap_err().to_string();
        assert!(
            text.contains("big.pem") && text.contains("too large"),
            "{text}"
        );
    }
}
