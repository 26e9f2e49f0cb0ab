//! The sha256 digests a statement carries, checked to be well-formed when read.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A sha256 digest, written as 64 lower-case hex digits.
///
/// It exists so that every digest in a statement is checked to be one when the statement is
/// parsed (a signed file with `"sha256": "oops"` is refused, not carried along), without the
/// attestation schema depending on the internal hash newtypes: a caller passes the raw 32
/// bytes of any of them (`Sha256Digest(hash.0 .0)`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// sha256 of a byte string.
    pub fn of_bytes(bytes: &[u8]) -> Sha256Digest {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// sha256 of a file's content, streamed.
    pub fn of_file(path: &Path) -> io::Result<Sha256Digest> {
        let mut hasher = Sha256::new();
        io::copy(&mut File::open(path)?, &mut hasher)?;
        Ok(Sha256Digest(hasher.finalize().into()))
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<[u8; 32]> for Sha256Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Sha256Digest(bytes)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Sha256Digest {
    type Err = String;

    /// Accepts exactly 64 lower-case hex digits: in-toto digests are lower-case, and
    /// accepting two spellings would let one verdict be signed in two ways.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        let lower = s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if s.len() != 64 || !lower || hex::decode_to_slice(s, &mut bytes).is_err() {
            return Err(format!(
                "`{s}` is not a sha256 digest (64 lower-case hex digits)"
            ));
        }
        Ok(Sha256Digest(bytes))
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_must_be_64_lower_case_hex() {
        let good = "ab".repeat(32);
        assert!(good.parse::<Sha256Digest>().is_ok());
        assert!(good.to_uppercase().parse::<Sha256Digest>().is_err());
        assert!("ab".repeat(31).parse::<Sha256Digest>().is_err());
        assert!(format!("{}zz", "ab".repeat(31))
            .parse::<Sha256Digest>()
            .is_err());
        let json = format!(r#""{}""#, "AB".repeat(32));
        assert!(serde_json::from_str::<Sha256Digest>(&json).is_err());
        let json = format!(r#""{}""#, "ab".repeat(32));
        assert!(serde_json::from_str::<Sha256Digest>(&json).is_ok());
    }
}
