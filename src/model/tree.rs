//! Output trees: what a step produced, as a sorted list of entries, and its content hash.
//!
//! A tree is walked below the work directory only ([`beneath`]): no symlink is followed,
//! not even one on the way to a declared output (`d/shadow` with `d -> /etc` is an
//! error, not `/etc/shadow`), and every file is read through the handle that was checked.
//! Regular files are hashed in parallel with rayon, each streamed. The content hash
//! covers paths, entry types, the executable bit, file content hashes and symlink
//! targets, and nothing else (docs/design.md section 3).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::stat::{FileStat, SFlag};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::fsafe::beneath::{self, BeneathError, Links};
use crate::model::hash::{CanonicalHasher, ContentHash, FileHash};

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
    /// A declared output lies beyond a symlink: reading it would read whatever the link
    /// points to, on the host.
    #[error(
        "output `{output}` goes through the symlink {link} -> {target}; outputs must be \
         inside the work directory (declare the link itself, or make `{link}` a directory)"
    )]
    ThroughLink {
        /// The declared output.
        output: String,
        /// The symlink on the way, relative to the work directory.
        link: String,
        /// Its target.
        target: String,
    },
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
    stat: FileStat,
    /// The target of a symlink, read during the walk.
    target: Option<String>,
}

/// Walks the declared outputs below `root` (the work directory) and hashes every file
/// with `hash_file` (which may also store it), in parallel. The result is sorted by path.
///
/// Nothing outside `root` is ever read: an output whose path crosses a symlink is a
/// [`TreeError::ThroughLink`], a symlink that is itself an output (or inside one) is
/// recorded as a link, and each file is opened below `root` without following links and
/// read through that handle.
pub fn scan_outputs<F>(
    root: &Path,
    outputs: &[String],
    hash_file: F,
) -> Result<Vec<TreeEntry>, TreeError>
where
    F: Fn(&mut File) -> io::Result<(FileHash, u64)> + Sync,
{
    let root_fd = beneath::open_root(root).map_err(io_error(root))?;
    let mut found = Vec::new();
    for output in outputs {
        let rel = output.trim_end_matches('/');
        let (parent, name) = beneath::open_parent(root_fd.as_fd(), rel, Links::Refuse)
            .map_err(|err| output_error(root, output, err))?;
        let stat = match beneath::lstat_at(parent.as_fd(), name) {
            Ok(stat) => stat,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(TreeError::Missing(output.clone()))
            }
            Err(err) => return Err(io_error(&root.join(rel))(err)),
        };
        walk(
            root,
            rel.to_string(),
            parent.as_fd(),
            name,
            stat,
            &mut found,
        )?;
    }
    found.sort_by(|a, b| a.rel.cmp(&b.rel));
    found.dedup_by(|a, b| a.rel == b.rel);
    // The error reported, if any, is the first in path order (stable from run to run).
    found
        .into_par_iter()
        .map(|entry| to_entry(root, &root_fd, entry, &hash_file))
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

/// The error for a declared output that cannot be resolved below the work directory.
fn output_error(root: &Path, output: &str, err: BeneathError) -> TreeError {
    match err {
        BeneathError::Missing(_) => TreeError::Missing(output.to_string()),
        BeneathError::ThroughLink { link, target, .. } => TreeError::ThroughLink {
            output: output.to_string(),
            link,
            target,
        },
        BeneathError::NotPlain(_) => TreeError::Unsupported {
            path: PathBuf::from(output),
            problem: "an output must be a plain relative path".into(),
        },
        BeneathError::Io { source, .. } => io_error(&root.join(output))(source),
    }
}

/// Records `name` (in the directory `dir`, at `rel`) and, for a directory, everything
/// below it, never following a symlink.
fn walk(
    root: &Path,
    rel: String,
    dir: BorrowedFd<'_>,
    name: &str,
    stat: FileStat,
    found: &mut Vec<Found>,
) -> Result<(), TreeError> {
    let kind = beneath::kind(&stat);
    let target = if kind == SFlag::S_IFLNK {
        let target = beneath::read_link_at(dir, name).map_err(io_error(&root.join(&rel)))?;
        let target = target.into_string().map_err(|_| TreeError::Unsupported {
            path: root.join(&rel),
            problem: "symlink target is not UTF-8".into(),
        })?;
        Some(target)
    } else {
        None
    };
    found.push(Found {
        rel: rel.clone(),
        stat,
        target,
    });
    if kind != SFlag::S_IFDIR {
        return Ok(());
    }
    let abs = root.join(&rel);
    let sub: OwnedFd = beneath::open_dir_at(dir, name).map_err(io_error(&abs))?;
    for child in beneath::list_dir(sub.as_fd()).map_err(io_error(&abs))? {
        let child = child.into_string().map_err(|name| TreeError::Unsupported {
            path: abs.join(name),
            problem: "file name is not UTF-8".into(),
        })?;
        let child_rel = format!("{rel}/{child}");
        let child_stat =
            beneath::lstat_at(sub.as_fd(), &child).map_err(io_error(&root.join(&child_rel)))?;
        walk(root, child_rel, sub.as_fd(), &child, child_stat, found)?;
    }
    Ok(())
}

fn to_entry<F>(
    root: &Path,
    root_fd: &OwnedFd,
    found: Found,
    hash_file: &F,
) -> Result<TreeEntry, TreeError>
where
    F: Fn(&mut File) -> io::Result<(FileHash, u64)>,
{
    let kind = beneath::kind(&found.stat);
    let abs = root.join(&found.rel);
    let mut entry = TreeEntry {
        path: found.rel,
        kind: EntryType::File,
        mode: found.stat.st_mode & 0o7777,
        size: 0,
        sha256: None,
        target: None,
        mtime: found.stat.st_mtime,
    };
    match kind {
        SFlag::S_IFDIR => entry.kind = EntryType::Dir,
        SFlag::S_IFLNK => {
            let target = found.target.unwrap_or_default();
            entry.kind = EntryType::Symlink;
            entry.size = target.len() as u64;
            entry.target = Some(target);
        }
        SFlag::S_IFREG => {
            let mut file = beneath::open_regular(root_fd.as_fd(), &entry.path)
                .map_err(|err| read_error(&abs, err))?;
            let (hash, size) = hash_file(&mut file).map_err(io_error(&abs))?;
            entry.sha256 = Some(hash);
            entry.size = size;
        }
        _ => {
            return Err(TreeError::Unsupported {
                path: abs,
                problem: format!(
                    "{}: not a regular file, directory or symlink (devices, sockets and \
                     fifos cannot be outputs)",
                    beneath::describe_kind(&found.stat)
                ),
            })
        }
    }
    Ok(entry)
}

/// A file found by the walk that could not be opened again below the work directory.
fn read_error(abs: &Path, err: BeneathError) -> TreeError {
    match err {
        BeneathError::Io { source, .. } => io_error(abs)(source),
        other => io_error(abs)(io::Error::other(other.to_string())),
    }
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
    use crate::model::hash::hash_reader;
    use proptest::prelude::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn hash_file(file: &mut File) -> io::Result<(FileHash, u64)> {
        hash_reader(file)
    }

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

    #[test]
    fn an_output_beyond_a_symlink_is_refused_at_any_depth() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        symlink("/etc", root.join("d")).unwrap();
        fs::create_dir_all(root.join("a/b")).unwrap();
        symlink("/root", root.join("a/b/r")).unwrap();
        symlink("../a", root.join("a/up")).unwrap();
        let cases = [
            ("d/shadow", "d", "/etc"),
            ("d/ssh/sshd_config", "d", "/etc"),
            ("a/b/r/.bashrc", "a/b/r", "/root"),
            ("a/up/b", "a/up", "../a"),
        ];
        for (output, link, target) in cases {
            let err = scan_outputs(root, &[output.to_string()], hash_file).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "output `{output}` goes through the symlink {link} -> {target}; outputs \
                     must be inside the work directory (declare the link itself, or make \
                     `{link}` a directory)"
                )
            );
        }
        // The links themselves, and a directory holding one, are recorded as links.
        let entries = scan_outputs(root, &["d".to_string(), "a".to_string()], hash_file).unwrap();
        let links: Vec<&str> = entries
            .iter()
            .filter(|e| e.kind == EntryType::Symlink)
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(links, ["a/b/r", "a/up", "d"]);
    }

    #[test]
    fn special_files_are_refused_without_being_opened() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("out")).unwrap();
        let fifo = dir.path().join("out/fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let err = scan_outputs(dir.path(), &["out".to_string()], hash_file).unwrap_err();
        assert!(
            err.to_string().contains("a FIFO: not a regular file"),
            "{err}"
        );
    }

    #[test]
    fn modes_and_sizes_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tool");
        fs::write(&file, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o750)).unwrap();
        let entries = scan_outputs(dir.path(), &["tool".to_string()], hash_file).unwrap();
        assert_eq!(entries[0].mode, 0o750);
        assert_eq!(entries[0].size, 10);
        assert!(entries[0].executable());
    }
}
