//! zip and jar archives: entry order, DOS timestamps, extra fields, modes, content.

use std::io::{Cursor, Read};

use super::members::{compare_listings, Data, EntryType, Listing, Member, Meta, Style};
use super::{escape_bytes, Cx, DiffItem, Format, ItemKind};

/// A zip archive.
pub(crate) struct Zip;

const STYLE: Style = Style {
    kind: ItemKind::Zip,
    sep: "!/",
    ordered: true,
    remedy: "zip -X with sorted entries and mtimes clamped to SOURCE_DATE_EPOCH (or strip-nondeterminism)",
};

impl Format for Zip {
    fn kind(&self) -> ItemKind {
        ItemKind::Zip
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06")
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        let (la, lb) = rayon::join(|| list(a, cx), || list(b, cx));
        compare_listings(path, &STYLE, la, lb, cx)
    }
}

fn list(data: &[u8], cx: &Cx) -> Listing {
    let mut listing = Listing::default();
    let mut archive = match zip::ZipArchive::new(Cursor::new(data)) {
        Ok(a) => a,
        Err(err) => {
            listing.error = Some(format!("not a readable zip archive: {err}"));
            return listing;
        }
    };
    listing
        .header
        .push(Meta::text("comment", escape_bytes(archive.comment())));
    for i in 0..archive.len() {
        match member(&mut archive, i, data.len(), cx) {
            Ok(m) => listing.members.push(m),
            Err(err) => {
                listing.error = Some(format!("corrupt zip entry {i}: {err}"));
                break;
            }
        }
    }
    listing
}

fn member(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    i: usize,
    total: usize,
    cx: &Cx,
) -> Result<Member, String> {
    let mut f = archive.by_index(i).map_err(|e| e.to_string())?;
    let name = f.name_raw().to_vec();
    let mut meta = Vec::new();
    if let Some(t) = f.last_modified() {
        meta.push(Meta::text(
            "mtime",
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} (DOS)",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ),
        ));
    }
    if let Some(mode) = f.unix_mode() {
        meta.push(Meta::num("mode", i64::from(mode & 0o7777)));
    }
    meta.push(Meta::text(
        "extra",
        show_extra(f.extra_data().unwrap_or_default()),
    ));
    meta.push(Meta::text("compression", f.compression().to_string()));
    meta.push(Meta::text("entry comment", f.comment().to_string()));
    let entry = if f.is_dir() {
        EntryType::Dir
    } else if f.is_symlink() {
        EntryType::Symlink
    } else {
        EntryType::File
    };
    let size = f.size();
    let ratio_ok =
        size <= (f.compressed_size().max(1)).saturating_mul(cx.opts.max_ratio) || size < 16 << 20;
    if !ratio_ok || size > total as u64 * cx.opts.max_ratio {
        return Err(format!(
            "entry expands more than {}x (possible decompression bomb)",
            cx.opts.max_ratio
        ));
    }
    if !cx.take_budget(size) {
        return Err("expansion limit reached".into());
    }
    let mut buf = Vec::new();
    f.by_ref()
        .take(size)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    let (link, data) = if entry == EntryType::Symlink {
        (Some(buf), Data::None)
    } else {
        (None, Data::Bytes(buf))
    };
    Ok(Member {
        name,
        entry,
        link,
        meta,
        data,
    })
}

/// Shows zip extra fields readably: the extended timestamp (`UT`) and Unix owner (`ux`)
/// fields decoded, others as hex.
fn show_extra(data: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let id = u16::from_le_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let Some(body) = rest.get(4..4 + len) else {
            parts.push(format!("truncated {}", hex::encode(rest)));
            break;
        };
        parts.push(match (id, body) {
            (0x5455, [flags, t0, t1, t2, t3, ..]) if flags & 1 == 1 => {
                let t = i32::from_le_bytes([*t0, *t1, *t2, *t3]);
                format!("UT mtime {}", super::timestamps::format_unix(i64::from(t)))
            }
            (0x7875, [1, n, ids @ ..]) => {
                let n = usize::from(*n);
                let uid = ids.get(..n).map(le_uint);
                let gid = ids.get(n + 1..).map(le_uint);
                format!(
                    "ux uid {} gid {}",
                    uid.unwrap_or_default(),
                    gid.unwrap_or_default()
                )
            }
            _ => format!("0x{id:04x} {}", hex::encode(body)),
        });
        rest = &rest[4 + len..];
    }
    parts.join("; ")
}

fn le_uint(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| acc.wrapping_shl(8) | u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_are_decoded() {
        let raw = hex::decode("555405000300f1536575780b000104000000000400000000").unwrap();
        assert_eq!(
            show_extra(&raw),
            "UT mtime 2023-11-14T22:13:20Z; ux uid 0 gid 0"
        );
        assert_eq!(show_extra(&[1, 0, 2, 0, 0xab, 0xcd]), "0x0001 abcd");
    }
}
