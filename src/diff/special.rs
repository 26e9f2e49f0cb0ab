//! Special files: FIFOs, sockets, character and block devices. They are compared by type
//! and device number and never opened: opening a FIFO for reading blocks until a writer
//! comes, and reading `/dev/zero` never ends.

use std::fs::{FileType, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::items::{Change, DiffItem, FieldDiff, ItemKind};

/// What a special file is: its type and, for a device, its device number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Special {
    /// `fifo`, `socket`, `character device`, `block device`, or a tar type (`hard link`).
    pub kind: &'static str,
    /// The device number (major, minor) of a device.
    pub device: Option<(u64, u64)>,
}

impl Special {
    /// The special file `meta` describes; `None` for a regular file, directory or symlink.
    pub(crate) fn of(meta: &Metadata) -> Option<Special> {
        let kind = special_kind(&meta.file_type())?;
        let rdev = meta.rdev();
        let device = matches!(kind, CHAR | BLOCK)
            .then(|| (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)));
        Some(Special { kind, device })
    }

    /// A device of `kind` with this number (a tar header's).
    pub(crate) fn device(kind: &'static str, major: u64, minor: u64) -> Special {
        Special {
            kind,
            device: Some((major, minor)),
        }
    }

    /// A special file without a device number.
    pub(crate) fn plain(kind: &'static str) -> Special {
        Special { kind, device: None }
    }
}

/// The type name of a character device.
pub(crate) const CHAR: &str = "character device";
/// The type name of a block device.
pub(crate) const BLOCK: &str = "block device";

fn special_kind(ft: &FileType) -> Option<&'static str> {
    if ft.is_fifo() {
        Some("fifo")
    } else if ft.is_socket() {
        Some("socket")
    } else if ft.is_char_device() {
        Some(CHAR)
    } else if ft.is_block_device() {
        Some(BLOCK)
    } else {
        None
    }
}

/// The type of anything on disk, as reported: `file`, `directory`, `symlink` or a
/// special file's type.
fn type_name(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    special_kind(&ft).unwrap_or(if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else {
        "file"
    })
}

fn show_device(device: Option<(u64, u64)>) -> String {
    device.map_or_else(
        || "none".into(),
        |(major, minor)| format!("{major}:{minor}"),
    )
}

/// The fields in which two special files differ: `type`, or `device` for two devices
/// of one type. Empty when they are the same.
pub(crate) fn field_diffs(a: &Special, b: &Special) -> Vec<FieldDiff> {
    let field = |name: &str, a: String, b: String| FieldDiff {
        member: None,
        field: name.into(),
        a,
        b,
    };
    if a.kind != b.kind {
        vec![field("type", a.kind.into(), b.kind.into())]
    } else if a.device != b.device {
        vec![field(
            "device",
            show_device(a.device),
            show_device(b.device),
        )]
    } else {
        Vec::new()
    }
}

/// Compares two top-level inputs of which at least one is a special file, from their
/// metadata alone.
pub(crate) fn compare_top(name: &str, a: &Metadata, b: &Metadata) -> Vec<DiffItem> {
    let fields = match (Special::of(a), Special::of(b)) {
        (Some(sa), Some(sb)) => field_diffs(&sa, &sb),
        _ => vec![FieldDiff {
            member: None,
            field: "type".into(),
            a: type_name(a).into(),
            b: type_name(b).into(),
        }],
    };
    if fields.is_empty() {
        return Vec::new();
    }
    let mut item = DiffItem::new(name.to_string(), ItemKind::Special, Change::Modified);
    item.evidence.metadata = fields;
    vec![item]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_differ_by_number_and_specials_by_type() {
        let null = std::fs::metadata("/dev/null").unwrap();
        let zero = std::fs::metadata("/dev/zero").unwrap();
        let (sn, sz) = (Special::of(&null).unwrap(), Special::of(&zero).unwrap());
        assert_eq!(sn.kind, CHAR);
        let diffs = field_diffs(&sn, &sz);
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].field, "device");
        assert_eq!((diffs[0].a.as_str(), diffs[0].b.as_str()), ("1:3", "1:5"));
        assert!(field_diffs(&sn, &sn.clone()).is_empty());
        let fifo = Special::plain("fifo");
        assert_eq!(
            field_diffs(&fifo, &Special::plain("socket"))[0].field,
            "type"
        );
        assert!(Special::of(&std::fs::metadata("/").unwrap()).is_none());
    }

    #[test]
    fn a_device_against_a_file_is_a_type_difference() {
        let zero = std::fs::metadata("/dev/zero").unwrap();
        let file = std::fs::metadata(file!()).or_else(|_| std::fs::metadata("/etc/hostname"));
        let Ok(file) = file else { return };
        let items = compare_top("x", &zero, &file);
        assert_eq!(items.len(), 1);
        let f = &items[0].evidence.metadata[0];
        assert_eq!((f.a.as_str(), f.b.as_str()), (CHAR, "file"));
        assert!(compare_top("x", &zero, &zero).is_empty());
    }
}
