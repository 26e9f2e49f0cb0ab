//! Shared by the diff targets: make fuzz bytes look like one format (its magic bytes),
//! derive a second, slightly different input, and compare the two in memory.
#![allow(dead_code)]

use reprobe::diff::{diff_bytes, DiffOptions};

/// The formats of the diff engine.
pub enum Kind {
    Tar,
    Gzip,
    Xz,
    Zstd,
    Zip,
    Ar,
    Elf,
    Json,
    Text,
}

fn shaped(kind: &Kind, data: &[u8]) -> (Vec<u8>, &'static str) {
    let mut out = data.to_vec();
    let prefix = |out: &mut Vec<u8>, magic: &[u8]| {
        if !out.starts_with(magic) {
            out.splice(0..0, magic.iter().copied());
        }
    };
    let name = match kind {
        Kind::Tar => {
            if out.len() < 512 {
                out.resize(512, 0);
            }
            out[257..262].copy_from_slice(b"ustar");
            "x.tar"
        }
        Kind::Gzip => {
            prefix(&mut out, &[0x1f, 0x8b]);
            "x.gz"
        }
        Kind::Xz => {
            prefix(&mut out, b"\xfd7zXZ\x00");
            "x.xz"
        }
        Kind::Zstd => {
            prefix(&mut out, &[0x28, 0xb5, 0x2f, 0xfd]);
            "x.zst"
        }
        Kind::Zip => {
            prefix(&mut out, b"PK\x03\x04");
            "x.zip"
        }
        Kind::Ar => {
            prefix(&mut out, b"!<arch>\n");
            "x.a"
        }
        Kind::Elf => {
            prefix(&mut out, b"\x7fELF");
            "x.o"
        }
        Kind::Json => "x.json",
        Kind::Text => "x.txt",
    };
    (out, name)
}

/// Compares the shaped input with a copy that differs in one byte (chosen by the input),
/// with limits small enough that a fuzz run never runs out of memory.
pub fn diff(kind: Kind, data: &[u8]) {
    let (a, name) = shaped(&kind, data);
    let mut b = a.clone();
    if !b.is_empty() {
        let at = usize::from(*a.last().unwrap_or(&0)) * 31 % b.len();
        b[at] ^= 0x01;
    }
    let opts = DiffOptions {
        max_expanded_bytes: 64 << 20,
        ..DiffOptions::default()
    };
    let report = diff_bytes(name, &a, &b, &opts);
    if a != b {
        assert!(
            !report.is_identical(),
            "differing inputs reported identical"
        );
    }
}
