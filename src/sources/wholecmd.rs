//! Whole-command builds: one project directory, one command, one step.
//!
//! `reprobe check --cmd 'make' --outputs build [DIR]` builds a graph of a single step
//! whose inputs are the project's files: in a git checkout what git tracks plus the
//! untracked files it does not ignore, elsewhere every file of `DIR` (minus what
//! `.gitignore` and `.ignore` leave out); never `--exclude`d files, the `.git` and
//! `.reprobe` directories, or the declared outputs
//! and whose command runs in the sandbox's copy of `DIR`. The rest of reprobe (hashes,
//! variations, verdicts, bisection, reports) then treats it like any graph.

use std::path::{Path, PathBuf};

use ignore::overrides::OverrideBuilder;
use ignore::WalkBuilder;

use crate::model::graph::{check_relative, Command, Graph, GraphError, GraphFile, StepDecl};

/// The pseudo file name a whole-command graph is recorded under.
pub const GRAPH_NAME: &str = "--cmd";

/// A whole-command build as given on the command line.
#[derive(Debug, Clone)]
pub struct WholeCommand {
    /// The project directory.
    pub dir: PathBuf,
    /// The shell command, run by `/bin/sh -c` in the project's copy.
    pub command: String,
    /// What it produces: paths, or `DIR/**` globs (taken as the directory).
    pub outputs: Vec<String>,
    /// Globs (relative to the project) of files that are not inputs.
    pub excludes: Vec<String>,
}

/// Why a whole-command graph cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum WholeCommandError {
    /// The project directory is unusable.
    #[error("{dir}: {message}")]
    Dir {
        /// The directory.
        dir: String,
        /// What is wrong.
        message: String,
    },
    /// An `--outputs` or `--exclude` value is unusable.
    #[error("{flag} '{value}': {message}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// The resulting graph does not validate.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl WholeCommand {
    /// The one-step graph.
    pub fn graph(&self) -> Result<Graph, WholeCommandError> {
        let root = std::fs::canonicalize(&self.dir).map_err(|e| self.dir_error(e.to_string()))?;
        if !root.is_dir() {
            return Err(self.dir_error("not a directory".into()));
        }
        let outputs = self
            .outputs
            .iter()
            .map(|o| output_path(o))
            .collect::<Result<Vec<_>, _>>()?;
        if outputs.is_empty() {
            return Err(flag_error(
                "--outputs",
                "",
                "--cmd needs --outputs: name what the command produces (e.g. 'build/**')",
            ));
        }
        let inputs = project_files(&root, &outputs, &self.excludes)?;
        if inputs.is_empty() {
            return Err(self.dir_error("no input files (everything is ignored or excluded)".into()));
        }
        let mut file = GraphFile::default();
        file.steps.insert(
            step_name(&self.command),
            StepDecl {
                run: Command::Shell(self.command.clone()),
                inputs,
                outputs,
                tools: first_tool(&self.command),
                ..StepDecl::default()
            },
        );
        Ok(Graph::from_file(file, &root.join(GRAPH_NAME), &root)?)
    }

    fn dir_error(&self, message: String) -> WholeCommandError {
        WholeCommandError::Dir {
            dir: self.dir.display().to_string(),
            message,
        }
    }
}

fn flag_error(flag: &'static str, value: &str, message: &str) -> WholeCommandError {
    WholeCommandError::Flag {
        flag,
        value: value.to_string(),
        message: message.to_string(),
    }
}

/// `build/**`, `build/*` and `build/` all mean the directory `build`.
fn output_path(text: &str) -> Result<String, WholeCommandError> {
    let mut path = text.trim();
    for suffix in ["/**", "/*", "/"] {
        path = path.strip_suffix(suffix).unwrap_or(path);
    }
    if path.contains(['*', '?', '[', '{']) {
        return Err(flag_error(
            "--outputs",
            text,
            "only a path or DIR/** is supported",
        ));
    }
    check_relative(path).map_err(|p| flag_error("--outputs", text, &p.to_string()))?;
    Ok(path.to_string())
}

/// Every project file, sorted, relative to `root`.
fn project_files(
    root: &Path,
    outputs: &[String],
    excludes: &[String],
) -> Result<Vec<String>, WholeCommandError> {
    let mut overrides = OverrideBuilder::new(root);
    for pattern in excludes {
        overrides
            .add(&format!("!{pattern}"))
            .map_err(|e| flag_error("--exclude", pattern, &e.to_string()))?;
    }
    let overrides = overrides
        .build()
        .map_err(|e| flag_error("--exclude", "", &e.to_string()))?;
    let produced = |rel: &str| {
        outputs
            .iter()
            .any(|o| rel == o || rel.starts_with(&format!("{o}/")))
    };
    if let Some(tracked) = git_files(root) {
        let mut files: Vec<String> = tracked
            .into_iter()
            .filter(|rel| {
                let first = rel.split('/').next().unwrap_or_default();
                first != ".reprobe"
                    && !produced(rel)
                    && !overrides.matched(rel, false).is_ignore()
                    && std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.is_file())
            })
            .collect();
        files.sort();
        files.dedup();
        return Ok(files);
    }
    let walker = WalkBuilder::new(root)
        .hidden(false)
        .require_git(false)
        .git_global(false)
        .parents(false)
        .overrides(overrides)
        .filter_entry(|entry| !matches!(entry.file_name().to_str(), Some(".git" | ".reprobe")))
        .build();
    let mut files = Vec::new();
    for entry in walker.flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Some(rel) = entry.path().strip_prefix(root).ok().and_then(Path::to_str) else {
            continue;
        };
        if !produced(rel) {
            files.push(rel.to_string());
        }
    }
    files.sort();
    Ok(files)
}

/// In a git checkout, the project's files as git sees them: every tracked file (a tracked
/// file that a `.gitignore` pattern matches is still part of the project) and every
/// untracked file that is not ignored, relative to `root`. `None` outside a checkout or
/// without git, where the walk of the directory decides.
fn git_files(root: &Path) -> Option<Vec<String>> {
    let listed = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            ".",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !listed.status.success() {
        return None;
    }
    let names = listed
        .stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .filter_map(|name| std::str::from_utf8(name).ok())
        .map(str::to_string)
        .collect();
    Some(names)
}

/// The step's name: the program the command starts (`make`, `build.sh`).
fn step_name(command: &str) -> String {
    let word = command.split_whitespace().next().unwrap_or("command");
    let base = word.rsplit('/').next().unwrap_or(word);
    crate::sources::ninja::import::sanitize_name(base)
}

/// The command's program, when it is found on the default PATH (its bytes are hashed).
fn first_tool(command: &str) -> Vec<String> {
    command
        .split_whitespace()
        .next()
        .filter(|w| !w.contains('/') && !w.contains(['=', '$', '\'', '"']))
        .filter(|w| {
            crate::model::inputs::resolve_on_path(w, crate::model::graph::DEFAULT_PATH).is_some()
        })
        .map(|w| vec![w.to_string()])
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn gitignore_excludes_and_outputs_are_not_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let write = |p: &str| {
            let path = dir.path().join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, p).unwrap();
        };
        for p in [
            "Makefile",
            "src/a.c",
            "build/a.o",
            "notes.tmp",
            ".gitignore",
            "docs/x.md",
            ".git/HEAD",
        ] {
            write(p);
        }
        fs::write(dir.path().join(".gitignore"), "*.tmp\n").unwrap();
        let spec = WholeCommand {
            dir: dir.path().to_path_buf(),
            command: "make".into(),
            outputs: vec!["build/**".into()],
            excludes: vec!["docs/**".into()],
        };
        let graph = spec.graph().unwrap();
        let step = &graph.steps[0];
        assert_eq!(step.name, "make");
        assert_eq!(step.inputs, [".gitignore", "Makefile", "src/a.c"]);
        assert_eq!(step.outputs, ["build"]);
    }

    #[test]
    fn in_a_git_checkout_tracked_files_count_even_when_a_gitignore_matches_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let git = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .arg("-C")
                .arg(root)
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q"]);
        for (path, text) in [
            ("CMakeLists.txt", "x"),
            ("cmake/config.h.in", "tracked"),
            (".gitignore", "config.h*\nbuild/\n"),
        ] {
            fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            fs::write(root.join(path), text).unwrap();
        }
        git(&["add", "-f", "."]);
        git(&["commit", "-qm", "init"]);
        // Untracked: one ignored, one not.
        fs::write(root.join("config.h"), "generated").unwrap();
        fs::write(root.join("new.c"), "new").unwrap();
        let spec = WholeCommand {
            dir: root.to_path_buf(),
            command: "make".into(),
            outputs: vec!["build/**".into()],
            excludes: Vec::new(),
        };
        let step = &spec.graph().unwrap().steps[0];
        assert_eq!(
            step.inputs,
            [".gitignore", "CMakeLists.txt", "cmake/config.h.in", "new.c"]
        );
    }

    #[test]
    fn output_globs_other_than_a_directory_are_refused() {
        assert_eq!(output_path("build/**").unwrap(), "build");
        assert!(output_path("build/*.o").is_err());
        assert!(output_path("../out").is_err());
    }
}
