//! Directory trees on disk: listed without following symlinks, and compared as a listing
//! of members whose files are compared only when their sizes match and read only when
//! their bytes differ (see `regular_files.rs`).

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::context::Cx;
use super::items::{DiffItem, ItemKind};
use super::listing::{Data, EntryType, Listing, Member, Meta, Style};
use super::members::compare_listings;
use super::options::DiffError;
use super::special::Special;

const STYLE: Style = Style {
    kind: ItemKind::Directory,
    sep: "/",
    ordered: false,
    fields_on_members: true,
    remedy: "set file modes explicitly (install -m, chmod)",
    order_remedy: "",
};

/// Compares two directory trees. Modes are compared; mtimes and owners are not (they are
/// not part of a content hash, docs/design.md section 3).
pub(crate) fn compare_dirs(a: &Path, b: &Path, cx: &Cx) -> Result<Vec<DiffItem>, DiffError> {
    let (la, lb) = rayon::join(|| list_dir(a), || list_dir(b));
    Ok(compare_listings("", &STYLE, la?, lb?, cx))
}

/// Lists a tree, sorted by path, never following symlinks.
fn list_dir(root: &Path) -> Result<Listing, DiffError> {
    let mut listing = Listing::default();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1);
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                listing.error = Some(format!("unreadable entry: {err}"));
                continue;
            }
        };
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let meta = entry.metadata().map_err(|e| DiffError::Io {
            path: entry.path().to_path_buf(),
            source: io::Error::other(e),
        })?;
        listing.members.push(member(entry.path(), rel, &meta));
    }
    Ok(listing)
}

fn member(path: &Path, rel: &Path, meta: &std::fs::Metadata) -> Member {
    let ft = meta.file_type();
    let entry = if ft.is_dir() {
        EntryType::Dir
    } else if ft.is_symlink() {
        EntryType::Symlink
    } else if ft.is_file() {
        EntryType::File
    } else {
        EntryType::Other
    };
    let link = ft
        .is_symlink()
        .then(|| std::fs::read_link(path).map(|t| t.as_os_str().as_bytes().to_vec()))
        .and_then(Result::ok);
    let data = if ft.is_file() {
        Data::File(path.to_path_buf(), meta.len())
    } else {
        Special::of(meta).map_or(Data::None, Data::Special)
    };
    let mut member_meta = Vec::new();
    if !ft.is_symlink() {
        member_meta.push(Meta::num(
            "mode",
            i64::from(meta.permissions().mode() & 0o7777),
        ));
    }
    Member {
        name: rel.as_os_str().as_bytes().to_vec(),
        entry,
        link,
        meta: member_meta,
        data,
    }
}
