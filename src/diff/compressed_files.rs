//! Large compressed files compared straight from disk, without reading them into memory:
//! the magic of their first bytes picks the compressed format (gzip, xz, zstd) that
//! decompresses both as streams.

use std::io::Read;

use super::compressed::{compare_sources, Source, StreamFormat};
use super::context::Cx;
use super::gzip::GZIP;
use super::items::DiffItem;
use super::regular_files::{open_regular, read_full};
use super::xz::XZ;
use super::zstd::ZSTD;

/// Bytes of a file read ahead for its header.
const HEAD: usize = 64 * 1024;

/// Compares two large compressed files straight from disk, without reading them into
/// memory: the `FORMATS` entry of their content decides, and `None` means that they are
/// not (both) of one compressed format, to be compared the usual way.
pub(crate) fn compare_files(
    path: &str,
    a: &std::path::Path,
    b: &std::path::Path,
    cx: &Cx,
) -> std::io::Result<Option<Vec<DiffItem>>> {
    let open = |p: &std::path::Path| -> std::io::Result<(Vec<u8>, std::fs::File, u64)> {
        let (mut file, len) = open_regular(p)?;
        let mut head = vec![0u8; HEAD];
        let n = read_full(&mut file, &mut head)?;
        head.truncate(n);
        Ok((head, file, len))
    };
    let (head_a, file_a, len_a) = open(a)?;
    let (head_b, file_b, len_b) = open(b)?;
    let format = match (sniff(&head_a), sniff(&head_b)) {
        (Some(fa), Some(fb)) if std::ptr::eq(fa, fb) => fa,
        _ => return Ok(None),
    };
    Ok(Some(compare_open_files(
        format,
        path,
        (&head_a, file_a, len_a),
        (&head_b, file_b, len_b),
        cx,
    )))
}

type OpenFile<'a> = (&'a [u8], std::fs::File, u64);

fn compare_open_files<'a>(
    format: &StreamFormat,
    path: &str,
    (head_a, file_a, len_a): OpenFile<'a>,
    (head_b, file_b, len_b): OpenFile<'a>,
    cx: &Cx,
) -> Vec<DiffItem> {
    let source = |head: &'a [u8], file: std::fs::File, len: u64| -> Source<'a> {
        let rest = std::io::BufReader::with_capacity(1 << 20, file);
        Source {
            head,
            reader: Box::new(head.chain(rest)),
            len,
        }
    };
    let (sa, sb) = (source(head_a, file_a, len_a), source(head_b, file_b, len_b));
    compare_sources(format, path, sa, sb, cx)
}

/// The compressed format whose magic `head` starts with.
fn sniff(head: &[u8]) -> Option<&'static StreamFormat> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(&GZIP)
    } else if head.starts_with(b"\xfd7zXZ\x00") {
        Some(&XZ)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(&ZSTD)
    } else {
        None
    }
}
