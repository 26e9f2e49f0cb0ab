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
//!
//! This file is the driver: it detects formats and dispatches to them, and hands itself
//! down to them in the comparison's context ([`context::Cx`]), so that the formats,
//! which recurse into what they contain, never import it. What a comparison is given
//! is in [`options`], what it reports in [`items`].

use std::path::Path;
use std::sync::atomic::AtomicU64;

mod align;
mod ar;
mod binary;
pub(crate) mod budget;
pub(crate) mod classify;
mod compressed;
mod compressed_files;
mod context;
mod decompress;
mod dir;
mod elf;
mod entropy;
mod escape;
mod field_reasons;
mod gzip;
mod items;
mod json;
mod listing;
mod members;
mod options;
mod regular_files;
#[cfg(test)]
mod remedy_tests;
mod special;
mod stream;
mod tar;
mod text;
pub(crate) mod timestamps;
mod xz;
mod zip;
pub(crate) mod zones;
mod zstd;

pub use self::escape::escape_bytes;
pub use self::items::{
    ByteRange, Change, DiffItem, DiffReport, Evidence, FieldDiff, ItemKind, Reason,
};
pub use self::options::{
    DiffError, DiffOptions, KnownValues, TimeWindow, DEFAULT_MAX_MEMORY, DEFAULT_MAX_TIME,
};
pub use crate::model::vocabulary::ReasonKind;

use self::context::{Cx, Format, Recurse};

/// The formats, most specific first. Anything unrecognised is compared as binary.
pub(crate) static FORMATS: &[&dyn Format] = &[
    &gzip::Gzip,
    &xz::Xz,
    &zstd::Zstd,
    &zip::Zip,
    &ar::Ar,
    &elf::Elf,
    &tar::Tar,
    &json::Json,
    &text::Text,
];

/// The driver's entry points, handed to every format in its [`Cx`].
pub(crate) static RECURSE: Recurse = Recurse {
    detect,
    compare_blobs,
    compare_files,
};

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
        recurse: &RECURSE,
    };
    let special =
        special::Special::of(&meta_a).is_some() || special::Special::of(&meta_b).is_some();
    let mut items = match (meta_a.is_dir(), meta_b.is_dir()) {
        _ if special => special::compare_top(&display_name(a), &meta_a, &meta_b),
        (true, true) => dir::compare_dirs(a, b, &cx)?,
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
        recurse: &RECURSE,
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
        if let Some(items) = compressed_files::compare_files(path, a, b, cx)? {
            return Ok(items);
        }
    }
    let Some(held) = cx.budget.hold(size_a.saturating_add(size_b)) else {
        if !large {
            if let Some(items) = compressed_files::compare_files(path, a, b, cx)? {
                return Ok(items);
            }
        }
        return stream::compare_files(path, a, b, (size_a, size_b), cx);
    };
    let (data_a, data_b) = rayon::join(
        || regular_files::read_file(a, size_a),
        || regular_files::read_file(b, size_b),
    );
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
pub(crate) const MAX_NESTING: usize = 64;

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
