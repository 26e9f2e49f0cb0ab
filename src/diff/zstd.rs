//! zstd streams: no header fields of their own; the decompressed content is compared.

use std::io::Read;

use super::compressed::{compare_stream, name_from_path, no_header, Decoder, StreamFormat};
use super::context::{Cx, Format};
use super::items::{DiffItem, ItemKind};

/// A zstd stream.
pub(crate) struct Zstd;

pub(crate) const ZSTD: StreamFormat = StreamFormat {
    kind: ItemKind::Zstd,
    header: no_header,
    decoder: |d, _| match ::zstd::stream::read::Decoder::new(d) {
        Ok(dec) => Box::new(dec) as Decoder<'_>,
        Err(err) => Box::new(FailingReader(Some(err))),
    },
    inner_name: name_from_path,
    remedy: "compress with fixed options (zstd without --no-check differences, same level)",
};

impl Format for Zstd {
    fn kind(&self) -> ItemKind {
        ItemKind::Zstd
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        compare_stream(&ZSTD, path, a, b, cx)
    }
}

/// A reader that fails once with the error it holds.
struct FailingReader(Option<std::io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.take() {
            Some(err) => Err(err),
            None => Ok(0),
        }
    }
}
