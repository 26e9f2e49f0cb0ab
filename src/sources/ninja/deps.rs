//! Dependencies the compiler discovered on an earlier build: Ninja's `.ninja_deps` log
//! (written for `deps = gcc`/`msvc` rules) and Makefile-style depfiles (`depfile =`).
//!
//! Both name headers that the build file does not: they become inputs of the step. They
//! only exist after a first build, which is why the importer reports when they are missing.

use std::collections::HashMap;
use std::path::Path;

/// The `.ninja_deps` magic line.
const DEPS_MAGIC: &[u8] = b"# ninjadeps\n";

/// Why a dependency file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DepsError {
    /// The file exists but cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a deps log this reader understands.
    #[error("{file}: {why}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong.
        why: String,
    },
}

/// Reads a `.ninja_deps` log (versions 3 and 4): each output's discovered inputs, as
/// Ninja recorded them (relative to the build directory, or absolute). Later records of
/// an output replace earlier ones, as in Ninja.
pub(crate) fn read_ninja_deps(path: &Path) -> Result<HashMap<String, Vec<String>>, DepsError> {
    let file = path.display().to_string();
    let bytes = crate::fsafe::regular::read_regular(path).map_err(|source| DepsError::Read {
        file: file.clone(),
        source,
    })?;
    let bad = |why: &str| DepsError::Format {
        file: file.clone(),
        why: why.to_string(),
    };
    let rest = bytes
        .strip_prefix(DEPS_MAGIC)
        .ok_or_else(|| bad("not a Ninja deps log (bad magic)"))?;
    let version = read_u32(rest, 0).ok_or_else(|| bad("truncated header"))?;
    if version != 3 && version != 4 {
        return Err(bad(&format!("unsupported deps log version {version}")));
    }
    parse_records(&rest[4..], version).ok_or_else(|| bad("corrupt record"))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes(slice.try_into().ok()?))
}

/// The records after the header: paths (ids in order) and deps (ids of an output's inputs).
fn parse_records(mut bytes: &[u8], version: u32) -> Option<HashMap<String, Vec<String>>> {
    let mut paths: Vec<String> = Vec::new();
    let mut deps: HashMap<u32, Vec<u32>> = HashMap::new();
    let mtime_words = if version == 4 { 2 } else { 1 };
    while bytes.len() >= 4 {
        let header = read_u32(bytes, 0)?;
        let size = (header & 0x7fff_ffff) as usize;
        let body = bytes.get(4..4 + size)?;
        if header & 0x8000_0000 != 0 {
            let words: Vec<u32> = body
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let (&output, rest) = words.split_first()?;
            deps.insert(output, rest.get(mtime_words..)?.to_vec());
        } else {
            let text = body.get(..size.checked_sub(4)?)?;
            let end = text.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            paths.push(String::from_utf8_lossy(&text[..end]).into_owned());
        }
        bytes = &bytes[4 + size..];
    }
    let name = |id: u32| paths.get(id as usize).cloned();
    deps.into_iter()
        .map(|(out, ins)| {
            Some((
                name(out)?,
                ins.into_iter().map(name).collect::<Option<_>>()?,
            ))
        })
        .collect()
}

/// Parses a Makefile-style depfile as compilers write it (`out.o: a.c b.h \`): the
/// prerequisites of every target, in order, without duplicates.
pub fn parse_depfile(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some('\n') => {
                    chars.next();
                    flush(&mut word, &mut words);
                }
                Some('\r') => {
                    chars.next();
                    chars.next_if_eq(&'\n');
                    flush(&mut word, &mut words);
                }
                Some(&next @ (' ' | '#' | '\\')) => {
                    chars.next();
                    word.push(next);
                }
                _ => word.push('\\'),
            },
            '$' if chars.peek() == Some(&'$') => {
                chars.next();
                word.push('$');
            }
            ' ' | '\t' | '\n' | '\r' => flush(&mut word, &mut words),
            _ => word.push(c),
        }
    }
    flush(&mut word, &mut words);
    let mut seen = std::collections::HashSet::new();
    words
        .into_iter()
        .filter(|w| !w.ends_with(':') && w != ":")
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

fn flush(word: &mut String, words: &mut Vec<String>) {
    if !word.is_empty() {
        words.push(std::mem::take(word));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depfiles_with_continuations_and_escaped_spaces() {
        let text = "obj/a.o: ../src/a.c \\\n  ../include/my\\ header.h /usr/include/stdio.h\n";
        assert_eq!(
            parse_depfile(text),
            [
                "../src/a.c",
                "../include/my header.h",
                "/usr/include/stdio.h"
            ]
        );
    }

    fn record(out: &mut Vec<u8>, header: u32, body: &[u8]) {
        out.extend_from_slice(&header.to_le_bytes());
        out.extend_from_slice(body);
    }

    fn path_record(out: &mut Vec<u8>, path: &str, id: u32) {
        let mut body = path.as_bytes().to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        body.extend_from_slice(&(!id).to_le_bytes());
        record(out, body.len() as u32, &body);
    }

    #[test]
    fn ninja_deps_v4_is_read_and_later_records_win() {
        let mut log = DEPS_MAGIC.to_vec();
        log.extend_from_slice(&4u32.to_le_bytes());
        for (id, path) in ["a.o", "../src/a.c", "../src/a.h", "gen.h"]
            .iter()
            .enumerate()
        {
            path_record(&mut log, path, id as u32);
        }
        let deps = |ids: &[u32]| {
            let mut body = vec![0u8; 12];
            for id in ids {
                body.extend_from_slice(&id.to_le_bytes());
            }
            body
        };
        let first = deps(&[1]);
        record(&mut log, 0x8000_0000 | first.len() as u32, &first);
        let second = deps(&[1, 2, 3]);
        let mut second_full = 0u32.to_le_bytes().to_vec();
        second_full.extend_from_slice(&second[4..]);
        record(
            &mut log,
            0x8000_0000 | second_full.len() as u32,
            &second_full,
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".ninja_deps");
        std::fs::write(&file, log).unwrap();
        let read = read_ninja_deps(&file).unwrap();
        assert_eq!(read["a.o"], ["../src/a.c", "../src/a.h", "gen.h"]);
    }

    #[test]
    fn a_file_that_is_not_a_deps_log_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".ninja_deps");
        std::fs::write(&file, "hello").unwrap();
        let err = read_ninja_deps(&file).unwrap_err().to_string();
        assert!(
            err.ends_with(".ninja_deps: not a Ninja deps log (bad magic)"),
            "{err}"
        );
    }
}
