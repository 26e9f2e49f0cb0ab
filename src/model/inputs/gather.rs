//! Gathering a step's inputs for its keys: its files hashed (in parallel, and once per
//! build however many steps share them) and its tools resolved on the step's PATH and
//! hashed; the deps' keys come from the caller.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use super::open::{open_input, open_root, InputEntry};
use super::{InputDep, InputError, InputFile, InputTool, StepInputs};
use crate::model::graph::Step;
use crate::model::hash::{hash_reader, Digest, FileHash};

/// An input as hashed: a file's hash, size and executable bit, or a link's target.
#[derive(Debug, Clone)]
enum Hashed {
    File {
        sha256: FileHash,
        size: u64,
        executable: bool,
    },
    Link(String),
}

/// Hashes input files once per build, however many steps share them.
#[derive(Debug, Default)]
pub struct FileHashCache {
    hashes: Mutex<HashMap<PathBuf, Hashed>>,
}

impl FileHashCache {
    fn get(&self, path: &Path) -> std::io::Result<Option<Hashed>> {
        Ok(self.hashes.lock().map_err(poisoned)?.get(path).cloned())
    }

    fn put(&self, path: &Path, hashed: &Hashed) -> std::io::Result<()> {
        self.hashes
            .lock()
            .map_err(poisoned)?
            .insert(path.to_path_buf(), hashed.clone());
        Ok(())
    }

    /// The input `rel` below the project (`root`, opened as `root_fd`), as hashed.
    fn input(
        &self,
        root: &Path,
        root_fd: BorrowedFd<'_>,
        step: &str,
        rel: &str,
    ) -> Result<Hashed, InputError> {
        let key = root.join(rel);
        let cached = self.get(&key).map_err(|source| InputError::File {
            step: step.to_string(),
            path: rel.to_string(),
            source,
        })?;
        if let Some(found) = cached {
            return Ok(found);
        }
        let hashed = match open_input(root_fd, step, rel)? {
            InputEntry::Link(target) => Hashed::Link(target),
            InputEntry::File(file) => hash_open_file(file).map_err(|source| InputError::File {
                step: step.to_string(),
                path: rel.to_string(),
                source,
            })?,
        };
        let _ = self.put(&key, &hashed);
        Ok(hashed)
    }

    /// A tool, by its resolved host path (links followed: the tool's real bytes count).
    fn tool(&self, path: &Path) -> std::io::Result<FileHash> {
        if let Some(Hashed::File { sha256, .. }) = self.get(path)? {
            return Ok(sha256);
        }
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?;
        let hashed = hash_open_file(file)?;
        self.put(path, &hashed)?;
        match hashed {
            Hashed::File { sha256, .. } => Ok(sha256),
            Hashed::Link(_) => Err(std::io::Error::other("not a regular file")),
        }
    }
}

/// Hashes an open file, which must be a regular one.
fn hash_open_file(file: File) -> std::io::Result<Hashed> {
    use std::os::unix::fs::PermissionsExt;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let executable = meta.permissions().mode() & 0o111 != 0;
    let (sha256, size) = hash_reader(file)?;
    Ok(Hashed::File {
        sha256,
        size,
        executable,
    })
}

fn poisoned<T>(_: T) -> std::io::Error {
    std::io::Error::other("hash cache lock poisoned")
}

/// Gathers a step's inputs: hashes its files (in parallel) and tools, and takes its
/// deps' keys from `deps` (which the caller fills from the deps' results).
pub fn gather(
    step: &Step,
    root: &Path,
    deps: Vec<InputDep>,
    cache: &FileHashCache,
) -> Result<StepInputs, InputError> {
    let root_fd = open_root(root).map_err(|source| InputError::File {
        step: step.name.clone(),
        path: root.display().to_string(),
        source,
    })?;
    let files = step
        .inputs
        .par_iter()
        .map(|path| {
            let hashed = cache.input(root, root_fd.as_fd(), &step.name, path)?;
            Ok(input_file(path, hashed))
        })
        // Every file is hashed; the error reported is the first in input order.
        .collect::<Vec<Result<_, InputError>>>()
        .into_iter()
        .collect::<Result<Vec<_>, InputError>>()?;
    let tools = step
        .tools
        .iter()
        .map(|tool| hash_tool(step, tool, cache))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StepInputs {
        command: step.command.clone(),
        env: step.env.clone(),
        files,
        tools,
        deps,
        fixed_output: step.sha256,
    })
}

/// The recorded input for `path`: a file, or a link keyed by its target.
fn input_file(path: &str, hashed: Hashed) -> InputFile {
    match hashed {
        Hashed::File {
            sha256,
            size,
            executable,
        } => InputFile {
            path: path.to_string(),
            executable,
            sha256,
            size,
            link: None,
        },
        Hashed::Link(target) => InputFile {
            path: path.to_string(),
            executable: false,
            sha256: FileHash(Digest::of_bytes(target.as_bytes())),
            size: target.len() as u64,
            link: Some(target),
        },
    }
}

fn hash_tool(step: &Step, tool: &str, cache: &FileHashCache) -> Result<InputTool, InputError> {
    let search_path = step.env.get("PATH").map(String::as_str).unwrap_or_default();
    let resolved = resolve_on_path(tool, search_path).ok_or_else(|| InputError::ToolNotFound {
        step: step.name.clone(),
        tool: tool.to_string(),
        path: search_path.to_string(),
    })?;
    let sha256 = cache.tool(&resolved).map_err(|source| InputError::Tool {
        step: step.name.clone(),
        tool: tool.to_string(),
        source,
    })?;
    Ok(InputTool {
        name: tool.to_string(),
        path: resolved.to_string_lossy().into_owned(),
        sha256,
    })
}

/// Finds an executable on a PATH string, as a shell would. Symlinks are resolved so
/// the tool's real bytes are hashed (`cc` -> `gcc-12`).
pub fn resolve_on_path(name: &str, search_path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    let found = if name.contains('/') {
        let p = PathBuf::from(name);
        (p.is_absolute() && is_executable(&p)).then_some(p)
    } else {
        search_path
            .split(':')
            .filter(|dir| dir.starts_with('/'))
            .map(|dir| Path::new(dir).join(name))
            .find(|p| is_executable(p))
    }?;
    std::fs::canonicalize(&found).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_resolve_on_path() {
        let sh = resolve_on_path("sh", "/usr/bin:/bin").unwrap();
        assert!(sh.is_absolute());
        assert!(resolve_on_path("definitely-not-a-tool", "/usr/bin").is_none());
        assert!(resolve_on_path("sh", "relative/dir").is_none());
    }

    /// A project with a file, links in and out of it, a FIFO and a linked directory.
    fn project() -> tempfile::TempDir {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.c"), "int a;").unwrap();
        symlink("/etc/hostname", root.join("src/host")).unwrap();
        symlink("a.c", root.join("src/alias.c")).unwrap();
        symlink("../..", root.join("src/up")).unwrap();
        symlink("/etc", root.join("etc")).unwrap();
        let fifo = root.join("src/fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        dir
    }

    fn step_with(inputs: &[&str]) -> Step {
        let mut step = Step::shell_for_tests("s", "true");
        step.inputs = inputs.iter().map(|s| s.to_string()).collect();
        step.outputs = vec!["o".into()];
        step
    }

    #[test]
    fn links_out_of_the_project_are_kept_as_links_and_inside_ones_followed() {
        let dir = project();
        let step = step_with(&["src/a.c", "src/alias.c", "src/host", "src/up"]);
        let inputs = gather(&step, dir.path(), vec![], &FileHashCache::default()).unwrap();
        let by_path = |p: &str| inputs.files.iter().find(|f| f.path == p).unwrap().clone();
        assert_eq!(by_path("src/a.c").link, None);
        assert_eq!(by_path("src/alias.c").link, None);
        assert_eq!(by_path("src/alias.c").sha256, by_path("src/a.c").sha256);
        assert_eq!(by_path("src/host").link.as_deref(), Some("/etc/hostname"));
        assert_eq!(by_path("src/up").link.as_deref(), Some("../.."));
    }

    #[test]
    fn special_files_and_paths_through_outside_links_are_refused() {
        let dir = project();
        let cache = FileHashCache::default();
        let err = gather(&step_with(&["src/fifo"]), dir.path(), vec![], &cache).unwrap_err();
        assert_eq!(
            err.to_string(),
            "step `s`: input `src/fifo` is a FIFO; special files cannot be inputs (remove it \
             from the project, or narrow the step's `inputs` so that they do not match it)"
        );
        let err = gather(&step_with(&["etc/passwd"]), dir.path(), vec![], &cache).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("step `s`: input `etc/passwd` goes through the symlink etc -> /etc"),
            "{err}"
        );
        let err = gather(
            &step_with(&["src/up/etc/passwd"]),
            dir.path(),
            vec![],
            &cache,
        )
        .unwrap_err();
        assert!(matches!(err, InputError::OutsideProject { .. }), "{err}");
    }
}
