//! The sandbox profile: the values one build's sandbox runs with (paths, names, user,
//! umask, locale, timezone, cores, clock, limits), which `check` varies between builds,
//! and the environment a step gets from them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::model::graph::{Step, DEFAULT_TIMEOUT};
use crate::sandbox::{Limits, SandboxUser};

/// The sandbox settings one build runs with: the values `check` varies between builds.
#[derive(Debug, Clone)]
pub struct SandboxProfile {
    /// Directory under which each step's work directory appears (`DIR/STEP`).
    pub build_dir: String,
    /// Host name inside.
    pub hostname: String,
    /// Domain name inside.
    pub domainname: String,
    /// The build user.
    pub user: SandboxUser,
    /// The umask.
    pub umask: u32,
    /// `LANG` (and `LC_ALL` unset), unless the graph sets it.
    pub locale: String,
    /// `TZ`, unless the graph sets it.
    pub timezone: String,
    /// CPU limit (affinity), `None` for all cores.
    pub cpus: Option<usize>,
    /// Extra variables (the `env` variation), unless the graph sets them.
    pub extra_env: BTreeMap<String, String>,
    /// Create input files in reverse order (the `fileorder` variation).
    pub reverse_file_order: bool,
    /// The limits of steps that do not set their own.
    pub limits: LimitDefaults,
    /// Preload the clock shim ([`crate::sandbox::clock`]) into the step's processes. `check` sets
    /// it in every build when it varies the clock, so that the builds' environments are
    /// equal and only the shim's offset differs.
    pub clock_shim: bool,
    /// Seconds the clock is pushed ahead (0: the real clock): the step's wall clock runs
    /// that far ahead (through the shim) and its input files get mtimes that far in the
    /// past, so no input is ever newer than what the step writes.
    pub clock_offset_secs: i64,
    /// Push the step's own clock when the clock is offset (`check` turns it off for a step
    /// that failed only with the pushed clock, to tell whether the clock broke it).
    pub push_clock: bool,
}

/// The limits a step gets for each of `timeout`, `memory`, `disk` and `pids` that it
/// does not set itself (`--timeout`, `--memory`, `--disk`, `--pids`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitDefaults {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Memory, disk and process limits.
    pub limits: Limits,
}

impl Default for LimitDefaults {
    fn default() -> Self {
        LimitDefaults {
            timeout: DEFAULT_TIMEOUT,
            limits: Limits::default(),
        }
    }
}

impl LimitDefaults {
    /// The timeout of `step`.
    pub fn timeout(&self, step: &Step) -> Duration {
        step.timeout.unwrap_or(self.timeout)
    }

    /// The memory, disk and process limits of `step`.
    pub fn limits(&self, step: &Step) -> Limits {
        Limits {
            memory_bytes: step.memory.unwrap_or(self.limits.memory_bytes),
            disk_bytes: step.disk.unwrap_or(self.limits.disk_bytes),
            pids: step.pids.unwrap_or(self.limits.pids),
        }
    }
}

impl Default for SandboxProfile {
    fn default() -> Self {
        SandboxProfile {
            build_dir: "/build".into(),
            hostname: "reprobe".into(),
            domainname: "reprobe.invalid".into(),
            user: SandboxUser {
                uid: 1000,
                gid: 1000,
                name: "builder".into(),
                group: "builder".into(),
                home: PathBuf::from("/homeless-shelter"),
            },
            umask: 0o022,
            locale: "C.UTF-8".into(),
            timezone: "UTC".into(),
            cpus: None,
            extra_env: BTreeMap::new(),
            reverse_file_order: false,
            limits: LimitDefaults::default(),
            clock_shim: false,
            clock_offset_secs: 0,
            push_clock: true,
        }
    }
}

impl SandboxProfile {
    /// The profile as recorded in the manifest's `variations`.
    pub fn describe(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::from([
            ("build_path".to_string(), self.build_dir.clone()),
            (
                "hostname".to_string(),
                format!("{} ({})", self.hostname, self.domainname),
            ),
            (
                "user".to_string(),
                format!("{} ({}:{})", self.user.name, self.user.uid, self.user.gid),
            ),
            ("umask".to_string(), format!("{:03o}", self.umask)),
            ("locale".to_string(), self.locale.clone()),
            ("timezone".to_string(), self.timezone.clone()),
            (
                "cpus".to_string(),
                self.cpus.map_or("all".to_string(), |n| n.to_string()),
            ),
            (
                "fileorder".to_string(),
                if self.reverse_file_order {
                    "reverse"
                } else {
                    "sorted"
                }
                .to_string(),
            ),
        ]);
        let clock = match (self.clock_offset_secs, self.pushed_clock().is_some()) {
            (0, _) => "real".to_string(),
            (offset, true) => format!("real{offset:+}s (step clock; input mtimes {:+}s)", -offset),
            (offset, false) => format!("real (input mtimes {:+}s only)", -offset),
        };
        map.insert("clock".to_string(), clock);
        if !self.extra_env.is_empty() {
            let vars: Vec<String> = self
                .extra_env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            map.insert("env".to_string(), vars.join(" "));
        }
        map
    }

    /// The offset the clock shim applies to the step's wall clock (`Some(0)`: the shim is
    /// preloaded with the real clock), or `None` when the shim is not used.
    pub fn shim_offset(&self) -> Option<i64> {
        self.clock_shim.then(|| self.pushed_clock().unwrap_or(0))
    }

    /// How far the step's own clock is pushed, when it is.
    pub fn pushed_clock(&self) -> Option<i64> {
        (self.clock_shim && self.push_clock && self.clock_offset_secs != 0)
            .then_some(self.clock_offset_secs)
    }

    /// The path the work directory has inside the sandbox: where the project's root is.
    /// Every step of a build sees the project at the same path, as every step of a
    /// native build does.
    pub fn workdir(&self) -> PathBuf {
        Path::new(&self.build_dir).join(SANDBOX_PROJECT_DIR)
    }

    /// The step's environment: exactly its declared one, plus the sandbox's own
    /// variables where the graph does not set them (a value the graph pins is never varied).
    pub fn environment(&self, step: &Step) -> BTreeMap<String, String> {
        let mut env = step.env.clone();
        let provided = [
            ("HOME", self.user.home.to_string_lossy().into_owned()),
            ("USER", self.user.name.clone()),
            ("LOGNAME", self.user.name.clone()),
            ("LANG", self.locale.clone()),
            ("TZ", self.timezone.clone()),
            ("TMPDIR", "/tmp".to_string()),
        ];
        for (name, value) in provided {
            env.entry(name.to_string()).or_insert(value);
        }
        for (name, value) in &self.extra_env {
            env.entry(name.clone()).or_insert_with(|| value.clone());
        }
        if self.clock_shim {
            let shim = crate::sandbox::clock::SANDBOX_SHIM;
            let preload = match env.get("LD_PRELOAD") {
                Some(own) if !own.is_empty() => format!("{shim}:{own}"),
                _ => shim.to_string(),
            };
            env.insert("LD_PRELOAD".into(), preload);
        }
        env
    }
}

/// The name of the project's directory in the sandbox's build directory.
pub const SANDBOX_PROJECT_DIR: &str = "project";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_values_are_never_overridden_by_the_profile() {
        let mut step_env = BTreeMap::new();
        step_env.insert("TZ".to_string(), "Europe/Paris".to_string());
        step_env.insert("PATH".to_string(), "/bin".to_string());
        let step = Step {
            name: "s".into(),
            command: crate::model::graph::Command::Shell("true".into()),
            inputs: vec![],
            outputs: vec!["o".into()],
            tools: vec![],
            env: step_env,
            deps: vec![],
            network: false,
            sha256: None,
            timeout: Some(Duration::from_secs(1)),
            memory: None,
            disk: None,
            pids: None,
        };
        let env = SandboxProfile::default().environment(&step);
        assert_eq!(env["TZ"], "Europe/Paris");
        assert_eq!(env["LANG"], "C.UTF-8");
        assert_eq!(env["HOME"], "/homeless-shelter");
    }
}
