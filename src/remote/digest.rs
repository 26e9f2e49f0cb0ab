//! REAPI digests: a sha256 and the size of the bytes it names.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::str::FromStr;

use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use sha2::{Digest as _, Sha256};

/// Size of the read buffer used when hashing a file.
const READ_BUFFER: usize = 256 * 1024;

/// The name of a blob in a remote CAS: its sha256 and its length.
///
/// It exists because REAPI names blobs by hash *and* size (servers use the size to route and
/// to check uploads), while reprobe's own hashes are bare sha256 values. Conversions to and
/// from the wire form validate the hex, so a malformed digest from a server is an error, not
/// a panic later.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    /// The sha256 of the bytes.
    pub hash: [u8; 32],
    /// Their length.
    pub size_bytes: u64,
}

impl Digest {
    /// The digest of no bytes, which is also the digest of the empty `Directory` message.
    pub const EMPTY: Digest = Digest {
        hash: [
            0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
            0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
            0x78, 0x52, 0xb8, 0x55,
        ],
        size_bytes: 0,
    };

    /// The digest of a byte string.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest {
            hash: Sha256::digest(bytes).into(),
            size_bytes: bytes.len() as u64,
        }
    }

    /// The digest of a file's content, read streaming.
    pub fn of_file(path: &Path) -> io::Result<Digest> {
        Digest::of_reader(File::open(path)?)
    }

    /// The digest of everything a reader yields.
    pub fn of_reader(mut reader: impl Read) -> io::Result<Digest> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; READ_BUFFER];
        let mut size = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok(Digest {
            hash: hasher.finalize().into(),
            size_bytes: size,
        })
    }

    /// Lower-case hex of the hash, 64 characters.
    pub fn hex(&self) -> String {
        hex::encode(self.hash)
    }

    /// The wire form.
    pub fn to_proto(&self) -> reapi::Digest {
        reapi::Digest {
            hash: self.hex(),
            size_bytes: self.size_bytes as i64,
        }
    }

    /// Parses the wire form; `None` when the hash is not 64 hex digits or the size is
    /// negative.
    pub fn from_proto(digest: &reapi::Digest) -> Option<Digest> {
        let mut hash = [0u8; 32];
        if digest.hash.len() != 64 || hex::decode_to_slice(&digest.hash, &mut hash).is_err() {
            return None;
        }
        Some(Digest {
            hash,
            size_bytes: u64::try_from(digest.size_bytes).ok()?,
        })
    }

    /// The digest of a protobuf message's encoding, with the encoding: how REAPI names the
    /// `Action`, `Command` and `Directory` messages stored in the CAS.
    pub fn of_message(message: &impl prost::Message) -> (Digest, Vec<u8>) {
        let bytes = message.encode_to_vec();
        (Digest::of_bytes(&bytes), bytes)
    }
}

impl fmt::Display for Digest {
    /// `HASH/SIZE`, the form REAPI resource names and most tools use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.hex(), self.size_bytes)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = String;

    /// Parses `HASH/SIZE`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a digest (64 hex digits, `/`, size in bytes)");
        let (hash, size) = s.split_once('/').ok_or_else(bad)?;
        Digest::from_proto(&reapi::Digest {
            hash: hash.to_string(),
            size_bytes: size.parse().map_err(|_| bad())?,
        })
        .ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_is_the_digest_of_nothing_and_of_the_empty_directory() {
        assert_eq!(Digest::of_bytes(b""), Digest::EMPTY);
        assert_eq!(
            Digest::of_message(&reapi::Directory::default()).0,
            Digest::EMPTY
        );
        assert_eq!(
            Digest::EMPTY.hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn malformed_wire_digests_are_refused() {
        for (hash, size) in [
            ("ab", 1),
            (&"g".repeat(64)[..], 1),
            (&"a".repeat(64)[..], -1),
        ] {
            let proto = reapi::Digest {
                hash: hash.to_string(),
                size_bytes: size,
            };
            assert!(Digest::from_proto(&proto).is_none(), "{proto:?}");
        }
    }

    proptest! {
        #[test]
        fn wire_and_text_forms_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let digest = Digest::of_bytes(&bytes);
            prop_assert_eq!(digest.size_bytes, bytes.len() as u64);
            prop_assert_eq!(Digest::from_proto(&digest.to_proto()), Some(digest));
            prop_assert_eq!(digest.to_string().parse::<Digest>(), Ok(digest));
            prop_assert_eq!(Digest::of_reader(&bytes[..]).unwrap(), digest);
        }
    }
}
