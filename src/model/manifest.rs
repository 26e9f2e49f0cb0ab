//! Build manifests (`reprobe/manifest/1`): the record of one build, per step (docs/design.md
//! section 7). Written to the store after every build and printed by `build --json`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::findings::SandboxFindings;
use crate::model::hash::{CanonicalHasher, ContentHash, DerivationHash, Digest, InputHash};
use crate::model::inputs::StepInputs;
use crate::model::tree::TreeEntry;

/// The schema this reprobe writes and reads.
pub const MANIFEST_SCHEMA: &str = "reprobe/manifest/1";

/// One build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_SCHEMA`].
    pub schema: String,
    /// The build id (sortable by start time).
    pub id: String,
    /// The graph file, relative to the graph's directory.
    pub graph: String,
    /// Which graph file this build is of, among all graphs sharing a store (absent in
    /// manifests written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_id: Option<GraphId>,
    /// Start time, RFC 3339 UTC.
    pub started: String,
    /// End time, RFC 3339 UTC.
    pub finished: String,
    /// Facts about the machine.
    pub host: Host,
    /// The sandbox settings this build ran with (the variation values, for `check`).
    pub variations: BTreeMap<String, String>,
    /// Steps in topological order.
    pub steps: Vec<StepRecord>,
}

/// Tells apart the graphs whose builds share one store: sha256 of the graph file's
/// canonical directory and its file name. Recorded beside the manifest's `graph` name
/// and never part of any key, since no absolute host path enters an input hash
/// (docs/design.md section 3); a project moved elsewhere gets a new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GraphId(pub Digest);

impl GraphId {
    /// The id of the graph file at `graph_file` (relative to the current directory, or
    /// absolute). A directory that cannot be resolved is taken as written.
    pub fn of_file(graph_file: &Path) -> GraphId {
        let dir = graph_file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = fs::canonicalize(dir)
            .or_else(|_| std::path::absolute(dir))
            .unwrap_or_else(|_| dir.to_path_buf());
        let name = graph_file.file_name().unwrap_or_default();
        let mut hasher = CanonicalHasher::new("reprobe graph id");
        hasher.bytes(b'r', dir.as_os_str().as_encoded_bytes());
        hasher.bytes(b'f', name.as_encoded_bytes());
        GraphId(hasher.finish())
    }
}

/// Facts about the building machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Host {
    /// Kernel release.
    pub kernel: String,
    /// CPU architecture.
    pub arch: String,
}

impl Host {
    /// Reads this machine's facts.
    pub fn current() -> Host {
        let kernel = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Host {
            kernel,
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

/// How a step's part of the build went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// It ran in the sandbox and succeeded.
    Ran,
    /// Its outputs came from the action cache.
    Cached,
    /// It failed (non-zero exit, signal, timeout, missing output, setup error).
    Failed,
    /// It did not run because a dep failed or the build was interrupted.
    Skipped,
}

/// Where a cache hit came from: this machine's store or the shared remote cache
/// (docs/remote.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheSource {
    /// The local store's action cache.
    Local,
    /// A Remote Execution API server's action cache, copied into the local store first.
    Remote,
}

/// How a step's process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ExitRecord {
    /// Exited with a code.
    Exited {
        /// The exit code.
        code: i32,
    },
    /// Killed by a signal.
    Signaled {
        /// The signal number.
        signal: i32,
    },
    /// Killed at its timeout.
    TimedOut,
}

/// One step of a build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step name.
    pub name: String,
    /// What happened.
    pub status: StepStatus,
    /// Whether the outputs came from the cache.
    pub cached: bool,
    /// Which cache a cached step's outputs came from (absent when it was not cached).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cache_source: Option<CacheSource>,
    /// The cache key (absent when the inputs could not be gathered).
    pub input_hash: Option<InputHash>,
    /// The input-addressed key.
    pub derivation_hash: Option<DerivationHash>,
    /// What it produced (absent when it failed or was skipped).
    pub content_hash: Option<ContentHash>,
    /// The inputs behind the keys.
    pub inputs: Option<StepInputs>,
    /// The output tree.
    pub outputs: Vec<TreeEntry>,
    /// Wall time of the run (of the original run, for a cached step).
    pub duration_ms: u64,
    /// How the process ended (absent for cached and skipped steps).
    pub exit: Option<ExitRecord>,
    /// Hermeticity findings.
    pub findings: SandboxFindings,
    /// Why the step failed or was skipped, for people.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The last lines of a failed step's stderr.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stderr_tail: Option<String>,
    /// What else happened to the step, for people: why a step that could have come from
    /// the cache ran again (its cached output blob was corrupt, say).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

/// Errors reading a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Cannot read the file.
    #[error("{path}: cannot read manifest: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Not a manifest.
    #[error("{path}: not a reprobe manifest: {error}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        error: String,
    },
    /// Another schema version.
    #[error("{path}: manifest schema `{found}` is not supported; this reprobe reads `{MANIFEST_SCHEMA}`")]
    Version {
        /// The file.
        path: PathBuf,
        /// The schema it declares.
        found: String,
    },
}

impl Manifest {
    /// Renders with keys sorted, so equal manifests are equal bytes.
    pub fn to_json(&self) -> String {
        let value = serde_json::to_value(self).expect("a manifest is plain data");
        serde_json::to_string_pretty(&value).expect("a JSON value always prints")
    }

    /// Reads and version-checks a manifest file.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let text = fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::from_json(path, &text)
    }

    /// Parses and version-checks manifest text; `path` only names it in errors.
    pub fn from_json(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ManifestError::Parse {
                path: path.to_path_buf(),
                error: e.to_string(),
            })?;
        let found = value
            .get("schema")
            .and_then(|s| s.as_str())
            .unwrap_or("(none)");
        if found != MANIFEST_SCHEMA {
            return Err(ManifestError::Version {
                path: path.to_path_buf(),
                found: found.to_string(),
            });
        }
        serde_json::from_value(value).map_err(|e| ManifestError::Parse {
            path: path.to_path_buf(),
            error: e.to_string(),
        })
    }

    /// A step's record by name.
    pub fn step(&self, name: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// A new build id: UTC start time (so ids sort by time), then random hex.
pub(crate) fn new_build_id(now: chrono::DateTime<chrono::Utc>) -> String {
    let random = crate::model::hash::Digest::of_bytes(
        format!(
            "{}-{}-{:?}",
            std::process::id(),
            now.timestamp_nanos_opt().unwrap_or(0),
            std::thread::current().id()
        )
        .as_bytes(),
    );
    format!(
        "{}-{}",
        now.format("%Y%m%dT%H%M%S%.3fZ"),
        &random.to_hex()[..8]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_schema_is_rejected_naming_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        fs::write(&path, r#"{"schema": "reprobe/manifest/2"}"#).unwrap();
        let err = Manifest::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("reprobe/manifest/2") && err.contains("reprobe/manifest/1"),
            "{err}"
        );
    }

    #[test]
    fn build_ids_sort_by_time() {
        use chrono::TimeZone;
        let a = new_build_id(chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap());
        let b = new_build_id(chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 6).unwrap());
        assert!(a < b, "{a} {b}");
    }
}
