//! Comparing two listings of members: what tar, zip, ar and directories have in common.
//!
//! Members only on one side are `added`/`removed` items; members on both sides whose
//! content differs are compared recursively; metadata differences (order, mtime, owner,
//! mode) are summed up on the container item, one reason per field.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use super::budget::Held;
use super::classify::{default_variation, Classifier};
use super::special::Special;
use super::timestamps::format_unix;
use super::{
    compare_blobs, escape_bytes, Change, Cx, DiffItem, FieldDiff, ItemKind, Reason, ReasonKind,
};

/// Most per-member field differences kept as evidence on a container.
const MAX_FIELD_EVIDENCE: usize = 200;

/// The type of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryType {
    File,
    Dir,
    Symlink,
    Other,
}

impl EntryType {
    fn as_str(self) -> &'static str {
        match self {
            EntryType::File => "file",
            EntryType::Dir => "directory",
            EntryType::Symlink => "symlink",
            EntryType::Other => "special",
        }
    }
}

/// How a metadata field holds a time, which decides how a difference in it is explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeField {
    /// Unix seconds in an archive header (tar, ar, gzip): `archive-metadata`, with the
    /// variation `clock` when inside a build's time window.
    Header,
    /// A UTC time of a zip member (the `UT` extra field): `timestamp` with `clock` when
    /// inside a build's window.
    Utc,
    /// A local time without zone (zip's DOS time), counted as if it were UTC: `timezone`
    /// when the two sides differ by exactly the two known zones' offsets, else `timestamp`
    /// with `clock` when inside a build's window widened by the largest zone offsets.
    Local,
}

/// A metadata field of a member or a container header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    /// `mtime`, `uid`, `gid`, `uname`, `gname`, `mode`, or a format's own field.
    pub field: &'static str,
    /// The value as shown.
    pub value: String,
    /// The value as a number (unix seconds for times, the mode bits for modes).
    pub num: Option<i64>,
    /// Whether (and how) the field is a time.
    pub time: Option<TimeField>,
}

impl Meta {
    /// A field with a number, shown as text. `mtime` is a header time in unix seconds.
    pub fn num(field: &'static str, n: i64) -> Meta {
        let value = match field {
            "mode" => format!("{:o}", n),
            "mtime" => format!("{} ({n})", format_unix(n)),
            _ => n.to_string(),
        };
        Meta {
            field,
            value,
            num: Some(n),
            time: (field == "mtime").then_some(TimeField::Header),
        }
    }

    /// A time field: `secs` in unix seconds (for a local time, as if it were UTC).
    pub fn time(field: &'static str, secs: i64, value: String, time: TimeField) -> Meta {
        Meta {
            field,
            value,
            num: Some(secs),
            time: Some(time),
        }
    }

    /// A field shown as text.
    pub fn text(field: &'static str, value: impl Into<String>) -> Meta {
        Meta {
            field,
            value: value.into(),
            num: None,
            time: None,
        }
    }
}

/// Where a member's content is.
#[derive(Debug)]
pub(crate) enum Data {
    /// Read into memory (archive members), held in the memory budget until dropped.
    Bytes(Vec<u8>, #[allow(dead_code)] Held),
    /// Too large for what was left of the memory budget: only its digest was kept.
    Digest(Digest),
    /// A file on disk, read only if it differs.
    File(PathBuf, u64),
    /// A special file (FIFO, socket, device, hard link), never read.
    Special(Special),
    /// No content (directories, links).
    None,
    /// Content dropped once found equal to the other side's (streamed archives).
    Same,
}

/// Bytes of a member kept with its digest, to show where two contents start to differ.
const DIGEST_HEAD: usize = 64 << 10;

/// What is kept of content not held in memory: its length, SHA-256 (so that equal digests
/// mean equal content even for crafted inputs) and first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Digest {
    pub len: u64,
    pub sha256: [u8; 32],
    pub head: Vec<u8>,
}

impl Digest {
    /// The digest of everything `reader` gives, read in blocks.
    pub(crate) fn of_reader(reader: &mut impl Read) -> std::io::Result<Digest> {
        let mut sha = Sha256::new();
        let mut head = Vec::new();
        let mut len = 0u64;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let room = DIGEST_HEAD.saturating_sub(head.len()).min(n);
            head.extend_from_slice(&buf[..room]);
            sha.update(&buf[..n]);
            len += n as u64;
        }
        Ok(Digest {
            len,
            sha256: sha.finalize().into(),
            head,
        })
    }

    /// The digest of bytes in memory.
    fn of_bytes(bytes: &[u8]) -> Digest {
        Digest {
            len: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
            head: bytes[..bytes.len().min(DIGEST_HEAD)].to_vec(),
        }
    }
}

/// Reads a member's content of at most `size` bytes: into memory when the memory budget
/// holds it, else only its [`Digest`].
pub(crate) fn read_member(reader: &mut impl Read, size: u64, cx: &Cx) -> std::io::Result<Data> {
    let mut limited = reader.take(size);
    match cx.budget.hold(size) {
        Some(held) => {
            let mut buf = Vec::with_capacity(size.min(1 << 30) as usize);
            limited.read_to_end(&mut buf)?;
            Ok(Data::Bytes(buf, held))
        }
        None => Ok(Data::Digest(Digest::of_reader(&mut limited)?)),
    }
}

impl Data {
    /// The length of content read (held or digested).
    pub(crate) fn read_len(&self) -> Option<u64> {
        match self {
            Data::Bytes(bytes, _) => Some(bytes.len() as u64),
            Data::Digest(d) => Some(d.len),
            _ => None,
        }
    }
}

/// One member of a container.
#[derive(Debug)]
pub(crate) struct Member {
    pub name: Vec<u8>,
    pub entry: EntryType,
    pub link: Option<Vec<u8>>,
    pub meta: Vec<Meta>,
    pub data: Data,
}

/// A container's members, its header fields, and the error that stopped the listing.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub members: Vec<Member>,
    pub header: Vec<Meta>,
    pub error: Option<String>,
}

/// How to report a container format.
pub(crate) struct Style {
    /// The container's kind.
    pub kind: ItemKind,
    /// Between the container path and a member name: `!/` (tar, zip), `!` (ar), `/`.
    pub sep: &'static str,
    /// Whether member order is meaningful (not for directories).
    pub ordered: bool,
    /// Whether a member's differing fields are reasons of the member's own item (files
    /// of a directory: each is an item) rather than of the container (archive headers).
    pub fields_on_members: bool,
    /// The remedy for this format's header differences.
    pub remedy: &'static str,
    /// The remedy for members in another order (for ordered formats).
    pub order_remedy: &'static str,
}

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
    let mut items = only_on_one_side(path, style, &a.members, &index_b, Change::Removed);
    items.extend(only_on_one_side(
        path,
        style,
        &b.members,
        &index_a,
        Change::Added,
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
) -> Vec<DiffItem> {
    index(members)
        .into_iter()
        .filter(|(key, _)| !other.contains_key(key))
        .map(|((name, _), i)| {
            let m = &members[i];
            let mut item = DiffItem::new(member_path(path, style.sep, &name), kind_of(m), change);
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

fn kind_of(m: &Member) -> ItemKind {
    match m.entry {
        EntryType::Dir => ItemKind::Directory,
        EntryType::Symlink => ItemKind::Symlink,
        EntryType::Other => ItemKind::Special,
        EntryType::File => match &m.data {
            Data::Bytes(bytes, _) => {
                super::detect(&escape_bytes(&m.name), bytes).map_or(ItemKind::Binary, |f| f.kind())
            }
            Data::Digest(d) => super::detect(&escape_bytes(&m.name), &d.head)
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

/// One reason for a differing field: `umask` for group/other write bits, `user` for
/// known user names, otherwise `archive-metadata`.
pub(crate) fn field_reason(
    path: &str,
    style: &Style,
    a: &Meta,
    b: &Meta,
    member: Option<(&str, usize)>,
    cx: &Cx,
) -> Reason {
    let (kind, variation) = match a.time {
        Some(time) => time_attribution(time, a.num, b.num, cx),
        None => {
            let kind = field_kind(a, b, cx);
            let variation = match (kind, a.field) {
                (ReasonKind::ArchiveMetadata, "uid" | "gid" | "uname" | "gname") => Some("user"),
                (k, _) => default_variation(k),
            };
            (kind, variation)
        }
    };
    let context = match member {
        Some((name, 0)) => format!("{} of {name}", a.field),
        Some((name, more)) => format!("{} of {name} and {more} more members", a.field),
        None => format!("header {}", a.field),
    };
    Reason {
        kind,
        path: path.to_string(),
        offset: None,
        offset_b: None,
        line: None,
        line_b: None,
        a: a.value.clone(),
        b: b.value.clone(),
        variation: variation.map(str::to_string),
        remedy: Some(match kind {
            ReasonKind::ArchiveMetadata | ReasonKind::Timestamp => style.remedy.to_string(),
            k => super::classify::remedy(k).unwrap_or_default().to_string(),
        }),
        context: Some(context),
        high_entropy: None,
        note: None,
    }
}

fn field_kind(a: &Meta, b: &Meta, cx: &Cx) -> ReasonKind {
    match a.field {
        "mode" => match (a.num, b.num) {
            (Some(x), Some(y)) if (x ^ y) & !0o022 == 0 => ReasonKind::Umask,
            _ => ReasonKind::ArchiveMetadata,
        },
        "uname" | "gname" => match &cx.opts.known.user {
            Some((ua, ub)) if *ua == a.value && *ub == b.value => ReasonKind::User,
            _ => ReasonKind::ArchiveMetadata,
        },
        _ => ReasonKind::ArchiveMetadata,
    }
}

/// Slack around a build's window for a header time in UTC: a file written just before
/// the step started (an input, a generated source) still counts.
const UTC_SLACK: i64 = 120;
/// Slack for a local time: the zone offsets reach from UTC-12 to UTC+14.
const LOCAL_SLACK: i64 = 14 * 3600 + UTC_SLACK;

/// The reason kind and variation of a differing time field (see [`TimeField`]).
///
/// Without known clock windows (`reprobe diff` with no `--known clock`) a header time is
/// `archive-metadata` with its usual cause, `clock`; with windows, only times inside
/// one are attributed to the clock, and zip times inside one are `timestamp`s.
fn time_attribution(
    time: TimeField,
    a: Option<i64>,
    b: Option<i64>,
    cx: &Cx,
) -> (ReasonKind, Option<&'static str>) {
    let known = &cx.opts.known;
    if let (TimeField::Local, Some(x), Some(y), Some((za, zb))) = (time, a, b, &known.timezone) {
        if zone_shift(za, zb, x, y) {
            return (ReasonKind::Timezone, Some("timezone"));
        }
    }
    let Some((wa, wb)) = known.clock else {
        return (ReasonKind::ArchiveMetadata, Some("clock"));
    };
    let slack = match time {
        TimeField::Local => LOCAL_SLACK,
        TimeField::Header | TimeField::Utc => UTC_SLACK,
    };
    let inside = |t: Option<i64>| t.is_some_and(|t| wa.contains(t, slack) || wb.contains(t, slack));
    match (inside(a) || inside(b), time) {
        (false, _) => (ReasonKind::ArchiveMetadata, None),
        (true, TimeField::Header) => (ReasonKind::ArchiveMetadata, Some("clock")),
        (true, TimeField::Utc | TimeField::Local) => (ReasonKind::Timestamp, Some("clock")),
    }
}

/// Whether two local times (each counted as if UTC) differ by exactly the difference of
/// the two zones' offsets: the same instant written in zone `za` and in zone `zb`.
fn zone_shift(za: &str, zb: &str, local_a: i64, local_b: i64) -> bool {
    let (Some(off_a), Some(off_b)) = (
        super::zones::utc_offset(za, local_a),
        super::zones::utc_offset(zb, local_b),
    ) else {
        return false;
    };
    off_a != off_b && local_b - local_a == off_b - off_a
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
                let kind = sniff_kind(ma);
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
fn sniff_kind(m: &Member) -> ItemKind {
    match (&m.data, m.entry) {
        (Data::File(path, size), EntryType::File) => {
            let limit = if *size <= 1 << 20 { *size } else { 64 << 10 };
            match super::regular_files::read_file(path, limit) {
                Ok(head) => super::detect(&escape_bytes(&m.name), &head)
                    .map_or(ItemKind::Binary, |f| f.kind()),
                Err(_) => ItemKind::Binary,
            }
        }
        _ => kind_of(m),
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
        variation: Some("fileorder".into()),
        remedy: Some(style.order_remedy.to_string())
            .filter(|r| !r.is_empty())
            .or_else(|| super::classify::remedy(ReasonKind::Ordering).map(str::to_string)),
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
        let mut item = DiffItem::new(mpath, kind_of(a).min(kind_of(b)), Change::Modified);
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
        (Data::Bytes(x, _), Data::Bytes(y, _)) => compare_blobs(&mpath, x, y, cx),
        (Data::File(pa, sa), Data::File(pb, sb)) => {
            super::compare_files(&mpath, pa, pb, (*sa, *sb), cx).unwrap_or_else(|err| {
                let mut item = DiffItem::new(mpath, ItemKind::Binary, Change::Modified);
                item.evidence.notes.push(format!("could not read: {err}"));
                vec![item]
            })
        }
        (Data::Special(x), Data::Special(y)) => {
            let fields = super::special::field_diffs(x, y);
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
            let mut item = DiffItem::new(mpath, kind_of(a), Change::Modified);
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
    let mut item = DiffItem::new(mpath, kind_of(m), Change::Modified);
    let show = |d: &Digest| format!("{} bytes, sha256 {}", d.len, hex::encode(&d.sha256[..8]));
    item.evidence.metadata.push(FieldDiff {
        member: None,
        field: "content".into(),
        a: show(a),
        b: show(b),
    });
    item.evidence.byte_ranges = super::binary::byte_ranges(&a.head, &b.head, Some(cx.budget));
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
    let mut item = DiffItem::new(mpath, kind_of(a), Change::Modified);
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

    #[test]
    fn mode_difference_in_group_write_is_umask() {
        let opts = super::super::DiffOptions::default();
        let budget = std::sync::atomic::AtomicU64::new(0);
        let limits = crate::diff::budget::Budget::unlimited();
        let cx = Cx {
            opts: &opts,
            depth: 0,
            expanded: &budget,
            budget: &limits,
        };
        let kind = field_kind(&Meta::num("mode", 0o644), &Meta::num("mode", 0o664), &cx);
        assert_eq!(kind, ReasonKind::Umask);
        let kind = field_kind(&Meta::num("mode", 0o644), &Meta::num("mode", 0o755), &cx);
        assert_eq!(kind, ReasonKind::ArchiveMetadata);
    }
}
