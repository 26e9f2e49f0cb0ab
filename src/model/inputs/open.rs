//! Reaching a step's input files below the project root without ever leaving it: links
//! on the way may only lead inside the project, a FIFO, socket or device is refused
//! without being opened. Used to hash the inputs and to copy them into the work directory.

use std::collections::HashSet;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sys::stat::SFlag;

use super::InputError;
use crate::fsafe::beneath::{self, BeneathError, Links};
use crate::model::graph::Graph;

/// What an input path is, as far as reprobe may look: a project file (opened, ready to
/// read) or a link kept as a link.
pub enum InputEntry {
    /// A regular file of the project (reached, maybe, through links that stay inside
    /// it), open for reading.
    File(File),
    /// A symlink whose target is not a regular file of the project: its target.
    Link(String),
}

/// Opens the project directory `root` for [`open_input`].
pub fn open_root(root: &Path) -> std::io::Result<OwnedFd> {
    beneath::open_root(root)
}

/// Looks at the input `rel` below the project `root` without ever reading outside it:
/// links on the way may only lead to places inside the project; a last component that
/// is a link is followed when it names a regular file of the project, and kept as a
/// link otherwise; a FIFO, socket or device is refused without being opened.
pub fn open_input(root: BorrowedFd<'_>, step: &str, rel: &str) -> Result<InputEntry, InputError> {
    let problem = |err: BeneathError| input_error(step, rel, err);
    let (parent, name) = beneath::open_parent(root, rel, Links::StayInside).map_err(problem)?;
    let stat = beneath::lstat_at(parent.as_fd(), name).map_err(|source| InputError::File {
        step: step.to_string(),
        path: rel.to_string(),
        source,
    })?;
    match beneath::kind(&stat) {
        SFlag::S_IFREG => beneath::open_file(root, rel, Links::StayInside)
            .map(InputEntry::File)
            .map_err(problem),
        SFlag::S_IFLNK => match beneath::open_file(root, rel, Links::StayInside) {
            Ok(file) => Ok(InputEntry::File(file)),
            Err(_) => {
                let target = beneath::read_link_at(parent.as_fd(), name).map_err(|source| {
                    InputError::File {
                        step: step.to_string(),
                        path: rel.to_string(),
                        source,
                    }
                })?;
                Ok(InputEntry::Link(target.to_string_lossy().into_owned()))
            }
        },
        SFlag::S_IFDIR => Err(InputError::File {
            step: step.to_string(),
            path: rel.to_string(),
            source: std::io::Error::other("it is a directory"),
        }),
        _ => Err(InputError::Special {
            step: step.to_string(),
            path: rel.to_string(),
            kind: beneath::describe_kind(&stat),
        }),
    }
}

fn input_error(step: &str, rel: &str, err: BeneathError) -> InputError {
    let file = |source| InputError::File {
        step: step.to_string(),
        path: rel.to_string(),
        source,
    };
    match err {
        BeneathError::ThroughLink { link, target, .. } => InputError::OutsideProject {
            step: step.to_string(),
            path: rel.to_string(),
            link,
            target,
        },
        BeneathError::Missing(_) => file(std::io::Error::from(std::io::ErrorKind::NotFound)),
        BeneathError::NotPlain(_) => file(std::io::Error::other("not a plain relative path")),
        BeneathError::Io { source, .. } => file(source),
    }
}

/// Checks, before anything runs, that no step's input is a special file (a FIFO would
/// block the build) or lies beyond a symlink leading out of the project. Only looks
/// (`lstat`); nothing is opened.
pub fn check_graph_inputs(graph: &Graph) -> Result<(), InputError> {
    let root = open_root(&graph.root).map_err(|source| InputError::File {
        step: String::new(),
        path: graph.root.display().to_string(),
        source,
    })?;
    let mut seen = HashSet::new();
    for step in &graph.steps {
        for rel in &step.inputs {
            if !seen.insert(rel.as_str()) {
                continue;
            }
            check_input(root.as_fd(), &step.name, rel)?;
        }
    }
    Ok(())
}

/// [`check_graph_inputs`] for one input. A missing file is left to the step (it is
/// reported when the step gathers its inputs).
fn check_input(root: BorrowedFd<'_>, step: &str, rel: &str) -> Result<(), InputError> {
    let (parent, name) = match beneath::open_parent(root, rel, Links::StayInside) {
        Ok(found) => found,
        Err(err @ BeneathError::ThroughLink { .. }) => return Err(input_error(step, rel, err)),
        Err(_) => return Ok(()),
    };
    let Ok(stat) = beneath::lstat_at(parent.as_fd(), name) else {
        return Ok(());
    };
    match beneath::kind(&stat) {
        SFlag::S_IFREG | SFlag::S_IFLNK | SFlag::S_IFDIR => Ok(()),
        _ => Err(InputError::Special {
            step: step.to_string(),
            path: rel.to_string(),
            kind: beneath::describe_kind(&stat),
        }),
    }
}
