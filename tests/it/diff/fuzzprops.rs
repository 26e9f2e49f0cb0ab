//! Property tests of the diff engine on hostile bytes, within the normal `cargo test`:
//! for every container format (gzip, xz, zstd, zip, ar, ELF, tar, JSON),
//! arbitrary bytes and mutated valid archives never panic the comparison, whether they
//! are compared with a valid archive or with each other, and differing inputs are never
//! called identical. The case counts are small, so that the whole file runs in seconds;
//! `fuzz/` runs the same shapes for hours.

use std::io::Write;

use proptest::prelude::*;
use reprobe::diff::{diff_bytes, DiffOptions};

/// The formats, each with the name its inputs are given and its magic bytes.
#[derive(Debug, Clone, Copy)]
enum Format {
    Gzip,
    Xz,
    Zstd,
    Zip,
    Ar,
    Elf,
    Tar,
    Json,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Gzip => "x.gz",
            Format::Xz => "x.xz",
            Format::Zstd => "x.zst",
            Format::Zip => "x.zip",
            Format::Ar => "x.a",
            Format::Elf => "x.o",
            Format::Tar => "x.tar",
            Format::Json => "x.json",
        }
    }

    /// Makes arbitrary bytes look like this format to the detector (its magic bytes).
    fn shape(self, mut data: Vec<u8>) -> Vec<u8> {
        let magic: &[u8] = match self {
            Format::Gzip => &[0x1f, 0x8b],
            Format::Xz => b"\xfd7zXZ\x00",
            Format::Zstd => &[0x28, 0xb5, 0x2f, 0xfd],
            Format::Zip => b"PK\x03\x04",
            Format::Ar => b"!<arch>\n",
            Format::Elf => b"\x7fELF\x02\x01\x01",
            Format::Json => b"{",
            Format::Tar => {
                if data.len() < 512 {
                    data.resize(512, 0);
                }
                data[257..262].copy_from_slice(b"ustar");
                return data;
            }
        };
        data.splice(0..0, magic.iter().copied());
        data
    }

    /// A valid instance holding `content` (two members for archives).
    fn valid(self, content: &[u8]) -> Vec<u8> {
        match self {
            Format::Gzip => {
                let mut e = flate2::GzBuilder::new()
                    .filename("inner.txt")
                    .mtime(1_700_000_000)
                    .write(Vec::new(), flate2::Compression::fast());
                e.write_all(content).unwrap();
                e.finish().unwrap()
            }
            Format::Xz => {
                let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(content).unwrap();
                e.finish().unwrap()
            }
            Format::Zstd => zstd::encode_all(content, 1).unwrap(),
            Format::Zip => {
                let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
                let opts = zip::write::SimpleFileOptions::default();
                for name in ["a.txt", "dir/b.bin"] {
                    w.start_file(name, opts).unwrap();
                    w.write_all(content).unwrap();
                }
                w.finish().unwrap().into_inner()
            }
            Format::Ar => {
                let mut b = ar::Builder::new(Vec::new());
                for name in ["a.o", "b.o"] {
                    let mut h = ar::Header::new(name.as_bytes().to_vec(), content.len() as u64);
                    h.set_mtime(1_700_000_000);
                    h.set_mode(0o644);
                    b.append(&h, content).unwrap();
                }
                b.into_inner().unwrap()
            }
            Format::Elf => elf_of(content, b"GCC: (fuzz) 1.0\0"),
            Format::Tar => {
                let mut b = tar::Builder::new(Vec::new());
                for name in ["a.txt", "dir/b.bin"] {
                    let mut h = tar::Header::new_gnu();
                    h.set_size(content.len() as u64);
                    h.set_mode(0o644);
                    h.set_mtime(1_700_000_000);
                    h.set_cksum();
                    b.append_data(&mut h, name, content).unwrap();
                }
                b.into_inner().unwrap()
            }
            Format::Json => {
                let text = String::from_utf8_lossy(content);
                serde_json::to_vec(&serde_json::json!({
                    "name": "x", "text": text, "n": content.len(),
                    "list": [1, "two", {"k": text, "z": null}],
                }))
                .unwrap()
            }
        }
    }
}

/// A minimal 64-bit little-endian ELF relocatable object with `.rodata`, `.comment` and
/// `.shstrtab` sections.
fn elf_of(rodata: &[u8], comment: &[u8]) -> Vec<u8> {
    let shstrtab = b"\0.rodata\0.comment\0.shstrtab\0";
    let mut out = vec![0u8; 64];
    let mut sections = vec![(0u32, 0u32, 0u64, 0u64)]; // name, type, offset, size
    for (name, kind, data) in [
        (1u32, 1u32, rodata),
        (9, 1, comment),
        (18, 3, &shstrtab[..]),
    ] {
        sections.push((name, kind, out.len() as u64, data.len() as u64));
        out.extend_from_slice(data);
    }
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let shoff = out.len() as u64;
    for (name, kind, offset, size) in &sections {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // flags
        out.extend_from_slice(&0u64.to_le_bytes()); // addr
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // link
        out.extend_from_slice(&0u32.to_le_bytes()); // info
        out.extend_from_slice(&1u64.to_le_bytes()); // addralign
        out.extend_from_slice(&0u64.to_le_bytes()); // entsize
    }
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    h.extend_from_slice(&1u16.to_le_bytes()); // ET_REL
    h.extend_from_slice(&62u16.to_le_bytes()); // x86-64
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes()); // entry
    h.extend_from_slice(&0u64.to_le_bytes()); // phoff
    h.extend_from_slice(&shoff.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // flags
    h.extend_from_slice(&64u16.to_le_bytes()); // ehsize
    h.extend_from_slice(&0u16.to_le_bytes()); // phentsize
    h.extend_from_slice(&0u16.to_le_bytes()); // phnum
    h.extend_from_slice(&64u16.to_le_bytes()); // shentsize
    h.extend_from_slice(&(sections.len() as u16).to_le_bytes());
    h.extend_from_slice(&((sections.len() - 1) as u16).to_le_bytes()); // shstrndx
    out[..64].copy_from_slice(&h);
    out
}

/// One change to a valid archive; positions are taken modulo its length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Set(i, x)),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1..64usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        proptest::collection::vec(any::<u8>(), 1..32).prop_map(Mutation::Append),
    ]
}

fn mutate(mut data: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = data.len().max(1);
        match m {
            Mutation::Flip(i, x) => {
                if let Some(b) = data.get_mut(i % len) {
                    *b ^= x;
                }
            }
            Mutation::Set(i, x) => {
                if let Some(b) = data.get_mut(i % len) {
                    *b = *x;
                }
            }
            Mutation::Insert(i, v) => {
                let at = i % (data.len() + 1);
                data.splice(at..at, v.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i % len;
                let end = (at + n).min(data.len());
                if at < end {
                    data.drain(at..end);
                }
            }
            Mutation::Truncate(n) => data.truncate(n % len),
            Mutation::Append(v) => data.extend_from_slice(v),
        }
    }
    data
}

/// Compares both ways; checks that differing inputs are reported as differing.
fn compare(format: Format, a: &[u8], b: &[u8]) {
    let opts = DiffOptions {
        max_expanded_bytes: 16 << 20,
        ..DiffOptions::default()
    };
    for (x, y) in [(a, b), (b, a)] {
        let report = diff_bytes(format.name(), x, y, &opts);
        assert_eq!(
            report.is_identical(),
            x == y,
            "{format:?}: identical inputs must give no item, differing ones at least one"
        );
    }
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z0-9 /:.\n-]{0,200}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

const FORMATS: [Format; 8] = [
    Format::Gzip,
    Format::Xz,
    Format::Zstd,
    Format::Zip,
    Format::Ar,
    Format::Elf,
    Format::Tar,
    Format::Json,
];

#[test]
fn the_valid_instances_are_recognised_as_their_format() {
    // Otherwise the properties below would only exercise the binary comparison.
    let kinds = ["gzip", "xz", "zstd", "zip", "ar", "elf", "tar", "json"];
    for (f, kind) in FORMATS.iter().zip(kinds) {
        let (a, b) = (f.valid(b"one\n"), f.valid(b"two\n"));
        let report = diff_bytes(f.name(), &a, &b, &DiffOptions::default());
        let found: Vec<&str> = report.items.iter().map(|i| i.kind.as_str()).collect();
        let expected_inner = matches!(
            f,
            Format::Gzip | Format::Xz | Format::Zstd | Format::Zip | Format::Ar | Format::Tar
        );
        assert!(
            found.contains(&kind)
                || (expected_inner && report.items.iter().any(|i| i.path.contains('!'))),
            "{f:?}: {found:?}"
        );
    }
}

// Every case runs every format, so that each format gets every case.
proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_mutated_archive_against_the_valid_one_never_panics(
        data in content(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        for f in FORMATS {
            let valid = f.valid(&data);
            let broken = mutate(valid.clone(), &mutations);
            compare(f, &valid, &broken);
        }
    }

    #[test]
    fn two_mutated_archives_never_panic(
        (da, db) in (content(), content()),
        (ma, mb) in (proptest::collection::vec(mutation(), 1..3), proptest::collection::vec(mutation(), 1..3)),
    ) {
        for f in FORMATS {
            let a = mutate(f.valid(&da), &ma);
            let b = mutate(f.valid(&db), &mb);
            compare(f, &a, &b);
        }
    }

    #[test]
    fn arbitrary_bytes_against_a_valid_archive_never_panic(
        data in content(),
        junk in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        for f in FORMATS {
            compare(f, &f.valid(&data), &f.shape(junk.clone()));
        }
    }

    #[test]
    fn arbitrary_bytes_against_each_other_never_panic(
        a in proptest::collection::vec(any::<u8>(), 0..400),
        b in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        for f in FORMATS {
            compare(f, &f.shape(a.clone()), &f.shape(b.clone()));
        }
    }
}
