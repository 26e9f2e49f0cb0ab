//! zip and jar archives: entry order, DOS timestamps, extra fields, modes, content.

use std::io::{Cursor, Read};

use super::context::{Cx, Format};
use super::escape::escape_bytes;
use super::items::{DiffItem, ItemKind};
use super::listing::{read_member, Data, EntryType, Listing, Member, Meta, Style, TimeField};
use super::members::compare_listings;
use super::timestamps::format_unix;

/// A zip archive.
pub(crate) struct Zip;

/// Longest symlink target read from an entry.
const MAX_LINK: u64 = 64 << 10;

const STYLE: Style = Style {
    kind: ItemKind::Zip,
    sep: "!/",
    ordered: true,
    fields_on_members: false,
    remedy: "zip -X with sorted entries and mtimes clamped to SOURCE_DATE_EPOCH (or strip-nondeterminism)",
    order_remedy: "add the entries in sorted order (find . | LC_ALL=C sort | zip -X -@ out.zip)",
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
    if let Some(problem) = overlapping_entries(&mut archive) {
        listing.error = Some(problem);
        return listing;
    }
    // All entries together expand at most `max_ratio` times the archive (or 16 MiB).
    let mut room = (data.len() as u64)
        .saturating_mul(cx.opts.max_ratio)
        .max(16 << 20);
    for i in 0..archive.len() {
        match member(&mut archive, i, (data.len(), &mut room), cx) {
            Ok(m) => listing.members.push(m),
            Err(err) => {
                listing.error = Some(format!("corrupt zip entry {i}: {err}"));
                break;
            }
        }
    }
    listing
}

/// Two entries whose bytes (local header and compressed data) overlap: the trick of the
/// zip bombs that point every entry of the central directory at the same compressed
/// data, so that a small archive expands without bound. Such an archive is not expanded.
fn overlapping_entries(archive: &mut zip::ZipArchive<Cursor<&[u8]>>) -> Option<String> {
    let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(archive.len().min(1 << 16));
    for i in 0..archive.len() {
        // A corrupt entry is reported when the entries are read.
        let Ok(f) = archive.by_index_raw(i) else {
            break;
        };
        let end = f.data_start().saturating_add(f.compressed_size());
        spans.push((f.header_start(), end, i));
    }
    spans.sort_unstable();
    let (first, second) = spans
        .windows(2)
        .find(|w| w[1].0 < w[0].1)
        .map(|w| (w[0].2.min(w[1].2), w[0].2.max(w[1].2)))?;
    Some(format!(
        "entries {first} and {second} overlap (they share compressed data): a zip bomb, not expanded (possible decompression bomb)"
    ))
}

/// Reads entry `i`; `total` is the archive's size and `room` what its entries may still
/// expand to.
fn member(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    i: usize,
    (total, room): (usize, &mut u64),
    cx: &Cx,
) -> Result<Member, String> {
    let mut f = archive.by_index(i).map_err(|e| e.to_string())?;
    let name = f.name_raw().to_vec();
    let mut meta = Vec::new();
    if let Some(t) = f.last_modified() {
        meta.push(dos_time(&t));
    }
    if let Some(mode) = f.unix_mode() {
        meta.push(Meta::num("mode", i64::from(mode & 0o7777)));
    }
    meta.extend(extra_fields(f.extra_data().unwrap_or_default()));
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
    let Some(left) = room.checked_sub(size) else {
        return Err(format!(
            "the entries expand to more than {}x the archive (possible decompression bomb)",
            cx.opts.max_ratio
        ));
    };
    *room = left;
    if !cx.take_budget(size) {
        return Err("expansion limit reached".into());
    }
    let (link, data) = if entry == EntryType::Symlink {
        let mut target = Vec::new();
        f.by_ref()
            .take(size.min(MAX_LINK))
            .read_to_end(&mut target)
            .map_err(|e| e.to_string())?;
        (Some(target), Data::None)
    } else {
        let data = read_member(&mut f, size, cx).map_err(|e| e.to_string())?;
        (None, data)
    };
    Ok(Member {
        name,
        entry,
        link,
        meta,
        data,
    })
}

/// A member's DOS time: local time of the machine that wrote it, with no zone, in
/// two-second steps. Counted as if it were UTC, so that two zones show as a shift.
fn dos_time(t: &zip::DateTime) -> Meta {
    let shown = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} (DOS)",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let secs = chrono::NaiveDate::from_ymd_opt(
        i32::from(t.year()),
        u32::from(t.month()),
        u32::from(t.day()),
    )
    .and_then(|d| {
        d.and_hms_opt(
            u32::from(t.hour()),
            u32::from(t.minute()),
            u32::from(t.second()),
        )
    })
    .map(|dt| dt.and_utc().timestamp());
    match secs {
        Some(secs) => Meta::time("mtime", secs, shown, TimeField::Local),
        None => Meta::text("mtime", shown),
    }
}

/// A UTC time of an extra field, as a metadata field.
fn utc_time(field: &'static str, secs: i64) -> Meta {
    let shown = format!("{} ({secs})", format_unix(secs));
    Meta::time(field, secs, shown, TimeField::Utc)
}

/// Decodes the extra fields that hold times and owners, each into its own metadata field
/// so that a time and an owner are explained separately: the extended timestamp (`UT`:
/// `UT mtime`, `UT atime`, `UT ctime`), Info-ZIP Unix owners (`ux` and `Ux`: `uid`,
/// `gid`) and the old Info-ZIP Unix field (`UX`: times and owners). Other fields are kept
/// together as hex in `extra`.
fn extra_fields(data: &[u8]) -> Vec<Meta> {
    let mut out = Vec::new();
    let mut other = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let id = u16::from_le_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let Some(body) = rest.get(4..4 + len) else {
            other.push(format!("truncated {}", hex::encode(rest)));
            rest = &[];
            break;
        };
        rest = &rest[4 + len..];
        match id {
            0x5455 => {
                let Some((&flags, mut times)) = body.split_first() else {
                    continue;
                };
                // The central directory keeps only the mtime whatever the flags say.
                for (bit, field) in [(1, "UT mtime"), (2, "UT atime"), (4, "UT ctime")] {
                    if flags & bit == 0 {
                        continue;
                    }
                    let Some(t) = times.get(..4) else { break };
                    out.push(utc_time(
                        field,
                        i64::from(i32::from_le_bytes([t[0], t[1], t[2], t[3]])),
                    ));
                    times = &times[4..];
                }
            }
            0x7875 => {
                // version 1, uid size, uid, gid size, gid (little endian, any size).
                if let [1, n, ids @ ..] = body {
                    let n = usize::from(*n);
                    if let Some(uid) = ids.get(..n) {
                        out.push(Meta::num("uid", le_uint(uid)));
                    }
                    if let Some((&m, gid)) = ids.get(n..).and_then(<[u8]>::split_first) {
                        if let Some(gid) = gid.get(..usize::from(m)) {
                            out.push(Meta::num("gid", le_uint(gid)));
                        }
                    }
                }
            }
            0x7855 => {
                // Local header: uid and gid, 16 bits each; empty in the central directory.
                if let [u0, u1, g0, g1, ..] = body {
                    out.push(Meta::num("uid", i64::from(u16::from_le_bytes([*u0, *u1]))));
                    out.push(Meta::num("gid", i64::from(u16::from_le_bytes([*g0, *g1]))));
                }
            }
            0x5855 => {
                // atime, mtime, then (local header only) uid and gid, 16 bits each.
                if let [a0, a1, a2, a3, m0, m1, m2, m3, ids @ ..] = body {
                    out.push(utc_time(
                        "UX atime",
                        i64::from(i32::from_le_bytes([*a0, *a1, *a2, *a3])),
                    ));
                    out.push(utc_time(
                        "UX mtime",
                        i64::from(i32::from_le_bytes([*m0, *m1, *m2, *m3])),
                    ));
                    if let [u0, u1, g0, g1, ..] = ids {
                        out.push(Meta::num("uid", i64::from(u16::from_le_bytes([*u0, *u1]))));
                        out.push(Meta::num("gid", i64::from(u16::from_le_bytes([*g0, *g1]))));
                    }
                }
            }
            _ => other.push(format!("0x{id:04x} {}", hex::encode(body))),
        }
    }
    if !rest.is_empty() {
        other.push(format!("trailing {}", hex::encode(rest)));
    }
    if !other.is_empty() {
        out.push(Meta::text("extra", other.join("; ")));
    }
    out
}

fn le_uint(bytes: &[u8]) -> i64 {
    bytes
        .iter()
        .take(8)
        .rev()
        .fold(0u64, |acc, &b| acc.wrapping_shl(8) | u64::from(b)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(metas: &[Meta]) -> Vec<(String, String)> {
        metas
            .iter()
            .map(|m| (m.field.to_string(), m.value.clone()))
            .collect()
    }

    #[test]
    fn extra_fields_are_decoded_into_times_and_owners() {
        let raw = hex::decode("555405000300f1536575780b000104e80300000404000000").unwrap();
        let metas = extra_fields(&raw);
        assert_eq!(
            shown(&metas),
            [
                (
                    "UT mtime".into(),
                    "2023-11-14T22:13:20Z (1700000000)".into()
                ),
                ("uid".into(), "1000".into()),
                ("gid".into(), "4".into()),
            ]
        );
        assert_eq!(metas[0].time, Some(TimeField::Utc));
        assert_eq!(
            shown(&extra_fields(&[1, 0, 2, 0, 0xab, 0xcd])),
            [("extra".into(), "0x0001 abcd".into())]
        );
        // Local-header `UT` with mtime and atime; a truncated field does not panic.
        let raw = hex::decode("555409000300f1536500f15365").unwrap();
        assert_eq!(extra_fields(&raw).len(), 2);
        assert_eq!(extra_fields(&raw[..7]).len(), 1);
    }

    #[test]
    fn dos_time_is_a_local_time_counted_as_utc() {
        let t = zip::DateTime::from_date_and_time(2026, 11, 26, 1, 7, 14).unwrap();
        let m = dos_time(&t);
        assert_eq!(m.value, "2026-11-26 01:07:14 (DOS)");
        assert_eq!(m.time, Some(TimeField::Local));
        assert_eq!(m.num, Some(1_795_655_234));
    }
}
