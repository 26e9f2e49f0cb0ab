//! The path policy: which paths a step opens are findings (undeclared project files,
//! home directories, `/etc` files beyond the allow-list; docs/design.md section 4). The
//! supervisor classifies the opens it sees with it; the tripwire shares its `/etc`
//! allow-list.

use std::fs;
use std::path::{Path, PathBuf};

use super::packages;
use crate::fsafe::beneath;
use crate::sandbox::spec::SandboxSpec;

/// `/etc` files a step may read without a finding: the C library's and loader's own
/// configuration, and the sandbox's generated user database.
pub const ETC_ALLOWED: [&str; 17] = [
    "ld.so.cache",
    "ld.so.preload",
    "ld.so.conf",
    "ld.so.conf.d/",
    "passwd",
    "group",
    "nsswitch.conf",
    "localtime",
    "timezone",
    "hosts",
    "host.conf",
    "resolv.conf",
    "gai.conf",
    "services",
    "protocols",
    "locale.alias",
    "alternatives/",
];

/// How paths seen in the sandbox map to findings.
pub(crate) struct PathRules {
    /// The work directory inside.
    workdir: PathBuf,
    /// The work directory on the host.
    host_workdir: PathBuf,
    /// The project on the host (hidden inside).
    project: Option<PathBuf>,
    /// Host directories below the project that are never findings (the store).
    ignored: Vec<PathBuf>,
    /// Home directories: the host's and the step's `HOME`.
    homes: Vec<PathBuf>,
}

impl PathRules {
    pub(crate) fn new(spec: &SandboxSpec) -> Self {
        let mut homes = vec![PathBuf::from("/home"), PathBuf::from("/root")];
        homes.push(spec.user.home.clone());
        homes.extend(spec.env.get("HOME").map(PathBuf::from));
        homes.retain(|h| h.is_absolute() && h.components().count() > 1);
        PathRules {
            workdir: spec.workdir.clone(),
            host_workdir: spec.host_workdir.clone(),
            project: spec.observation.project_root.clone(),
            ignored: spec.observation.ignored.clone(),
            homes,
        }
    }

    /// The finding for an opened absolute (normalized) sandbox path, if any.
    pub(crate) fn classify(&self, path: &Path, pid: i32) -> Option<String> {
        if let Ok(rel) = path.strip_prefix(&self.workdir) {
            return self.undeclared_project_file(rel, Some(pid));
        }
        if let Some(rel) = self
            .project
            .as_ref()
            .and_then(|p| path.strip_prefix(p).ok())
        {
            return self.undeclared_project_file(rel, None);
        }
        if self.homes.iter().any(|home| path.starts_with(home)) {
            return Some(path.display().to_string());
        }
        if let Ok(rel) = path.strip_prefix("/etc") {
            return self.etc_finding(rel, path, pid);
        }
        None
    }

    /// `rel` (inside the project) when the project has it and the step cannot see it.
    /// `in_workdir` is the pid of a process that opened it relative to its work directory.
    fn undeclared_project_file(&self, rel: &Path, in_workdir: Option<i32>) -> Option<String> {
        let project = self.project.as_ref()?;
        if rel.as_os_str().is_empty() {
            return None;
        }
        let host = project.join(rel);
        if self.ignored.iter().any(|dir| host.starts_with(dir)) {
            return None;
        }
        if let Some(pid) = in_workdir {
            // The work directory is a tmpfs inside the sandbox: look at the step's view.
            let inside = self.workdir.join(rel);
            // Both looks stay where they belong: links the step made resolve in its own
            // root, and none is followed in the host's copy of its work directory.
            let step_root = PathBuf::from(format!("/proc/{pid}/root"));
            let inside = inside.strip_prefix("/").unwrap_or(&inside);
            if beneath::exists_in_root(&step_root, inside, false)
                || beneath::lstat_beneath(&self.host_workdir, rel).is_some()
            {
                return None;
            }
        }
        fs::symlink_metadata(&host).ok()?;
        Some(rel.display().to_string())
    }

    /// An `/etc` path beyond the allow-list that exists in the step's view.
    fn etc_finding(&self, rel: &Path, path: &Path, pid: i32) -> Option<String> {
        let text = rel.to_str().unwrap_or_default();
        if text.is_empty() || etc_is_toolchain(text) {
            return None;
        }
        let step_root = PathBuf::from(format!("/proc/{pid}/root"));
        beneath::exists_in_root(&step_root, path.strip_prefix("/").ok()?, true)
            .then(|| path.display().to_string())
    }
}

/// True for an `/etc`-relative path in [`ETC_ALLOWED`] (entries ending in `/` are trees),
/// or in a toolchain's own configuration that Debian keeps in `/etc` and the toolchain
/// opens through a symlink in `/usr/lib` at every start: Python's
/// (`/etc/python3.11/sitecustomize.py`) and the JDK's (`/etc/java-17-openjdk/`, read by
/// every `java`, `javac` and `jar`). They belong to the tool, like its binary.
pub(crate) fn etc_allowed(rel: &str) -> bool {
    let first = rel.split('/').next().unwrap_or_default();
    if first.starts_with("python3") || first.starts_with("java-") {
        return true;
    }
    ETC_ALLOWED
        .iter()
        .any(|allowed| match allowed.strip_suffix('/') {
            Some(dir) => rel == dir || rel.starts_with(allowed),
            None => rel == *allowed,
        })
}

/// Whether reading `/etc/REL` is part of the toolchain: allow-listed, or a file of an
/// installed package (module `packages`). The sandbox's own `hostname` never is: the
/// host name is one of the variations.
pub(crate) fn etc_is_toolchain(rel: &str) -> bool {
    etc_allowed(rel)
        || (rel != "hostname" && packages::owned_by_a_package(&Path::new("/etc").join(rel)))
}

pub(crate) use crate::model::lexical_path::normalize_abs as normalize;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sandbox::limits::Limits;
    use crate::sandbox::observation::Observation;
    use crate::sandbox::spec::SandboxUser;
    use std::collections::BTreeMap;

    fn rules(project: &Path, host_work: &Path) -> PathRules {
        PathRules::new(&spec(project, host_work))
    }

    /// A step of `project` whose prepared work directory is `host_work`, seen inside
    /// at `/build/compile`, with the store at `project/.reprobe`.
    pub(crate) fn spec(project: &Path, host_work: &Path) -> SandboxSpec {
        SandboxSpec {
            argv: vec!["true".into()],
            env: BTreeMap::from([("HOME".into(), "/homeless-shelter".into())]),
            host_workdir: host_work.to_path_buf(),
            workdir: "/build/compile".into(),
            hidden: vec![],
            hostname: "h".into(),
            domainname: "d".into(),
            user: SandboxUser {
                uid: 1000,
                gid: 1000,
                name: "b".into(),
                group: "b".into(),
                home: "/homeless-shelter".into(),
            },
            umask: 0o022,
            cpus: None,
            network: false,
            timeout_secs: 1.0,
            limits: Limits::default(),
            stdout: "/dev/null".into(),
            stderr: "/dev/null".into(),
            observation: Observation {
                project_root: Some(project.to_path_buf()),
                ignored: vec![project.join(".reprobe")],
                ..Observation::default()
            },
            clock_offset_secs: None,
        }
    }

    #[test]
    fn project_files_missing_from_the_work_dir_are_findings() {
        let project = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        fs::create_dir_all(project.path().join("src")).unwrap();
        fs::create_dir_all(project.path().join(".reprobe")).unwrap();
        fs::write(project.path().join("src/config.h"), "").unwrap();
        fs::write(project.path().join("src/hello.c"), "").unwrap();
        fs::create_dir_all(work.path().join("src")).unwrap();
        fs::write(work.path().join("src/hello.c"), "").unwrap();
        let rules = rules(project.path(), work.path());
        let pid = std::process::id() as i32;
        let at = |p: &str| rules.classify(Path::new(p), pid);
        assert_eq!(
            at("/build/compile/src/config.h").as_deref(),
            Some("src/config.h")
        );
        assert_eq!(at("/build/compile/src/hello.c"), None);
        assert_eq!(at("/build/compile/src/absent.h"), None);
        let absolute = project.path().join("src/config.h");
        assert_eq!(
            at(absolute.to_str().unwrap()).as_deref(),
            Some("src/config.h")
        );
        assert_eq!(at(project.path().join(".reprobe").to_str().unwrap()), None);
        assert_eq!(at("/usr/include/stdio.h"), None);
    }

    #[test]
    fn home_paths_and_unlisted_etc_files_are_findings() {
        let dir = tempfile::tempdir().unwrap();
        let rules = rules(dir.path(), dir.path());
        let pid = std::process::id() as i32;
        assert_eq!(
            rules
                .classify(Path::new("/homeless-shelter/.config/x"), pid)
                .as_deref(),
            Some("/homeless-shelter/.config/x")
        );
        assert_eq!(rules.classify(Path::new("/etc/passwd"), pid), None);
        assert_eq!(
            rules.classify(Path::new("/etc/ld.so.conf.d/x.conf"), pid),
            None
        );
        assert_eq!(
            rules.classify(Path::new("/etc/no-such-file-here"), pid),
            None
        );
    }

    #[test]
    fn the_allow_list_matches_files_and_trees_exactly() {
        assert!(etc_allowed("passwd"));
        assert!(etc_allowed("alternatives/cc"));
        assert!(!etc_allowed("passwd-"));
        assert!(!etc_allowed("hostname"));
        assert!(etc_allowed("java-17-openjdk/security/java.security"));
        assert!(etc_allowed("python3.11/sitecustomize.py"));
        assert!(!etc_allowed("javascript-common/x"));
    }

    #[test]
    fn normalize_resolves_dots_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../x")), PathBuf::from("/x"));
        assert_eq!(
            normalize(Path::new("/build/s/../s/src/config.h")),
            PathBuf::from("/build/s/src/config.h")
        );
    }
}
