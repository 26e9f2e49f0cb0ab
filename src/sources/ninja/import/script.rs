//! The shell script of an imported step: create its output directories, enter the build
//! directory's place below the work directory, write the response file, then run Ninja's
//! command with the root's absolute spellings replaced by the root placeholder.

use crate::model::fasthash::FastSet;
use crate::sources::ninja::build_file::Edge;
use crate::sources::ninja::paths::{relative_inside_str, Rewriter};
use crate::sources::ninja::shell_escape::push_shell_escaped;

/// Outputs (or output directories) of one edge compared pairwise; more go through a set.
pub(super) const SCANNED_OUTPUTS: usize = 16;

/// The shell script of a step: create output dirs, enter the build dir, run. `build_rel`
/// is the build directory relative to the root (`""` when it is the root).
pub(super) fn step_script(
    edge: &Edge,
    outputs: &[String],
    build_rel: &str,
    rewriter: &Rewriter,
) -> String {
    let mut dirs: Vec<&str> = outputs
        .iter()
        .filter_map(|o| o.rsplit_once('/').map(|(dir, _)| dir))
        .collect();
    if !build_rel.is_empty() {
        dirs.push(build_rel);
    }
    dirs.sort_unstable();
    dirs.dedup();
    let mut script = String::with_capacity(edge.command.len() + 64);
    let parents = (dirs.len() > SCANNED_OUTPUTS).then(|| ancestors(&dirs));
    // Only the deepest directories: `mkdir -p` creates their parents.
    for dir in &dirs {
        let has_subdir = match &parents {
            Some(parents) => parents.contains(dir),
            None => dirs
                .iter()
                .any(|o| relative_inside_str(dir, o).is_some_and(|rest| !rest.is_empty())),
        };
        if !has_subdir {
            script.push_str(if script.is_empty() { "mkdir -p " } else { " " });
            push_shell_escaped(&mut script, dir);
        }
    }
    let and = |script: &mut String| {
        if !script.is_empty() {
            script.push_str(" && ");
        }
    };
    if !build_rel.is_empty() {
        and(&mut script);
        script.push_str("cd ");
        push_shell_escaped(&mut script, build_rel);
    }
    if !edge.rspfile.is_empty() {
        and(&mut script);
        script.push_str("printf '%s' ");
        push_shell_escaped(&mut script, &rewriter.rewrite(&edge.rspfile_content));
        script.push_str(" > ");
        push_shell_escaped(&mut script, &edge.rspfile);
    }
    if !script.is_empty() {
        script.push_str(" || exit 1\n");
    }
    rewriter.rewrite_into(&mut script, &edge.command);
    script
}

/// Every proper ancestor of the relative directories `dirs` (`a` and `a/b` for `a/b/c`).
fn ancestors<'d>(dirs: &[&'d str]) -> FastSet<&'d str> {
    let mut parents = FastSet::default();
    for dir in dirs {
        let mut dir: &str = dir;
        while let Some((parent, _)) = dir.rsplit_once('/') {
            // Its own ancestors are in already.
            if !parents.insert(parent) {
                break;
            }
            dir = parent;
        }
    }
    parents
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_are_the_directories_with_a_subdirectory() {
        let dirs = ["a", "a/b", "a/b/c", "ab", "x/y", "x/z"];
        let parents = ancestors(&dirs);
        for dir in dirs {
            let pairwise = dirs
                .iter()
                .any(|o| relative_inside_str(dir, o).is_some_and(|rest| !rest.is_empty()));
            assert_eq!(parents.contains(dir), pairwise, "{dir}");
        }
        assert!(parents.contains("x"));
    }
}
