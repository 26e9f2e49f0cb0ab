//! Recreating recorded output entries outside the store (work directories, `--out`,
//! `check --keep`) from verified blobs, never writing through a symbolic link.

use std::fs;
use std::path::Path;

use super::layout::Store;
use super::store_error::{at, StoreError};
use crate::model::tree::{EntryType, TreeEntry};

impl Store {
    /// Recreates one recorded output entry below `root`: a directory, a symlink (never
    /// followed) or a file copied from its verified blob with `mode`. An existing entry
    /// at the destination is replaced. Nothing is ever written through a symlink: a
    /// destination whose parent inside `root` is a symlink is refused.
    pub fn materialize_entry(
        &self,
        root: &Path,
        entry: &TreeEntry,
        mode: u32,
    ) -> Result<(), StoreError> {
        let dest = root.join(&entry.path);
        refuse_symlinked_parents(root, &dest)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(at(parent))?;
        }
        match entry.kind {
            EntryType::Dir => fs::create_dir_all(&dest).map_err(at(&dest)),
            EntryType::Symlink => {
                let _ = fs::remove_file(&dest);
                let target = entry.target.as_deref().unwrap_or_default();
                std::os::unix::fs::symlink(target, &dest).map_err(at(&dest))
            }
            EntryType::File => {
                let _ = fs::remove_file(&dest);
                match entry.sha256 {
                    Some(hash) => self.copy_blob(&hash, &dest, mode),
                    None => Err(StoreError::BadEntry {
                        path: dest,
                        error: "a file entry without a hash".into(),
                    }),
                }
            }
        }
    }
}

/// Fails when any existing directory between `root` and `dest` is a symlink.
fn refuse_symlinked_parents(root: &Path, dest: &Path) -> Result<(), StoreError> {
    let Ok(rel) = dest.strip_prefix(root) else {
        return Err(StoreError::BadEntry {
            path: dest.to_path_buf(),
            error: "outside the destination directory".into(),
        });
    };
    let mut current = root.to_path_buf();
    let components: Vec<_> = rel.components().collect();
    for component in components.iter().take(components.len().saturating_sub(1)) {
        current.push(component);
        if fs::symlink_metadata(&current).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(StoreError::BadEntry {
                path: dest.to_path_buf(),
                error: format!(
                    "refusing to write through the symlink {}",
                    current.display()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn materializing_never_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        let work = dir.path().join("work");
        fs::create_dir_all(&work).unwrap();
        std::os::unix::fs::symlink(&outside, work.join("sub")).unwrap();
        let src = dir.path().join("f");
        fs::write(&src, b"evil").unwrap();
        let (hash, _) = store.ingest_file(&src).unwrap();
        let entry = TreeEntry {
            path: "sub/passwd".into(),
            kind: EntryType::File,
            mode: 0o644,
            size: 4,
            sha256: Some(hash),
            target: None,
            mtime: 0,
        };
        let err = store.materialize_entry(&work, &entry, 0o644).unwrap_err();
        assert!(
            err.to_string()
                .contains("refusing to write through the symlink"),
            "{err}"
        );
        assert!(!outside.join("passwd").exists());
    }
}
