//! `ar` archives (static libraries, .deb): member order, timestamps, uid, gid, mode.

use super::context::{Cx, Format};
use super::escape::escape_bytes;
use super::items::{DiffItem, ItemKind};
use super::listing::{read_member, EntryType, Listing, Member, Meta, Style};
use super::members::compare_listings;

/// An `ar` archive (GNU or BSD variant).
pub(crate) struct Ar;

const STYLE: Style = Style {
    kind: ItemKind::Ar,
    sep: "!",
    ordered: true,
    fields_on_members: false,
    remedy: "ar D (deterministic mode: zero timestamps, uids and gids)",
    order_remedy: "give ar the members in a fixed order (sorted, not a directory listing), with D",
};

impl Format for Ar {
    fn kind(&self) -> ItemKind {
        ItemKind::Ar
    }
    fn detect(&self, _name: &str, data: &[u8]) -> bool {
        data.starts_with(b"!<arch>\n")
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        compare_listings(path, &STYLE, list(a, cx), list(b, cx), cx)
    }
}

fn list(data: &[u8], cx: &Cx) -> Listing {
    let mut listing = Listing::default();
    let mut archive = ar::Archive::new(data);
    while let Some(entry) = archive.next_entry() {
        let result = entry.and_then(|mut e| {
            let h = e.header();
            let name = h.identifier().to_vec();
            let meta = vec![
                Meta::num("mtime", h.mtime() as i64),
                Meta::num("uid", i64::from(h.uid())),
                Meta::num("gid", i64::from(h.gid())),
                Meta::num("mode", i64::from(h.mode() & 0o7777)),
            ];
            if !cx.take_budget(h.size()) {
                return Err(std::io::Error::other("expansion limit reached"));
            }
            let size = h.size();
            let data = read_member(&mut e, size, cx)?;
            let got = data.read_len().unwrap_or(0);
            if got < size {
                return Err(std::io::Error::other(format!(
                    "member {} cut short: {got} of {size} bytes",
                    escape_bytes(&name),
                )));
            }
            Ok(Member {
                name,
                entry: EntryType::File,
                link: None,
                meta,
                data,
            })
        });
        match result {
            Ok(m) => listing.members.push(m),
            Err(err) => {
                listing.error = Some(format!(
                    "corrupt or truncated ar archive after {} members: {err}",
                    listing.members.len()
                ));
                break;
            }
        }
    }
    listing
}
