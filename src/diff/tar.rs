//! tar archives: member order, header fields (mtime, uid, gid, names, mode), content.

use std::io::Read;

use super::members::{compare_listings, Data, EntryType, Listing, Member, Meta, Style};
use super::{Cx, DiffItem, Format, ItemKind};

/// A tar archive (ustar, GNU or pax).
pub(crate) struct Tar;

const STYLE: Style = Style {
    kind: ItemKind::Tar,
    sep: "!/",
    ordered: true,
    fields_on_members: false,
    remedy: "tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --owner=0 --group=0 --numeric-owner",
};

impl Format for Tar {
    fn kind(&self) -> ItemKind {
        ItemKind::Tar
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        is_tar(data)
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        let (la, lb) = rayon::join(|| list(a, cx), || list(b, cx));
        compare_listings(path, &STYLE, la, lb, cx)
    }
}

/// Whether `data` starts with a ustar or GNU tar header.
pub(crate) fn is_tar(data: &[u8]) -> bool {
    data.len() >= 512 && data.get(257..262) == Some(b"ustar")
}

/// Lists the members of a tar archive; a corrupt or truncated archive gives the members
/// read so far and an error.
fn list(data: &[u8], cx: &Cx) -> Listing {
    let mut listing = Listing::default();
    let mut archive = tar::Archive::new(data);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(err) => {
            listing.error = Some(format!("not a readable tar archive: {err}"));
            return listing;
        }
    };
    for entry in entries {
        match entry.and_then(|e| member(e, cx)) {
            Ok(m) => listing.members.push(m),
            Err(err) => {
                listing.error = Some(format!(
                    "corrupt or truncated tar after {} members: {err}",
                    listing.members.len()
                ));
                break;
            }
        }
    }
    listing
}

fn member(mut entry: tar::Entry<'_, &[u8]>, cx: &Cx) -> std::io::Result<Member> {
    let name = entry.path_bytes().into_owned();
    let link = entry.link_name_bytes().map(|l| l.into_owned());
    let h = entry.header();
    let kind = h.entry_type();
    let entry_type = if kind.is_file() || kind.is_contiguous() {
        EntryType::File
    } else if kind.is_dir() {
        EntryType::Dir
    } else if kind.is_symlink() {
        EntryType::Symlink
    } else {
        EntryType::Other
    };
    let mut meta = vec![
        Meta::num("mtime", h.mtime().unwrap_or(0) as i64),
        Meta::num("uid", h.uid().unwrap_or(0) as i64),
        Meta::num("gid", h.gid().unwrap_or(0) as i64),
        Meta::num("mode", i64::from(h.mode().unwrap_or(0))),
    ];
    if let Some(u) = h.username_bytes() {
        meta.push(Meta::text("uname", super::escape_bytes(u)));
    }
    if let Some(g) = h.groupname_bytes() {
        meta.push(Meta::text("gname", super::escape_bytes(g)));
    }
    let size = entry.size();
    let data = if entry_type == EntryType::File {
        if !cx.take_budget(size) {
            return Err(std::io::Error::other("expansion limit reached"));
        }
        let mut buf = Vec::with_capacity(size.min(1 << 30) as usize);
        entry.read_to_end(&mut buf)?;
        Data::Bytes(buf)
    } else {
        Data::None
    };
    Ok(Member {
        name,
        entry: entry_type,
        link,
        meta,
        data,
    })
}
