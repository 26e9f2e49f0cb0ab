//! What a comparison reports: the items that differ ([`DiffReport`], [`DiffItem`]), why
//! each differs ([`Reason`], named with the words of [`ReasonKind`]) and what was seen
//! ([`Evidence`]). Serialized as they are in `diff --json` and in `check`'s report.

use serde::Serialize;

use crate::model::vocabulary::ReasonKind;

/// The result of a comparison: only the items that differ, sorted by path.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiffReport {
    /// Differing items, sorted by path.
    pub items: Vec<DiffItem>,
}

impl DiffReport {
    /// Whether the two sides were identical.
    pub fn is_identical(&self) -> bool {
        self.items.is_empty()
    }
}

/// One differing file, member, or container.
#[derive(Debug, Clone, Serialize)]
pub struct DiffItem {
    /// Where the item is, containers separated by `!`: `out.tar.gz!/usr/lib/x.a!foo.o`.
    pub path: String,
    /// What kind of content it is.
    pub kind: ItemKind,
    /// How it changed.
    pub change: Change,
    /// Why it differs, one entry per explained (or unexplained) difference.
    pub reasons: Vec<Reason>,
    /// What was seen: diffs, byte ranges, metadata fields, notes.
    pub evidence: Evidence,
}

impl DiffItem {
    /// An item with no reasons or evidence yet.
    pub fn new(path: String, kind: ItemKind, change: Change) -> DiffItem {
        DiffItem {
            path,
            kind,
            change,
            reasons: Vec::new(),
            evidence: Evidence::default(),
        }
    }
}

/// The kind of an item, as recognised by the format that compared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// Another non-regular entry (device, fifo, hard link).
    Special,
    /// UTF-8 text.
    Text,
    /// JSON text.
    Json,
    /// Bytes of no recognised format.
    Binary,
    /// An ELF object, executable or library.
    Elf,
    /// A tar archive.
    Tar,
    /// A gzip stream.
    Gzip,
    /// An xz stream.
    Xz,
    /// A zstd stream.
    Zstd,
    /// A zip (or jar) archive.
    Zip,
    /// An `ar` archive (static library, .deb).
    Ar,
}

impl ItemKind {
    /// The lowercase name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Directory => "directory",
            ItemKind::Symlink => "symlink",
            ItemKind::Special => "special",
            ItemKind::Text => "text",
            ItemKind::Json => "json",
            ItemKind::Binary => "binary",
            ItemKind::Elf => "elf",
            ItemKind::Tar => "tar",
            ItemKind::Gzip => "gzip",
            ItemKind::Xz => "xz",
            ItemKind::Zstd => "zstd",
            ItemKind::Zip => "zip",
            ItemKind::Ar => "ar",
        }
    }
}

/// How an item changed between side a and side b.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only in b.
    Added,
    /// Only in a.
    Removed,
    /// In both, with different content.
    Modified,
    /// In both, same content, different metadata (header fields, order, mode).
    Metadata,
}

impl Change {
    /// The lowercase name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Modified => "modified",
            Change::Metadata => "metadata",
        }
    }

    /// The same change seen from the other side.
    pub fn swapped(self) -> Change {
        match self {
            Change::Added => Change::Removed,
            Change::Removed => Change::Added,
            other => other,
        }
    }
}

/// Why one part of an item differs, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The reason, in docs/design.md section 6 words.
    pub kind: ReasonKind,
    /// The item's path.
    pub path: String,
    /// Byte offset in side a, where meaningful.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Byte offset in side b (differs from `offset` when content before it shifted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_b: Option<u64>,
    /// 1-based line in side a, for text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based line in side b, for text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_b: Option<u64>,
    /// The value on side a.
    pub a: String,
    /// The value on side b.
    pub b: String,
    /// The `check` variation that explains it (docs/design.md section 5), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variation: Option<String>,
    /// How to make the difference go away.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    /// Where inside the item: an ELF section, a header field, a JSON key path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// For `random`: whether the differing values look random (high entropy: hex,
    /// base64, a uuid, raw bytes) rather than an unexplained low-entropy change (a word,
    /// a small number). `None` for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_entropy: Option<bool>,
    /// A remark on the evidence, the same seen from either side: what a `random` span
    /// looks like ("unexplained by known values; not high-entropy"), how an inferred
    /// `build_path` was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Reason {
    /// The same reason seen from the other side: values, offsets and lines swapped.
    pub fn mirror(&mut self) {
        std::mem::swap(&mut self.a, &mut self.b);
        std::mem::swap(&mut self.offset, &mut self.offset_b);
        std::mem::swap(&mut self.line, &mut self.line_b);
    }
}

/// What was seen, for a person to check the reasons.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    /// A unified diff (text, JSON, or the printable strings of a binary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unified_diff: Option<String>,
    /// Differing byte ranges with hex views of both sides.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub byte_ranges: Vec<ByteRange>,
    /// Differing metadata fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<FieldDiff>,
    /// Remarks: corrupt input, limits reached, what was skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One differing byte range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByteRange {
    /// Offset of the range in side a.
    pub offset_a: u64,
    /// Length of the range in side a.
    pub len_a: u64,
    /// Offset of the range in side b.
    pub offset_b: u64,
    /// Length of the range in side b.
    pub len_b: u64,
    /// Hex and ASCII view of side a around the range.
    pub hex_a: String,
    /// Hex and ASCII view of side b around the range.
    pub hex_b: String,
}

/// One differing metadata field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    /// The member it belongs to, if not the item itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The field: `mtime`, `uid`, `mode`, `order`, `section .text`...
    pub field: String,
    /// Value on side a.
    pub a: String,
    /// Value on side b.
    pub b: String,
}
