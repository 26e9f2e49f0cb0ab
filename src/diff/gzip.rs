//! gzip streams: header fields (mtime, file name, OS, flags) and the decompressed content.

use super::compressed::{compare_stream, strip_suffix, StreamFormat};
use super::members::Meta;
use super::{escape_bytes, Cx, DiffItem, Format, ItemKind};

/// A gzip stream (RFC 1952).
pub(crate) struct Gzip;

pub(crate) const GZIP: StreamFormat = StreamFormat {
    kind: ItemKind::Gzip,
    header,
    decoder: |d| Box::new(flate2::read::MultiGzDecoder::new(d)),
    inner_name,
    remedy: "gzip -n (no name, no mtime), or GZIP=-n for tools that call gzip",
};

impl Format for Gzip {
    fn kind(&self) -> ItemKind {
        ItemKind::Gzip
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        data.starts_with(&[0x1f, 0x8b])
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        compare_stream(&GZIP, path, a, b, cx)
    }
}

const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

/// The header fields of the first gzip member; empty if the header is cut short.
fn header(data: &[u8]) -> Vec<Meta> {
    let Some(fixed) = data.get(..10) else {
        return Vec::new();
    };
    let flags = fixed[3];
    let mtime = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let mut out = vec![
        Meta::num("mtime", i64::from(mtime)),
        Meta::num("xfl", i64::from(fixed[8])),
        Meta::num("os", i64::from(fixed[9])),
    ];
    let (name, comment) = names(data, flags);
    out.push(Meta::text(
        "name",
        name.map(|n| escape_bytes(&n))
            .unwrap_or_else(|| "(none)".into()),
    ));
    if let Some(c) = comment {
        out.push(Meta::text("comment", escape_bytes(&c)));
    }
    out
}

/// The optional file name and comment of the header.
fn names(data: &[u8], flags: u8) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let mut pos = 10usize;
    if flags & FEXTRA != 0 {
        let Some(len) = data.get(10..12) else {
            return (None, None);
        };
        pos += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    let mut take_cstr = |present: bool| -> Option<Vec<u8>> {
        if !present {
            return None;
        }
        let rest = data.get(pos..)?;
        let end = rest.iter().position(|&c| c == 0)?;
        pos += end + 1;
        Some(rest[..end].to_vec())
    };
    let name = take_cstr(flags & FNAME != 0);
    let comment = take_cstr(flags & FCOMMENT != 0);
    (name, comment)
}

fn inner_name(data: &[u8], path: &str) -> String {
    let flags = data.get(3).copied().unwrap_or(0);
    match names(data, flags).0 {
        Some(n) if !n.is_empty() => escape_bytes(&n),
        _ => strip_suffix(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(name: Option<&str>, mtime: u32) -> Vec<u8> {
        let mut b = flate2::GzBuilder::new().mtime(mtime);
        if let Some(n) = name {
            b = b.filename(n);
        }
        let mut e = b.write(Vec::new(), flate2::Compression::default());
        e.write_all(b"hello\n").unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn header_reads_mtime_and_name() {
        let h = header(&gz(Some("hello.txt"), 1_795_000_000));
        assert_eq!(h[0].num, Some(1_795_000_000));
        assert!(h
            .iter()
            .any(|m| m.field == "name" && m.value == "hello.txt"));
        assert_eq!(inner_name(&gz(Some("hello.txt"), 0), "x.gz"), "hello.txt");
        assert_eq!(inner_name(&gz(None, 0), "dir/x.txt.gz"), "x.txt");
    }

    #[test]
    fn truncated_header_gives_no_fields() {
        assert!(header(&[0x1f, 0x8b, 8]).is_empty());
    }
}
