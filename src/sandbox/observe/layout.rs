//! Where a step's tripwire file system (module `tripwire`) shows which host tree: the
//! layout init mounts (module `isolate::tripwire_mount`) and the helper serves, the same
//! on both sides.

use std::path::{Path, PathBuf};

use crate::sandbox::spec::SandboxSpec;

/// What one directory tree of the tripwire stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeKind {
    /// The host's `/etc`, readable; opens beyond the allow-list are recorded.
    Etc,
    /// A host home directory tree: directories only; files are recorded by path.
    Home,
    /// The project's host path: directories only; files are recorded relative to it.
    Project,
    /// The work directory's lower layer: the project's directories that the work
    /// directory also has; names the project has and the work directory lacks are
    /// recorded relative to the project.
    Work,
}

/// One tree: its kind, the host directory it reflects and where the step sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tree {
    pub kind: TreeKind,
    pub host: PathBuf,
    pub inside: PathBuf,
}

/// The trees of a step's tripwire, the same on both sides (init mounts them, the helper
/// serves them). Tree `i` is the directory named `i` at the file system's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub trees: Vec<Tree>,
}

impl Layout {
    /// The layout for `spec`, or `None` when opens are not observed (or the step is a
    /// fetch step, or has no project to map its work directory back to).
    pub(crate) fn for_spec(spec: &SandboxSpec) -> Option<Self> {
        let observation = &spec.observation;
        if !observation.files || observation.opens_by_seccomp || spec.network {
            return None;
        }
        let project = spec.observation.project_root.clone()?;
        let mut trees = vec![Tree {
            kind: TreeKind::Etc,
            host: "/etc".into(),
            inside: "/etc".into(),
        }];
        for home in ["/home", "/root"] {
            if Path::new(home).is_dir() {
                trees.push(Tree {
                    kind: TreeKind::Home,
                    host: home.into(),
                    inside: home.into(),
                });
            }
        }
        trees.push(Tree {
            kind: TreeKind::Project,
            host: project.clone(),
            inside: project.clone(),
        });
        if observation.work_names {
            trees.push(Tree {
                kind: TreeKind::Work,
                host: project,
                inside: spec.workdir.clone(),
            });
        }
        Some(Layout { trees })
    }

    /// The index of the work directory's tree.
    pub(crate) fn work_tree(&self) -> Option<usize> {
        self.trees.iter().position(|t| t.kind == TreeKind::Work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::observe::paths::tests::spec;

    #[test]
    fn without_the_work_directorys_names_there_is_no_work_tree() {
        let project = tempfile::tempdir().unwrap();
        let staging = tempfile::tempdir().unwrap();
        let mut spec = spec(project.path(), staging.path());
        spec.observation.work_names = false;
        let layout = Layout::for_spec(&spec).expect("opens outside it are observed");
        assert_eq!(layout.work_tree(), None);
        assert!(layout.trees.iter().any(|t| t.kind == TreeKind::Etc));
    }
}
