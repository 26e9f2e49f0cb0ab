//! The diff engine: compares files, directories and archives and classifies differences.
//!
//! Formats find differences, the classifier explains them (docs/style.md, "One file per
//! format"): each format lives in its own module behind the [`Format`] trait and is
//! registered once in [`FORMATS`]; [`classify`] turns differing spans and fields into
//! [`Reason`]s using the words of docs/design.md section 6.
//!
//! The entry point is [`diff_paths`]. Only what differs is opened: two files are first
//! compared byte for byte (streamed), and a container is listed only when its bytes differ.
//! Special files (FIFOs, sockets, devices) are compared by type and device number and
//! never opened.
//!
//! Every comparison is bounded (see [`budget`]): content larger than `max_memory` allows
//! is compared as two streams in place, every alignment is linear or stops at a
//! deadline, and what a budget cut short is said in a note starting with
//! [`budget::NOT_COMPARED`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

mod align;
mod ar;
mod binary;
pub mod budget;
pub mod classify;
mod compressed;
mod regular_files;
mod elf;
mod entropy;
mod gzip;
mod json;
mod members;
#[cfg(test)]
mod remedy_tests;
mod special;
mod stream;
mod tar;
mod text;
pub mod timestamps;
mod zip;
pub mod zones;

/// Values known to differ between the two sides, given by `check` (which applied the
/// variations) or by `reprobe diff --known`. Each pair is `(side a, side b)`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KnownValues {
    /// The two build (work) directories.
    pub build_path: Option<(String, String)>,
    /// The two host names.
    pub hostname: Option<(String, String)>,
    /// The two user names.
    pub user: Option<(String, String)>,
    /// The time windows during which each side was built.
    pub clock: Option<(TimeWindow, TimeWindow)>,
    /// The two time zones (e.g. `UTC` and `Pacific/Kiritimati`).
    pub timezone: Option<(String, String)>,
    /// The two locales (e.g. `C.UTF-8` and `en_US.UTF-8`).
    pub locale: Option<(String, String)>,
}

impl KnownValues {
    /// Whether no value is known: `reprobe diff` without `--known`. Only then does the
    /// classifier guess (a prefix swap of two paths is `build_path`); given any known
    /// value, as `check` always gives, attribution is exact.
    pub fn is_empty(&self) -> bool {
        self.build_path.is_none()
            && self.hostname.is_none()
            && self.user.is_none()
            && self.clock.is_none()
            && self.timezone.is_none()
            && self.locale.is_none()
    }

    /// The same values with sides a and b swapped.
    pub fn swapped(&self) -> KnownValues {
        fn swap<T: Clone>(pair: &Option<(T, T)>) -> Option<(T, T)> {
            pair.as_ref().map(|(a, b)| (b.clone(), a.clone()))
        }
        KnownValues {
            build_path: swap(&self.build_path),
            hostname: swap(&self.hostname),
            user: swap(&self.user),
            clock: swap(&self.clock),
            timezone: swap(&self.timezone),
            locale: swap(&self.locale),
        }
    }
}

impl Reason {
    /// The same reason seen from the other side: values, offsets and lines swapped.
    pub fn mirror(&mut self) {
        std::mem::swap(&mut self.a, &mut self.b);
        std::mem::swap(&mut self.offset, &mut self.offset_b);
        std::mem::swap(&mut self.line, &mut self.line_b);
    }
}

/// A span of time in unix seconds, both ends included.
///
/// A differing span that parses as a time inside either side's window is attributed to
/// the `clock` variation (docs/design.md section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeWindow {
    /// First second of the window.
    pub start: i64,
    /// Last second of the window.
    pub end: i64,
}

impl TimeWindow {
    /// Whether `t` lies in the window, widened by `slack` seconds on both ends.
    pub fn contains(&self, t: i64, slack: i64) -> bool {
        t >= self.start.saturating_sub(slack) && t <= self.end.saturating_add(slack)
    }
}

/// Limits and known values for one comparison.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Values known to differ between the sides, for exact attribution.
    pub known: KnownValues,
    /// Total bytes that decompression may produce in one comparison (default 4 GiB).
    pub max_expanded_bytes: u64,
    /// Largest expansion ratio of one compressed stream (default 1000).
    pub max_ratio: u64,
    /// Deepest nesting of containers that is opened (default 8).
    pub max_depth: usize,
    /// Most reasons kept for one item (default 50).
    pub max_findings_per_item: usize,
    /// Most lines of a unified diff kept as evidence for one item (default 2000).
    pub max_evidence_lines: usize,
    /// Most bytes of content held in memory at once (default 256 MiB): content that does
    /// not fit is compared as two streams, in place, and explained in windows around its
    /// differences.
    pub max_memory: u64,
    /// Longest time decompression and explanation may take in one comparison (default
    /// 30 s); one item's explanation may take a third of it. Items left when it runs out
    /// are still compared for equality.
    pub max_time: Duration,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            known: KnownValues::default(),
            max_expanded_bytes: 4 << 30,
            max_ratio: 1000,
            max_depth: 8,
            max_findings_per_item: 50,
            max_evidence_lines: 2000,
            max_memory: DEFAULT_MAX_MEMORY,
            max_time: DEFAULT_MAX_TIME,
        }
    }
}

/// The default of [`DiffOptions::max_memory`]: 256 MiB.
pub const DEFAULT_MAX_MEMORY: u64 = 256 << 20;
/// The default of [`DiffOptions::max_time`]: 30 s.
pub const DEFAULT_MAX_TIME: Duration = Duration::from_secs(30);

/// Errors that stop a comparison before it starts: unusable top-level inputs.
///
/// Problems *inside* the inputs (a corrupt archive, a decompression bomb) are not
/// errors: they are reported as notes on the item concerned.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A top-level input does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// A top-level input could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

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

/// The reasons of docs/design.md section 6, serialized exactly as written there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ReasonKind {
    /// A date or time (clock).
    #[serde(rename = "timestamp")]
    Timestamp,
    /// The build directory.
    #[serde(rename = "build_path")]
    BuildPath,
    /// The host name.
    #[serde(rename = "hostname")]
    Hostname,
    /// The user name or id.
    #[serde(rename = "user")]
    User,
    /// File modes that differ as a umask would make them.
    #[serde(rename = "umask")]
    Umask,
    /// The locale.
    #[serde(rename = "locale")]
    Locale,
    /// The time zone.
    #[serde(rename = "timezone")]
    Timezone,
    /// Same members or lines in another order.
    #[serde(rename = "ordering")]
    Ordering,
    /// The number of CPUs.
    #[serde(rename = "cpus")]
    Cpus,
    /// The environment.
    #[serde(rename = "env")]
    Env,
    /// Unexplained.
    #[serde(rename = "random")]
    Random,
    /// Archive header fields: mtime, uid, gid, names, mode, gzip header.
    #[serde(rename = "archive-metadata")]
    ArchiveMetadata,
}

impl ReasonKind {
    /// The word of docs/design.md section 6.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonKind::Timestamp => "timestamp",
            ReasonKind::BuildPath => "build_path",
            ReasonKind::Hostname => "hostname",
            ReasonKind::User => "user",
            ReasonKind::Umask => "umask",
            ReasonKind::Locale => "locale",
            ReasonKind::Timezone => "timezone",
            ReasonKind::Ordering => "ordering",
            ReasonKind::Cpus => "cpus",
            ReasonKind::Env => "env",
            ReasonKind::Random => "random",
            ReasonKind::ArchiveMetadata => "archive-metadata",
        }
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

/// One registered format: how to recognise it and how to compare two instances.
pub(crate) trait Format: Sync {
    /// The kind of the items this format reports.
    fn kind(&self) -> ItemKind;
    /// Whether `data` (named `name`) is of this format.
    fn detect(&self, name: &str, data: &[u8]) -> bool;
    /// Compares two differing instances; returns the differing items under `path`.
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem>;
}

/// The formats, most specific first. Anything unrecognised is compared as binary.
pub(crate) static FORMATS: &[&dyn Format] = &[
    &gzip::Gzip,
    &compressed::Xz,
    &compressed::Zstd,
    &zip::Zip,
    &ar::Ar,
    &elf::Elf,
    &tar::Tar,
    &json::Json,
    &text::Text,
];

/// The context of one comparison: options, nesting depth, the decompression budget,
/// and the memory and time budget.
pub(crate) struct Cx<'a> {
    pub opts: &'a DiffOptions,
    pub depth: usize,
    pub expanded: &'a AtomicU64,
    pub budget: &'a Arc<budget::Budget>,
}

impl<'a> Cx<'a> {
    /// The context one container deeper.
    pub fn deeper(&self) -> Cx<'a> {
        Cx {
            opts: self.opts,
            depth: self.depth + 1,
            expanded: self.expanded,
            budget: self.budget,
        }
    }

    /// Takes `n` bytes from the decompression budget; false once it is exhausted. The
    /// count saturates: a member claiming 2^64 bytes cannot wrap it back to zero.
    pub fn take_budget(&self, n: u64) -> bool {
        let before = self
            .expanded
            .fetch_update(AtomicOrdering::Relaxed, AtomicOrdering::Relaxed, |v| {
                Some(v.saturating_add(n))
            })
            .unwrap_or(u64::MAX);
        before.saturating_add(n) <= self.opts.max_expanded_bytes
    }
}

/// Compares two files, directories or archives and returns what differs.
///
/// Top-level symlinks are followed (the user named them); symlinks inside directories
/// are compared as links and never followed.
pub fn diff_paths(a: &Path, b: &Path, opts: &DiffOptions) -> Result<DiffReport, DiffError> {
    let meta_a = top_metadata(a)?;
    let meta_b = top_metadata(b)?;
    let expanded = AtomicU64::new(0);
    let budget = budget::Budget::new(opts.max_memory, opts.max_time);
    let cx = Cx {
        opts,
        depth: 0,
        expanded: &expanded,
        budget: &budget,
    };
    let special =
        special::Special::of(&meta_a).is_some() || special::Special::of(&meta_b).is_some();
    let mut items = match (meta_a.is_dir(), meta_b.is_dir()) {
        _ if special => special::compare_top(&display_name(a), &meta_a, &meta_b),
        (true, true) => regular_files::compare_dirs(a, b, &cx)?,
        (false, false) => {
            let sizes = (meta_a.len(), meta_b.len());
            compare_files(&display_name(a), a, b, sizes, &cx).map_err(|e| io_error(a, b, e))?
        }
        (dir_a, _) => vec![kind_mismatch(a, dir_a)],
    };
    sort_items(&mut items);
    Ok(DiffReport { items })
}

/// Compares two in-memory blobs named `name` (for fuzzing and embedding): the same
/// engine as [`diff_paths`] on two files, without touching the file system.
pub fn diff_bytes(name: &str, a: &[u8], b: &[u8], opts: &DiffOptions) -> DiffReport {
    let expanded = AtomicU64::new(0);
    let budget = budget::Budget::new(opts.max_memory, opts.max_time);
    let cx = Cx {
        opts,
        depth: 0,
        expanded: &expanded,
        budget: &budget,
    };
    let mut items = compare_blobs(name, a, b, &cx);
    sort_items(&mut items);
    DiffReport { items }
}

/// Sorts items by path (byte order of the escaped path), stable for equal paths.
pub(crate) fn sort_items(items: &mut [DiffItem]) {
    items.sort_by(|x, y| x.path.cmp(&y.path));
}

fn top_metadata(path: &Path) -> Result<std::fs::Metadata, DiffError> {
    std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DiffError::NotFound {
            path: path.to_path_buf(),
        },
        _ => DiffError::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

fn kind_mismatch(a: &Path, a_is_dir: bool) -> DiffItem {
    let (ka, kb) = if a_is_dir {
        ("directory", "file")
    } else {
        ("file", "directory")
    };
    let mut item = DiffItem::new(display_name(a), ItemKind::Special, Change::Modified);
    item.evidence.metadata.push(FieldDiff {
        member: None,
        field: "type".into(),
        a: ka.into(),
        b: kb.into(),
    });
    item
}

/// The name an input is reported under: its file name.
fn display_name(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let name = path.file_name().unwrap_or(path.as_os_str());
    escape_bytes(name.as_bytes())
}

/// Compressed files larger than this are decompressed straight from disk rather than
/// read into memory.
const LARGE_FILE: u64 = 16 << 20;

/// Compares two regular files on disk, reported at `path`: byte for byte first, then,
/// if they differ, in memory when both fit in the memory budget, and otherwise as two
/// streams (decompressed first when both are of one compressed format).
pub(crate) fn compare_files(
    path: &str,
    a: &Path,
    b: &Path,
    (size_a, size_b): (u64, u64),
    cx: &Cx,
) -> std::io::Result<Vec<DiffItem>> {
    // Equal sizes: byte for byte first (content too large to hold is compared in place
    // below, which finds equality too).
    let fits = size_a.saturating_add(size_b) <= cx.budget.limit();
    if size_a == size_b && fits && regular_files::same_content(a, b, size_a)? {
        return Ok(Vec::new());
    }
    let large = size_a.min(size_b) > LARGE_FILE;
    if large {
        if let Some(items) = compressed::compare_files(path, a, b, cx)? {
            return Ok(items);
        }
    }
    let Some(held) = cx.budget.hold(size_a.saturating_add(size_b)) else {
        if !large {
            if let Some(items) = compressed::compare_files(path, a, b, cx)? {
                return Ok(items);
            }
        }
        return stream::compare_files(path, a, b, (size_a, size_b), cx);
    };
    let (data_a, data_b) = rayon::join(|| regular_files::read_file(a, size_a), || regular_files::read_file(b, size_b));
    let items = compare_blobs(path, &data_a?, &data_b?, cx);
    drop(held);
    Ok(items)
}

/// The error of a comparison of two files, naming the one that failed (found without
/// opening either).
fn io_error(a: &Path, b: &Path, source: std::io::Error) -> DiffError {
    let unusable = |p: &Path| {
        nix::unistd::access(p, nix::unistd::AccessFlags::R_OK).is_err()
            || !std::fs::metadata(p).is_ok_and(|m| m.is_file())
    };
    let path = if unusable(a) { a } else { b };
    DiffError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Detects the format of `data` named `name`; `None` means binary.
pub(crate) fn detect(name: &str, data: &[u8]) -> Option<&'static dyn Format> {
    FORMATS.iter().copied().find(|f| f.detect(name, data))
}

/// The deepest nesting ever opened, whatever `max_depth` says: every level takes stack
/// (recursion through rayon's workers), and 10,000 nested gzip streams overflowed it.
pub const MAX_NESTING: usize = 64;

/// Compares two blobs found at `path`, recursing into containers.
///
/// Never returns an empty list for differing inputs: if the format found nothing, the
/// bytes are compared as binary.
pub(crate) fn compare_blobs(path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
    if a == b {
        return Vec::new();
    }
    let name = path.rsplit(['!', '/']).next().unwrap_or(path);
    let (fa, fb) = (detect(name, a), detect(name, b));
    let max_depth = cx.opts.max_depth.min(MAX_NESTING);
    let mut items = match (fa, fb) {
        _ if cx.depth > max_depth => {
            let mut item = binary::compare_item(path, a, b, cx);
            item.evidence.notes.push(format!(
                "nesting depth limit ({max_depth}) reached: compared as bytes"
            ));
            vec![item]
        }
        (Some(fa), Some(fb)) if fa.kind() == fb.kind() => fa.compare(path, a, b, cx),
        (fa, fb) => {
            let mut item = binary::compare_item(path, a, b, cx);
            if fa.map(|f| f.kind()) != fb.map(|f| f.kind()) {
                item.evidence.metadata.push(FieldDiff {
                    member: None,
                    field: "format".into(),
                    a: kind_name(fa).into(),
                    b: kind_name(fb).into(),
                });
            }
            vec![item]
        }
    };
    if items.is_empty() {
        let mut item = binary::compare_item(path, a, b, cx);
        item.evidence
            .notes
            .push("the bytes differ but no member or field does (padding or compression?)".into());
        items.push(item);
    }
    items
}

fn kind_name(f: Option<&dyn Format>) -> &'static str {
    f.map_or("binary", |f| f.kind().as_str())
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

/// Shows bytes as text: valid UTF-8 stays, control characters and invalid bytes are
/// escaped (`\n`, `\x1b`, `\xff`), and a backslash is doubled, so the result is
/// unambiguous and printable.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Like [`escape_bytes`] but cut to about `max` characters, with `…` when cut.
pub(crate) fn escape_short(bytes: &[u8], max: usize) -> String {
    let cut = bytes.len() > max;
    let mut s = escape_bytes(&bytes[..bytes.len().min(max)]);
    if cut {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_keeps_utf8_and_escapes_invalid_bytes() {
        assert_eq!(escape_bytes("héllo".as_bytes()), "héllo");
        assert_eq!(escape_bytes(b"a\xffb"), "a\\xffb");
        assert_eq!(escape_bytes(b"a\\b\n"), "a\\\\b\\n");
    }

    #[test]
    fn reason_kinds_serialize_as_design_words() {
        let words: Vec<String> = [ReasonKind::BuildPath, ReasonKind::ArchiveMetadata]
            .iter()
            .map(|k| serde_json::to_string(k).unwrap())
            .collect();
        assert_eq!(words, ["\"build_path\"", "\"archive-metadata\""]);
        assert_eq!(ReasonKind::ArchiveMetadata.as_str(), "archive-metadata");
    }

    #[test]
    fn time_window_contains_with_slack() {
        let w = TimeWindow { start: 10, end: 20 };
        assert!(w.contains(10, 0) && w.contains(20, 0) && !w.contains(21, 0));
        assert!(w.contains(25, 5));
    }
}
