//! Hashes: the sha256 digests that name blobs, step outputs and cache keys.
//!
//! Each kind of hash is its own newtype so an input hash can never be passed where a
//! content hash is meant (docs/design.md section 3). Files are hashed streaming, trees in
//! parallel with rayon.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Size of the read buffer used when streaming a file through sha256.
const READ_BUFFER: usize = 256 * 1024;

/// A raw sha256 digest; the newtypes below wrap it with a meaning.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex characters, for tables meant for people.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }

    /// sha256 of a byte string.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

/// Why a string is not a sha256 digest.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a sha256 digest (64 hex digits)")]
pub struct BadDigest(pub String);

impl FromStr for Digest {
    type Err = BadDigest;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut bytes).is_err() {
            return Err(BadDigest(s.to_string()));
        }
        Ok(Digest(bytes))
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A visitor, not `String::deserialize`: the hex is parsed in place, without an
        // allocation per digest (manifests hold hundreds of thousands of them).
        deserializer.deserialize_str(DigestVisitor)
    }
}

struct DigestVisitor;

impl serde::de::Visitor<'_> for DigestVisitor {
    type Value = Digest;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sha256 digest (64 hex digits)")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Digest, E> {
        s.parse().map_err(E::custom)
    }
}

macro_rules! digest_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Digest);

        impl $name {
            /// The first 12 hex characters, for tables meant for people.
            pub fn short(&self) -> String {
                self.0.short()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.short())
            }
        }

        impl FromStr for $name {
            type Err = BadDigest;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

digest_newtype!(
    /// sha256 of one file's bytes; also the name of its blob in the store.
    FileHash
);
digest_newtype!(
    /// Merkle hash of everything a step produced (docs/design.md section 3).
    ContentHash
);
digest_newtype!(
    /// The cache key of a step: its inputs, with each dep's *content* hash.
    InputHash
);
digest_newtype!(
    /// The Nix-style input-addressed key: its inputs, with each dep's *derivation* hash.
    DerivationHash
);

/// Streams a reader through sha256.
pub fn hash_reader(mut reader: impl Read) -> io::Result<(FileHash, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((FileHash(Digest(hasher.finalize().into())), size))
}

/// A reader that writes everything it reads to `to`: [`hash_reader`] over it copies and
/// hashes in one pass.
pub(crate) struct CopyingReader<R, W> {
    /// Where the bytes come from.
    pub from: R,
    /// Where they are copied to as they are read.
    pub to: W,
}

impl<R: Read, W: Write> Read for CopyingReader<R, W> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.from.read(buffer)?;
        self.to.write_all(&buffer[..n])?;
        Ok(n)
    }
}

/// Streams one file through sha256, returning its hash and size.
pub fn hash_file(path: &Path) -> io::Result<(FileHash, u64)> {
    hash_reader(File::open(path)?)
}

/// A canonical, unambiguous byte encoding fed to sha256: every field is tagged and
/// length-prefixed, so no two different inputs encode the same.
pub(crate) struct CanonicalHasher {
    inner: Sha256,
}

impl CanonicalHasher {
    /// Starts a hash in a named domain (so an input hash can never equal a content hash).
    pub fn new(domain: &str) -> Self {
        let mut hasher = CanonicalHasher {
            inner: Sha256::new(),
        };
        hasher.bytes(b'D', domain.as_bytes());
        hasher
    }

    /// Adds a tagged, length-prefixed byte string.
    pub fn bytes(&mut self, tag: u8, bytes: &[u8]) {
        self.inner.update([tag]);
        self.inner.update((bytes.len() as u64).to_le_bytes());
        self.inner.update(bytes);
    }

    /// Adds a tagged string.
    pub fn str(&mut self, tag: u8, s: &str) {
        self.bytes(tag, s.as_bytes());
    }

    /// Adds a tagged digest.
    pub fn digest(&mut self, tag: u8, digest: &Digest) {
        self.bytes(tag, &digest.0);
    }

    /// Adds a tagged flag.
    pub fn flag(&mut self, tag: u8, value: bool) {
        self.bytes(tag, &[u8::from(value)]);
    }

    /// Finishes the hash.
    pub fn finish(self) -> Digest {
        Digest(self.inner.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trips_through_hex() {
        let d = Digest::of_bytes(b"hello");
        assert_eq!(d.to_hex().parse::<Digest>().unwrap(), d);
        assert_eq!(
            d.to_hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn bad_hex_is_rejected() {
        assert!("xyz".parse::<Digest>().is_err());
        assert!("zz".repeat(32).parse::<Digest>().is_err());
    }

    #[test]
    fn hash_reader_matches_one_shot_digest() {
        let data = vec![7u8; READ_BUFFER * 3 + 17];
        let (hash, size) = hash_reader(&data[..]).unwrap();
        assert_eq!(hash.0, Digest::of_bytes(&data));
        assert_eq!(size, data.len() as u64);
    }

    #[test]
    fn canonical_encoding_separates_fields() {
        let mut a = CanonicalHasher::new("t");
        a.str(b's', "ab");
        a.str(b's', "c");
        let mut b = CanonicalHasher::new("t");
        b.str(b's', "a");
        b.str(b's', "bc");
        assert_ne!(a.finish(), b.finish());
    }
}
