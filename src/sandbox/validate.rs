//! Rejects specs that cannot describe a sandbox, before anything is created for them.

use std::path::{Component, Path};

use super::error::SandboxError;
use super::isolate::ids;
use super::spec::SandboxSpec;

/// Rejects specs that cannot describe a sandbox, before anything is created.
pub(super) fn validate(spec: &SandboxSpec) -> Result<(), SandboxError> {
    let bad = |msg: String| Err(SandboxError::InvalidSpec(msg));
    if spec.argv.is_empty() || spec.argv[0].is_empty() {
        return bad("argv is empty: there is no program to run".into());
    }
    let mut strings = spec
        .argv
        .iter()
        .chain(spec.env.keys())
        .chain(spec.env.values());
    if let Some(s) = strings.find(|s| s.contains('\0')) {
        return bad(format!("{s:?} contains a NUL byte"));
    }
    if let Some(key) = spec.env.keys().find(|k| k.is_empty() || k.contains('=')) {
        return bad(format!(
            "environment variable name {key:?} is empty or contains '='"
        ));
    }
    check_dir_path("host_workdir", &spec.host_workdir)?;
    check_dir_path("workdir", &spec.workdir)?;
    for hidden in &spec.hidden {
        check_dir_path("hidden", hidden)?;
    }
    ids::check_user(&spec.user)?;
    check_names(spec)?;
    if spec.umask > 0o777 {
        return bad(format!("umask {:o} is larger than 0777", spec.umask));
    }
    if spec.cpus == Some(0) {
        return bad("cpus is Some(0): a step needs at least one core".into());
    }
    if !(spec.timeout_secs.is_finite() && spec.timeout_secs > 0.0) {
        return bad(format!(
            "timeout_secs {} is not a positive number",
            spec.timeout_secs
        ));
    }
    let limits = &spec.limits;
    if limits.disk_bytes == 0 || limits.memory_bytes == 0 || limits.pids == 0 {
        return bad(format!("limits must be positive: {limits:?}"));
    }
    Ok(())
}

/// Host and domain names must be settable (at most 64 bytes, no NUL).
fn check_names(spec: &SandboxSpec) -> Result<(), SandboxError> {
    for (what, name) in [
        ("hostname", &spec.hostname),
        ("domainname", &spec.domainname),
    ] {
        if name.len() > 64 || name.contains(['\0', '\n']) {
            return Err(SandboxError::InvalidSpec(format!(
                "{what} {name:?} is longer than 64 bytes or contains NUL/newline"
            )));
        }
    }
    if spec.hostname.is_empty() {
        return Err(SandboxError::InvalidSpec("hostname is empty".into()));
    }
    Ok(())
}

/// A directory path the sandbox mounts on or over: absolute, normal, not `/`.
fn check_dir_path(what: &str, path: &Path) -> Result<(), SandboxError> {
    let normal = path.is_absolute()
        && path.components().count() > 1
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if normal {
        Ok(())
    } else {
        Err(SandboxError::InvalidSpec(format!(
            "{what} {} must be an absolute path below / without `..`",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::limits::Limits;
    use crate::sandbox::observation::Observation;
    use crate::sandbox::spec::SandboxUser;
    use std::collections::BTreeMap;

    fn spec() -> SandboxSpec {
        SandboxSpec {
            argv: vec!["/bin/true".into()],
            env: BTreeMap::from([("PATH".into(), "/usr/bin:/bin".into())]),
            host_workdir: "/tmp/x".into(),
            workdir: "/build/work".into(),
            hidden: vec![],
            hostname: "reprobe".into(),
            domainname: "(none)".into(),
            user: SandboxUser {
                uid: 1000,
                gid: 100,
                name: "builder".into(),
                group: "users".into(),
                home: "/homeless-shelter".into(),
            },
            umask: 0o022,
            cpus: None,
            network: false,
            timeout_secs: 10.0,
            limits: Limits::default(),
            stdout: "/dev/null".into(),
            stderr: "/dev/null".into(),
            observation: Observation::default(),
            clock_offset_secs: None,
        }
    }

    #[test]
    fn a_plain_spec_is_valid() {
        assert!(validate(&spec()).is_ok());
    }

    #[test]
    fn relative_or_dotted_workdirs_are_rejected() {
        for bad in ["build", "/", "/build/../etc", "build/x"] {
            let mut s = spec();
            s.workdir = bad.into();
            assert!(validate(&s).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn empty_argv_zero_cpus_and_bad_timeouts_are_rejected() {
        let mut s = spec();
        s.argv.clear();
        assert!(validate(&s).is_err());
        let mut s = spec();
        s.cpus = Some(0);
        assert!(validate(&s).is_err());
        for t in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut s = spec();
            s.timeout_secs = t;
            assert!(validate(&s).is_err());
        }
    }
}
