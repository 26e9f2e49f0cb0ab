//! Comparing two listings of members: what tar, zip, ar and directories have in common.
//!
//! Members only on one side are `added`/`removed` items; members on both sides whose
//! content differs are compared recursively; metadata differences (order, mtime, owner,
//! mode) are summed up on the container item, one reason per field. What a listing holds
//! is in `listing.rs`, why a field differs in `field_reasons.rs`.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::binary::byte_ranges;
use super::classify::{remedy, Classifier};
use super::context::Cx;
use super::escape::escape_bytes;
use super::field_reasons::field_reason;
use super::items::{Change, DiffItem, FieldDiff, ItemKind, Reason};
use super::listing::{Data, Digest, EntryType, Listing, Member, Meta, Style};
use super::regular_files::read_file;
use super::special::field_diffs;
use crate::model::vocabulary::{ReasonKind, Variation};

/// Most per-member field differences kept as evidence on a container.
const MAX_FIELD_EVIDENCE: usize = 200;

/// Compares two listings of the container at `path`.
pub(crate) fn compare_listings(
    path: &str,
    style: &Style,
    a: Listing,
    b: Listing,
    cx: &Cx,
) -> Vec<DiffItem> {
    let own_path = if path.is_empty() { "." } else { path };
    let mut own = DiffItem::new(own_path.to_string(), style.kind, Change::Metadata);
    for (side, listing) in [("a", &a), ("b", &b)] {
        if let Some(err) = &listing.error {
            own.evidence
                .notes
                .push(format!("side {side}: {err} (compared what could be read)"));
        }
    }
    header_reasons(&mut own, style, &a.header, &b.header, cx);
    let index_a = index(&a.members);
    let index_b = index(&b.members);
    if style.ordered {
        order_reason(&mut own, style, &a.members, &b.members, &index_a, &index_b);
    }
    let mut items = only_on_one_side(path, style, &a.members, &index_b, Change::Removed, cx);
    items.extend(only_on_one_side(
        path,
        style,
        &b.members,
        &index_a,
        Change::Added,
        cx,
    ));
    let common: Vec<(&Member, &Member)> = index_a
        .iter()
        .filter_map(|(key, &i)| index_b.get(key).map(|&j| (&a.members[i], &b.members[j])))
        .collect();
    let mut field_items = Vec::new();
    if style.fields_on_members {
        field_items = member_field_items(path, style, &common, cx);
    } else {
        field_reasons(&mut own, style, &common, cx);
    }
    let deeper = cx.deeper();
    let mut member_items: Vec<DiffItem> = common
        .par_iter()
        .flat_map_iter(|(ma, mb)| compare_member(path, style, ma, mb, &deeper))
        .collect();
    for field_item in field_items {
        match member_items.iter_mut().find(|i| i.path == field_item.path) {
            Some(content) => {
                let mut reasons = field_item.reasons;
                reasons.append(&mut content.reasons);
                content.reasons = reasons;
                content
                    .evidence
                    .metadata
                    .extend(field_item.evidence.metadata);
            }
            None => member_items.push(field_item),
        }
    }
    if member_items.iter().any(|i| i.change != Change::Metadata) || !items.is_empty() {
        own.change = Change::Modified;
    }
    items.extend(member_items);
    if !own.reasons.is_empty()
        || !own.evidence.notes.is_empty()
        || a.error.is_some() != b.error.is_some()
    {
        own.reasons.truncate(cx.opts.max_findings_per_item);
        items.push(own);
    }
    items
}

/// The path of a member inside its container.
pub(crate) fn member_path(container: &str, sep: &str, name: &[u8]) -> String {
    let mut name = name;
    if container.is_empty() {
        return escape_bytes(name);
    }
    if sep.ends_with('/') {
        while let Some(rest) = name.strip_prefix(b"./").or_else(|| name.strip_prefix(b"/")) {
            name = rest;
        }
    }
    format!("{container}{sep}{}", escape_bytes(name))
}

/// Members by (name, occurrence): duplicate names in one archive stay distinct.
fn index(members: &[Member]) -> BTreeMap<(Vec<u8>, usize), usize> {
    let mut seen: BTreeMap<&[u8], usize> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        let n = seen.entry(&m.name).or_default();
        out.insert((m.name.clone(), *n), i);
        *n += 1;
    }
    out
}

fn only_on_one_side(
    path: &str,
    style: &Style,
    members: &[Member],
    other: &BTreeMap<(Vec<u8>, usize), usize>,
    change: Change,
    cx: &Cx,
) -> Vec<DiffItem> {
    index(members)
        .into_iter()
        .filter(|(key, _)| !other.contains_key(key))
        .map(|((name, _), i)| {
            let m = &members[i];
            let mut item =
                DiffItem::new(member_path(path, style.sep, &name), kind_of(m, cx), change);
            item.evidence.metadata.push(FieldDiff {
                member: None,
                field: "present".into(),
                a: (change == Change::Removed).to_string(),
                b: (change == Change::Added).to_string(),
            });
            item
        })
        .collect()
}

fn kind_of(m: &Member, cx: &Cx) -> ItemKind {
    match m.entry {
        EntryType::Dir => ItemKind::Directory,
        EntryType::Symlink => ItemKind::Symlink,
        EntryType::Other => ItemKind::Special,
        EntryType::File => match &m.data {
            Data::Bytes(bytes, _) => cx
                .detect(&escape_bytes(&m.name), bytes)
                .map_or(ItemKind::Binary, |f| f.kind()),
            Data::Digest(d) => cx
                .detect(&escape_bytes(&m.name), &d.head)
                .map_or(ItemKind::Binary, |f| f.kind()),
            _ => ItemKind::Binary,
        },
    }
}

fn header_reasons(own: &mut DiffItem, style: &Style, a: &[Meta], b: &[Meta], cx: &Cx) {
    for ma in a {
        let Some(mb) = b.iter().find(|m| m.field == ma.field) else {
            continue;
        };
        if ma.value != mb.value {
            own.reasons
                .push(field_reason(&own.path, style, ma, mb, None, cx));
            own.evidence.metadata.push(FieldDiff {
                member: None,
                field: ma.field.into(),
                a: ma.value.clone(),
                b: mb.value.clone(),
            });
        }
    }
}

/// One item per member whose fields differ (a file of a directory whose mode differs),
/// the reasons carrying the member's own path.
fn member_field_items(
    path: &str,
    style: &Style,
    common: &[(&Member, &Member)],
    cx: &Cx,
) -> Vec<DiffItem> {
    let mut items = Vec::new();
    for (ma, mb) in common.iter().filter(|(ma, mb)| ma.entry == mb.entry) {
        let mut item: Option<DiffItem> = None;
        for fa in &ma.meta {
            let Some(fb) = mb.meta.iter().find(|f| f.field == fa.field) else {
                continue;
            };
            if fa.value == fb.value {
                continue;
            }
            let item = item.get_or_insert_with(|| {
                let kind = sniff_kind(ma, cx);
                DiffItem::new(
                    member_path(path, style.sep, &ma.name),
                    kind,
                    Change::Metadata,
                )
            });
            let name = escape_bytes(&ma.name);
            let reason = field_reason(&item.path, style, fa, fb, Some((&name, 0)), cx);
            item.reasons.push(reason);
            item.evidence.metadata.push(FieldDiff {
                member: None,
                field: fa.field.into(),
                a: fa.value.clone(),
                b: fb.value.clone(),
            });
        }
        items.extend(item);
    }
    items
}

/// The kind of a member, reading the start of a file on disk to recognise its format.
fn sniff_kind(m: &Member, cx: &Cx) -> ItemKind {
    match (&m.data, m.entry) {
        (Data::File(path, size), EntryType::File) => {
            let limit = if *size <= 1 << 20 { *size } else { 64 << 10 };
            match read_file(path, limit) {
                Ok(head) => cx
                    .detect(&escape_bytes(&m.name), &head)
                    .map_or(ItemKind::Binary, |f| f.kind()),
                Err(_) => ItemKind::Binary,
            }
        }
        _ => kind_of(m, cx),
    }
}

/// One reason per field that differs in any common member, plus per-member evidence.
fn field_reasons(own: &mut DiffItem, style: &Style, common: &[(&Member, &Member)], cx: &Cx) {
    let mut by_field: BTreeMap<&'static str, Vec<(&Member, &Meta, &Meta)>> = BTreeMap::new();
    for (ma, mb) in common.iter().filter(|(ma, mb)| ma.entry == mb.entry) {
        for fa in &ma.meta {
            if let Some(fb) = mb.meta.iter().find(|f| f.field == fa.field) {
                if fa.value != fb.value {
                    by_field.entry(fa.field).or_default().push((ma, fa, fb));
                }
            }
        }
    }
    for diffs in by_field.values() {
        let (m, fa, fb) = diffs[0];
        let name = escape_bytes(&m.name);
        own.reasons.push(field_reason(
            &own.path,
            style,
            fa,
            fb,
            Some((&name, diffs.len() - 1)),
            cx,
        ));
        for (m, fa, fb) in diffs.iter().take(MAX_FIELD_EVIDENCE) {
            own.evidence.metadata.push(FieldDiff {
                member: Some(escape_bytes(&m.name)),
                field: fa.field.into(),
                a: fa.value.clone(),
                b: fb.value.clone(),
            });
        }
    }
}

/// An `ordering` reason if the members both sides share appear in another order.
fn order_reason(
    own: &mut DiffItem,
    style: &Style,
    a: &[Member],
    b: &[Member],
    index_a: &BTreeMap<(Vec<u8>, usize), usize>,
    index_b: &BTreeMap<(Vec<u8>, usize), usize>,
) {
    let order = |members: &[Member], other: &BTreeMap<(Vec<u8>, usize), usize>| {
        let mut seen: BTreeMap<&[u8], usize> = BTreeMap::new();
        members
            .iter()
            .filter_map(|m| {
                let n = seen.entry(&m.name).or_default();
                let key = (m.name.clone(), *n);
                *n += 1;
                other.contains_key(&key).then_some(key)
            })
            .collect::<Vec<_>>()
    };
    let (oa, ob) = (order(a, index_b), order(b, index_a));
    let Some(first) = oa.iter().zip(&ob).position(|(x, y)| x != y) else {
        return;
    };
    let show = |o: &[(Vec<u8>, usize)]| {
        o[first..]
            .iter()
            .take(3)
            .map(|(n, _)| escape_bytes(n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    own.reasons.push(Reason {
        kind: ReasonKind::Ordering,
        path: own.path.clone(),
        offset: None,
        offset_b: None,
        line: None,
        line_b: None,
        a: show(&oa),
        b: show(&ob),
        variation: Some(Variation::FileOrder.name().into()),
        remedy: Some(style.order_remedy.to_string())
            .filter(|r| !r.is_empty())
            .or_else(|| remedy(ReasonKind::Ordering).map(str::to_string)),
        context: Some(format!("member order from position {}", first + 1)),
        high_entropy: None,
        note: None,
    });
    own.evidence.metadata.push(FieldDiff {
        member: None,
        field: "order".into(),
        a: show(&oa),
        b: show(&ob),
    });
}

/// Compares one member present on both sides: type, link target, content.
fn compare_member(path: &str, style: &Style, a: &Member, b: &Member, cx: &Cx) -> Vec<DiffItem> {
    let mpath = member_path(path, style.sep, &a.name);
    if a.entry != b.entry {
        // The smaller kind of the two, so that swapping the sides gives the same item.
        let mut item = DiffItem::new(mpath, kind_of(a, cx).min(kind_of(b, cx)), Change::Modified);
        item.evidence.metadata.push(FieldDiff {
            member: None,
            field: "type".into(),
            a: a.entry.as_str().into(),
            b: b.entry.as_str().into(),
        });
        return vec![item];
    }
    if a.link != b.link {
        return vec![link_item(mpath, a, b, cx)];
    }
    compare_data(mpath, a, b, cx)
}

/// Compares the contents of two members of one type and link target.
fn compare_data(mpath: String, a: &Member, b: &Member, cx: &Cx) -> Vec<DiffItem> {
    match (&a.data, &b.data) {
        (Data::Bytes(x, _), Data::Bytes(y, _)) => cx.compare_blobs(&mpath, x, y),
        (Data::File(pa, sa), Data::File(pb, sb)) => cx
            .compare_files(&mpath, pa, pb, (*sa, *sb))
            .unwrap_or_else(|err| {
                let mut item = DiffItem::new(mpath, ItemKind::Binary, Change::Modified);
                item.evidence.notes.push(format!("could not read: {err}"));
                vec![item]
            }),
        (Data::Special(x), Data::Special(y)) => {
            let fields = field_diffs(x, y);
            if fields.is_empty() {
                return Vec::new();
            }
            let mut item = DiffItem::new(mpath, ItemKind::Special, Change::Modified);
            item.evidence.metadata = fields;
            vec![item]
        }
        (Data::None, Data::None) | (Data::Same, Data::Same) => Vec::new(),
        (x @ (Data::Bytes(..) | Data::Digest(_)), y @ (Data::Bytes(..) | Data::Digest(_))) => {
            digest_item(mpath, a, &digest_of(x), &digest_of(y), cx)
        }
        (x, y) => {
            let mut item = DiffItem::new(mpath, kind_of(a, cx), Change::Modified);
            item.evidence.metadata.push(FieldDiff {
                member: None,
                field: "content".into(),
                a: describe(x),
                b: describe(y),
            });
            vec![item]
        }
    }
}

fn digest_of(d: &Data) -> std::borrow::Cow<'_, Digest> {
    match d {
        Data::Digest(d) => std::borrow::Cow::Borrowed(d),
        Data::Bytes(bytes, _) => std::borrow::Cow::Owned(Digest::of_bytes(bytes)),
        _ => std::borrow::Cow::Owned(Digest::of_bytes(&[])),
    }
}

fn describe(d: &Data) -> String {
    match d {
        Data::Bytes(bytes, _) => format!("{} bytes", bytes.len()),
        Data::Digest(d) => format!("{} bytes", d.len),
        Data::File(_, size) => format!("{size} bytes"),
        Data::Special(s) => s.kind.to_string(),
        Data::None => "none".into(),
        Data::Same => "same as the other side".into(),
    }
}

/// Two contents known by their digests: the same, or an item that says they differ,
/// where their first bytes do, and that the rest was not compared.
fn digest_item(mpath: String, m: &Member, a: &Digest, b: &Digest, cx: &Cx) -> Vec<DiffItem> {
    if a == b {
        return Vec::new();
    }
    let mut item = DiffItem::new(mpath, kind_of(m, cx), Change::Modified);
    let show = |d: &Digest| format!("{} bytes, sha256 {}", d.len, hex::encode(&d.sha256[..8]));
    item.evidence.metadata.push(FieldDiff {
        member: None,
        field: "content".into(),
        a: show(a),
        b: show(b),
    });
    item.evidence.byte_ranges = byte_ranges(&a.head, &b.head, Some(cx.budget));
    item.evidence.notes.push(cx.budget.memory_note(&format!(
        "content of {} and {} bytes found different by digest, not explained",
        a.len, b.len
    )));
    vec![item]
}

fn link_item(mpath: String, a: &Member, b: &Member, cx: &Cx) -> DiffItem {
    let (la, lb) = (
        a.link.clone().unwrap_or_default(),
        b.link.clone().unwrap_or_default(),
    );
    let mut item = DiffItem::new(mpath, kind_of(a, cx), Change::Modified);
    let classifier = Classifier {
        path: &item.path,
        known: &cx.opts.known,
        text: true,
        base_offset: 0,
        base_offset_b: 0,
        context: Some("link target".into()),
        limit: cx.opts.max_findings_per_item,
        budget: Some(cx.budget),
    };
    let mut reasons = classifier.classify(&la, &lb);
    for r in &mut reasons {
        r.offset = None;
        r.offset_b = None;
        r.line = None;
        r.line_b = None;
    }
    item.reasons = reasons;
    item.evidence.metadata.push(FieldDiff {
        member: None,
        field: "link target".into(),
        a: escape_bytes(&la),
        b: escape_bytes(&lb),
    });
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_strip_dot_slash_and_escape() {
        assert_eq!(
            member_path("x.tar", "!/", b"./usr/bin/a"),
            "x.tar!/usr/bin/a"
        );
        assert_eq!(member_path("x.a", "!", b"foo.o"), "x.a!foo.o");
        assert_eq!(member_path("d", "/", b"n\xff"), "d/n\\xff");
    }
}
