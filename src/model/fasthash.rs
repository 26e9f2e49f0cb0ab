//! A fast hash for the import's tables of paths.
//!
//! SipHash, the standard library's default, guards a table against keys chosen to
//! collide; the keys here are the paths of the user's own build file and the names in
//! its directories, so a multiply-rotate hash over eight bytes at a time does the job
//! several times faster.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A multiply-rotate hash, eight bytes at a time.
#[derive(Default)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(word);
            self.write_u64(u64::from_le_bytes(eight));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut eight = [0u8; 8];
            eight[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(eight));
        }
    }

    /// One byte (the end mark `str` hashes write) as one word, not as a slice.
    fn write_u8(&mut self, byte: u8) {
        self.write_u64(u64::from(byte));
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        // The table picks buckets by the low bits: bring the well-mixed high bits there.
        self.0.rotate_left(26)
    }
}

/// A hash map using [`WordHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// A hash set using [`WordHasher`].
pub type FastSet<K> = HashSet<K, BuildHasherDefault<WordHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_differing_in_the_last_bytes_hash_apart() {
        let hash = |text: &str| {
            let mut hasher = WordHasher::default();
            std::hash::Hash::hash(text, &mut hasher);
            hasher.finish()
        };
        assert_ne!(hash("obj/lib0/f10.o"), hash("obj/lib0/f11.o"));
        assert_ne!(hash("abcdefgh"), hash("abcdefgh\0"));
    }
}
