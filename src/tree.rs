//! Output trees: what a step produced, as a sorted list of entries, and its content hash.
//!
//! A tree is walked without following symlinks; regular files are hashed in parallel with
//! rayon, each streamed. The content hash covers paths, entry types, the executable bit,
//! file content hashes and symlink targets, and nothing else (DESIGN.md section 3).

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::hash::{CanonicalHasher, ContentHash, FileHash};

/// The type of one entry of an output tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link, recorded as its target and never followed.
    Symlink,
}

/// One entry of an output tree, as recorded in manifests and the action cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEntry {
    /// Path relative to the step's work directory, `/`-separated.
    pub path: String,
    /// Entry type.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// Permission bits as found (diagnosis only; only the executable bit is hashed).
    pub mode: u32,
    /// File size in bytes (0 for directories, target length for symlinks).
    pub size: u64,
    /// Content hash of a regular file.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<FileHash>,
    /// Target of a symlink.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
    /// Modification time in seconds since the epoch (diagnosis only, never hashed).
    pub mtime: i64,
}

impl TreeEntry {
    /// Whether any executable bit is set (the only mode bit that enters the content hash).
    pub fn executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

/// Why a tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A declared output does not exist.
    #[error("declared output `{0}` was not produced")]
    Missing(String),
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The offending path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A name that is not UTF-8 or an entry of an unsupported type.
    #[error("`{path}`: {problem}")]
    Unsupported {
        /// The offending path.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> TreeError + '_ {
    move |source| TreeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An entry found by the walk, before its file content is hashed.
struct Found {
    rel: String,
    abs: PathBuf,
    meta: fs::Metadata,
}

/// Walks the declared outputs (relative to `root`) and hashes every file with `hash_file`
/// (which may also store it), in parallel. The result is sorted by path.
pub fn scan_outputs<F>(
    root: &Path,
    outputs: &[String],
    hash_file: F,
) -> Result<Vec<TreeEntry>, TreeError>
where
    F: Fn(&Path) -> io::Result<(FileHash, u64)> + Sync,
{
    let mut found = Vec::new();
    for output in outputs {
        let rel = output.trim_end_matches('/');
        let abs = root.join(rel);
        let meta = match fs::symlink_metadata(&abs) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(TreeError::Missing(output.clone()))
            }
            Err(err) => return Err(io_error(&abs)(err)),
        };
        walk(rel.to_string(), abs, meta, &mut found)?;
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    found.dedup_by(|a, b| a.rel == b.rel);
    // The error reported, if any, is the first in path order (stable from run to run).
    found
        .into_par_iter()
        .map(|entry| to_entry(entry, &hash_file))
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

fn walk(
    rel: String,
    abs: PathBuf,
    meta: fs::Metadata,
    found: &mut Vec<Found>,
) -> Result<(), TreeError> {
    let is_dir = meta.file_type().is_dir();
    found.push(Found {
        rel: rel.clone(),
        abs: abs.clone(),
        meta,
    });
    if !is_dir {
        return Ok(());
    }
    for child in fs::read_dir(&abs).map_err(io_error(&abs))? {
        let child = child.map_err(io_error(&abs))?;
        let name = child.file_name();
        let name = name.to_str().ok_or_else(|| TreeError::Unsupported {
            path: child.path(),
            problem: "file name is not UTF-8".into(),
        })?;
        let child_abs = child.path();
        let child_meta = fs::symlink_metadata(&child_abs).map_err(io_error(&child_abs))?;
        walk(format!("{rel}/{name}"), child_abs, child_meta, found)?;
    }
    Ok(())
}

fn to_entry<F>(found: Found, hash_file: &F) -> Result<TreeEntry, TreeError>
where
    F: Fn(&Path) -> io::Result<(FileHash, u64)>,
{
    let file_type = found.meta.file_type();
    let mut entry = TreeEntry {
        path: found.rel,
        kind: EntryType::File,
        mode: found.meta.permissions().mode() & 0o7777,
        size: 0,
        sha256: None,
        target: None,
        mtime: found.meta.mtime(),
    };
    if file_type.is_dir() {
        entry.kind = EntryType::Dir;
    } else if file_type.is_symlink() {
        let target = fs::read_link(&found.abs).map_err(io_error(&found.abs))?;
        let target = target.to_str().ok_or_else(|| TreeError::Unsupported {
            path: found.abs.clone(),
            problem: "symlink target is not UTF-8".into(),
        })?;
        entry.kind = EntryType::Symlink;
        entry.size = target.len() as u64;
        entry.target = Some(target.to_string());
    } else if file_type.is_file() {
        let (hash, size) = hash_file(&found.abs).map_err(io_error(&found.abs))?;
        entry.sha256 = Some(hash);
        entry.size = size;
    } else {
        return Err(TreeError::Unsupported {
            path: found.abs,
            problem: "not a regular file, directory or symlink (devices, sockets and fifos cannot be outputs)".into(),
        });
    }
    Ok(entry)
}

/// The Merkle content hash of a sorted list of entries.
pub fn content_hash(entries: &[TreeEntry]) -> ContentHash {
    let mut hasher = CanonicalHasher::new("reprobe/content/1");
    for entry in entries {
        hasher.str(b'p', &entry.path);
        match entry.kind {
            EntryType::Dir => hasher.bytes(b't', b"dir"),
            EntryType::Symlink => {
                hasher.bytes(b't', b"symlink");
                hasher.str(b'l', entry.target.as_deref().unwrap_or_default());
            }
            EntryType::File => {
                hasher.bytes(b't', b"file");
                hasher.flag(b'x', entry.executable());
                if let Some(hash) = &entry.sha256 {
                    hasher.digest(b'h', &hash.0);
                }
            }
        }
    }
    ContentHash(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_file;
    use proptest::prelude::*;
    use std::os::unix::fs::symlink;

    fn hash_tree(root: &Path, outputs: &[&str]) -> ContentHash {
        let outputs: Vec<String> = outputs.iter().map(|s| s.to_string()).collect();
        content_hash(&scan_outputs(root, &outputs, hash_file).unwrap())
    }

    #[derive(Debug, Clone)]
    struct FileSpec {
        name: String,
        content: Vec<u8>,
        executable: bool,
    }

    fn files() -> impl Strategy<Value = Vec<FileSpec>> {
        prop::collection::btree_map(
            "[a-z]{1,6}",
            (prop::collection::vec(any::<u8>(), 0..64), any::<bool>()),
            1..8,
        )
        .prop_map(|m| {
            m.into_iter()
                .map(|(name, (content, executable))| FileSpec {
                    name,
                    content,
                    executable,
                })
                .collect()
        })
    }

    fn write_tree(root: &Path, files: &[FileSpec], order: &[usize]) {
        fs::create_dir_all(root.join("out/sub")).unwrap();
        for &i in order {
            let f = &files[i];
            let path = root.join("out/sub").join(&f.name);
            fs::write(&path, &f.content).unwrap();
            let mode = if f.executable { 0o755 } else { 0o644 };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        }
        symlink("sub", root.join("out/link")).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn content_hash_ignores_creation_order_and_mtimes(files in files(), seed in any::<u64>()) {
            let a = tempfile::tempdir().unwrap();
            let b = tempfile::tempdir().unwrap();
            let forward: Vec<usize> = (0..files.len()).collect();
            let mut shuffled = forward.clone();
            shuffled.rotate_left((seed as usize) % files.len());
            shuffled.reverse();
            write_tree(a.path(), &files, &forward);
            write_tree(b.path(), &files, &shuffled);
            let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seed % 1_000_000_000);
            let f = fs::File::options().write(true).open(b.path().join("out/sub").join(&files[0].name)).unwrap();
            f.set_modified(old).unwrap();
            prop_assert_eq!(hash_tree(a.path(), &["out"]), hash_tree(b.path(), &["out"]));
        }

        #[test]
        fn content_hash_changes_with_content_path_mode_and_link(files in files(), which in 0usize..4, byte in any::<u8>()) {
            let dir = tempfile::tempdir().unwrap();
            let order: Vec<usize> = (0..files.len()).collect();
            write_tree(dir.path(), &files, &order);
            let before = hash_tree(dir.path(), &["out"]);
            let victim = dir.path().join("out/sub").join(&files[0].name);
            match which {
                0 => {
                    let mut content = files[0].content.clone();
                    match content.first_mut() {
                        Some(first) => *first = first.wrapping_add(1),
                        None => content.push(byte),
                    }
                    fs::write(&victim, content).unwrap();
                }
                1 => fs::rename(&victim, dir.path().join("out/sub/renamed-file")).unwrap(),
                2 => {
                    let mode = if files[0].executable { 0o644 } else { 0o755 };
                    fs::set_permissions(&victim, fs::Permissions::from_mode(mode)).unwrap();
                }
                _ => {
                    fs::remove_file(dir.path().join("out/link")).unwrap();
                    symlink("other", dir.path().join("out/link")).unwrap();
                }
            }
            prop_assert_ne!(before, hash_tree(dir.path(), &["out"]));
        }
    }

    #[test]
    fn missing_output_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = scan_outputs(dir.path(), &["nope".to_string()], hash_file).unwrap_err();
        assert!(err.to_string().contains("`nope` was not produced"), "{err}");
    }

    #[test]
    fn symlinks_are_recorded_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/etc/passwd", dir.path().join("link")).unwrap();
        let entries = scan_outputs(dir.path(), &["link".to_string()], hash_file).unwrap();
        assert_eq!(entries[0].kind, EntryType::Symlink);
        assert_eq!(entries[0].target.as_deref(), Some("/etc/passwd"));
        assert!(entries[0].sha256.is_none());
    }
}
