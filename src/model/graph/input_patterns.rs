//! A step's declared inputs on disk: files, directories (every file below) and globs,
//! resolved below the graph's directory into a sorted list of files; a pattern matching
//! nothing, a special file (FIFO, socket, device) among them and an input another step
//! produces are refused.

use std::fs;
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobSetBuilder};
use walkdir::WalkDir;

use super::decl::StepDecl;
use super::problem::Problem;
use super::structure::Producers;

/// A step's input files; none may be another step's output.
pub(super) fn step_inputs(
    decl: &StepDecl,
    root: &Path,
    producers: &Producers,
    known_file: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, Problem> {
    let inputs = resolve_inputs_knowing(&decl.inputs, root, known_file)?;
    if let Some((input, producer)) = inputs
        .iter()
        .find_map(|i| producers.get(i.as_str()).map(|p| (i, p)))
    {
        return Err(Problem::InputIsOutput {
            input: input.clone(),
            producer: producer.to_string(),
        });
    }
    Ok(inputs)
}

/// Whether every input of a step is a plain path `known_file` vouches for and none is an
/// output: then [`step_inputs`] would only copy and sort them and find no problem.
pub(super) fn inputs_known_and_free(
    decl: &StepDecl,
    producers: &Producers,
    known_file: &dyn Fn(&str) -> bool,
) -> bool {
    decl.inputs
        .iter()
        .all(|input| is_known_file(input, known_file) && !producers.contains_key(input.as_str()))
}

/// Whether `pattern` is a plain path that `known_file` says is a regular file, taken as
/// it is without looking at the disk (even when its name has glob characters: an
/// imported `c[1].c` is that file).
fn is_known_file(pattern: &str, known_file: &dyn Fn(&str) -> bool) -> bool {
    has_no_dot_or_empty_part(pattern) && known_file(pattern)
}

/// Whether `pattern` is to be expanded as a glob: it has glob characters and is not
/// the name of an existing file (a file named `c[1].c` is taken literally).
fn expands_as_glob(pattern: &str, root: &Path) -> bool {
    is_glob(pattern) && !root.join(pattern).is_file()
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// Expands input patterns into a sorted list of files relative to `root`. A directory
/// stands for every file below it.
pub fn resolve_inputs(patterns: &[String], root: &Path) -> Result<Vec<String>, Problem> {
    resolve_inputs_knowing(patterns, root, &|_| false)
}

/// [`resolve_inputs`], taking a plain path that `known_file` says is a regular file as it
/// is (what the file-system walk would find for it) instead of looking at it again.
fn resolve_inputs_knowing(
    patterns: &[String],
    root: &Path,
    known_file: &dyn Fn(&str) -> bool,
) -> Result<Vec<String>, Problem> {
    // A list sorted and deduplicated at the end: what a set would hold, built cheaper.
    let mut files = Vec::new();
    for pattern in patterns {
        let before = files.len();
        if is_known_file(pattern, known_file) {
            files.push(pattern.clone());
            continue;
        }
        if expands_as_glob(pattern, root) {
            expand_glob(pattern, root, &mut files)?;
        } else {
            let path = root.join(pattern);
            match fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => collect_dir(pattern, root, &path, &mut files)?,
                Ok(meta) if meta.is_file() => files.push(drop_dot_and_empty_parts(pattern)),
                Ok(meta) => return Err(special_input(pattern, pattern, meta.file_type())),
                Err(_) => {}
            }
        }
        if files.len() == before && !pattern_matched_existing(pattern, root, &files) {
            return Err(Problem::NoMatch(pattern.clone()));
        }
    }
    files.sort_unstable();
    files.dedup();
    Ok(files)
}

fn pattern_matched_existing(pattern: &str, root: &Path, files: &[String]) -> bool {
    // A pattern that only repeats files matched by an earlier pattern still matches.
    if expands_as_glob(pattern, root) {
        let Ok(glob) = Glob::new(pattern) else {
            return false;
        };
        let matcher = glob.compile_matcher();
        files.iter().any(|f| matcher.is_match(f))
    } else {
        root.join(pattern).exists()
    }
}

fn expand_glob(pattern: &str, root: &Path, files: &mut Vec<String>) -> Result<(), Problem> {
    let glob = Glob::new(pattern).map_err(|e| Problem::BadGlob {
        pattern: pattern.to_string(),
        error: e.kind().to_string(),
    })?;
    let set = GlobSetBuilder::new()
        .add(glob)
        .build()
        .map_err(|e| Problem::BadGlob {
            pattern: pattern.to_string(),
            error: e.to_string(),
        })?;
    let literal: PathBuf = Path::new(pattern)
        .components()
        .take_while(|c| !is_glob(&c.as_os_str().to_string_lossy()))
        .collect();
    let base = root.join(&literal);
    for entry in WalkDir::new(&base)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_dir() {
            continue;
        }
        let Some(rel) = relative_str(root, entry.path()) else {
            continue;
        };
        if set.is_match(&rel) {
            refuse_special(pattern, &entry, &rel)?;
            files.push(rel);
        }
    }
    Ok(())
}

fn collect_dir(
    input: &str,
    root: &Path,
    dir: &Path,
    files: &mut Vec<String>,
) -> Result<(), Problem> {
    for entry in WalkDir::new(dir).sort_by_file_name().into_iter().flatten() {
        if !entry.file_type().is_dir() {
            if let Some(rel) = relative_str(root, entry.path()) {
                refuse_special(input, &entry, &rel)?;
                files.push(rel);
            }
        }
    }
    Ok(())
}

/// Refuses a file taken in by a directory or glob input that is a FIFO, a socket or a
/// device (itself or through a symlink): hashing it could wait forever, or never end.
/// Only symlinks cost a `stat`; the walk already knows every other entry's type.
fn refuse_special(input: &str, entry: &walkdir::DirEntry, rel: &str) -> Result<(), Problem> {
    let mut kind = entry.file_type();
    if kind.is_symlink() {
        match fs::metadata(entry.path()) {
            Ok(meta) => kind = meta.file_type(),
            // Dangling: reported when the step's inputs are hashed, as before.
            Err(_) => return Ok(()),
        }
    }
    if kind.is_file() || kind.is_dir() {
        return Ok(());
    }
    Err(special_input(input, rel, kind))
}

fn special_input(input: &str, path: &str, kind: fs::FileType) -> Problem {
    Problem::SpecialInput {
        input: input.to_string(),
        path: path.to_string(),
        kind: crate::fsafe::regular::kind_name(kind),
    }
}

fn relative_str(root: &Path, path: &Path) -> Option<String> {
    path.strip_prefix(root)
        .ok()?
        .to_str()
        .map(drop_dot_and_empty_parts)
}

/// Whether [`drop_dot_and_empty_parts`] leaves a relative path unchanged (no empty or `.`
/// component).
fn has_no_dot_or_empty_part(path: &str) -> bool {
    !path.split('/').any(|c| c.is_empty() || c == ".")
}

/// A relative path as the graph keys an input: `.` and empty components dropped. Unlike
/// [`crate::model::lexical_path::normalize_abs`] it leaves `..` alone: an input path with
/// `..` was refused before (see [`super::structure::check_relative`]), and the walk's
/// paths have none.
fn drop_dot_and_empty_parts(path: &str) -> String {
    Path::new(path)
        .components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_whose_name_looks_like_a_glob_is_taken_literally() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("c[1].c"), "").unwrap();
        fs::write(dir.path().join("c1.c"), "").unwrap();
        fs::write(dir.path().join("d.c"), "").unwrap();
        let inputs = |p: &str| resolve_inputs(&[p.to_string()], dir.path()).unwrap();
        assert_eq!(inputs("c[1].c"), vec!["c[1].c"]);
        assert_eq!(inputs("c[0-9].c"), vec!["c1.c"]);
        assert_eq!(inputs("*.c"), vec!["c1.c", "c[1].c", "d.c"]);
    }

    #[test]
    fn fifos_and_devices_are_no_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("sub/ff");
        fs::create_dir(dir.path().join("sub")).unwrap();
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("null")).unwrap();
        let err = |p: &str| resolve_inputs(&[p.to_string()], dir.path()).unwrap_err();
        assert!(err("sub/ff").to_string().contains("`sub/ff` is a FIFO"));
        assert!(err("sub").to_string().contains("takes in `sub/ff`, a FIFO"));
        assert!(err("*").to_string().contains("`null`, a character device"));
        assert!(err("null")
            .to_string()
            .contains("`null` is a character device"));
    }
}
