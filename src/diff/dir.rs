//! Directory trees on disk: listed without following symlinks, files compared only when
//! their sizes match and read only when their bytes differ.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::members::{compare_listings, Data, EntryType, Listing, Member, Meta, Style};
use super::{Cx, DiffError, DiffItem, ItemKind};

const STYLE: Style = Style {
    kind: ItemKind::Directory,
    sep: "/",
    ordered: false,
    fields_on_members: true,
    remedy: "set file modes explicitly (install -m, chmod)",
};

/// Compares two directory trees. Modes are compared; mtimes and owners are not (they are
/// not part of a content hash, DESIGN.md section 3).
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
        Data::None
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

/// Files up to this size are compared by reading each in one go.
const SMALL_FILE: u64 = 1 << 20;

/// Whether two files have the same bytes: sizes first, then the bytes, small files read
/// whole and large ones streamed in blocks (stopping at the first difference, like `cmp`).
pub(crate) fn files_equal(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    let size = fa.metadata()?.len();
    if size != fb.metadata()?.len() {
        return Ok(false);
    }
    if size <= SMALL_FILE {
        let (mut ba, mut bb) = (
            Vec::with_capacity(size as usize),
            Vec::with_capacity(size as usize),
        );
        fa.read_to_end(&mut ba)?;
        fb.read_to_end(&mut bb)?;
        return Ok(ba == bb);
    }
    let mut ba = vec![0u8; 128 * 1024];
    let mut bb = vec![0u8; 128 * 1024];
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Reads a file, at most `limit` bytes.
pub(crate) fn read_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    File::open(path)?.take(limit).read_to_end(&mut out)?;
    Ok(out)
}
