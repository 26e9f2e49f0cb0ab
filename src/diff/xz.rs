//! xz streams: no header fields of their own; the decompressed content is compared.

use super::compressed::{compare_stream, name_from_path, no_header, StreamFormat};
use super::context::{Cx, Format};
use super::items::{DiffItem, ItemKind};

/// An xz stream.
pub(crate) struct Xz;

pub(crate) const XZ: StreamFormat = StreamFormat {
    kind: ItemKind::Xz,
    header: no_header,
    decoder: |d, _| Box::new(xz2::read::XzDecoder::new_multi_decoder(d)),
    inner_name: name_from_path,
    remedy: "compress with fixed options (xz -T1 gives the same bytes on every machine)",
};

impl Format for Xz {
    fn kind(&self) -> ItemKind {
        ItemKind::Xz
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        data.starts_with(b"\xfd7zXZ\x00")
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        compare_stream(&XZ, path, a, b, cx)
    }
}
