//! Finding the builds to compare: manifest files, build ids in the store, or the last
//! builds of a graph.

use std::fs;
use std::path::{Path, PathBuf};

use crate::model::manifest::{GraphId, Manifest, ManifestError, MANIFEST_SCHEMA};
use crate::store::Store;

/// Why the builds to compare could not be found.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A manifest file is unreadable, malformed or of another schema.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// An argument is neither a file nor a known build id.
    #[error("`{arg}` is neither a manifest file nor a build id in {store}")]
    NoSuchBuild {
        /// The argument.
        arg: String,
        /// Where ids were looked up (or why they could not be).
        store: String,
    },
    /// An id prefix matches several builds.
    #[error("`{arg}` matches {count} builds in {store}; give more of the id")]
    Ambiguous {
        /// The argument.
        arg: String,
        /// How many matched.
        count: usize,
        /// The store.
        store: String,
    },
    /// Fewer recorded builds of the graph than needed.
    #[error("{found} build(s) of {graph} recorded in {store}, and explain compares two: change something and run `reprobe build` again, or pass two manifests (reprobe explain OLD.json NEW.json)")]
    TooFewBuilds {
        /// How many there are.
        found: usize,
        /// The graph file.
        graph: String,
        /// The store.
        store: String,
    },
    /// The store's builds directory cannot be listed.
    #[error("{path}: cannot list builds: {source}")]
    List {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A manifest and where it came from (a path, or `id (path)`).
#[derive(Debug, Clone)]
pub struct LoadedBuild {
    /// The manifest.
    pub manifest: Manifest,
    /// The file it was read from.
    pub path: PathBuf,
}

/// Reads a manifest: parses straight into the struct (fast on large manifests) and falls
/// back to [`Manifest::read`] for its precise, version-checked error when that fails.
pub fn read_manifest(path: &Path) -> Result<Manifest, ManifestError> {
    let parsed = fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok());
    match parsed {
        Some(manifest) if manifest.schema == MANIFEST_SCHEMA => Ok(manifest),
        _ => Manifest::read(path),
    }
}

/// Reads a manifest without its steps' input trees (each step's `inputs` is `None`):
/// what `challenge` needs, parsed in a fraction of the time on large manifests.
pub fn read_outline(path: &Path) -> Result<Manifest, ManifestError> {
    let parsed = fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Outline>(&bytes).ok());
    match parsed {
        Some(outline) if outline.schema == MANIFEST_SCHEMA => Ok(outline.into_manifest()),
        _ => Manifest::read(path).map(|mut m| {
            m.steps.iter_mut().for_each(|s| s.inputs = None);
            m
        }),
    }
}

/// A manifest whose steps skip `inputs` when parsed.
#[derive(serde::Deserialize)]
struct Outline {
    schema: String,
    id: String,
    graph: String,
    #[serde(default)]
    graph_id: Option<GraphId>,
    started: String,
    finished: String,
    host: crate::model::manifest::Host,
    variations: std::collections::BTreeMap<String, String>,
    steps: Vec<StepOutline>,
}

/// A step record without `inputs` (serde skips the field unread).
#[derive(serde::Deserialize)]
struct StepOutline {
    name: String,
    status: crate::model::manifest::StepStatus,
    cached: bool,
    input_hash: Option<crate::model::hash::InputHash>,
    derivation_hash: Option<crate::model::hash::DerivationHash>,
    content_hash: Option<crate::model::hash::ContentHash>,
    outputs: Vec<crate::model::tree::TreeEntry>,
    duration_ms: u64,
    exit: Option<crate::model::manifest::ExitRecord>,
    findings: crate::model::findings::SandboxFindings,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    stderr_tail: Option<String>,
}

impl Outline {
    fn into_manifest(self) -> Manifest {
        let steps = self
            .steps
            .into_iter()
            .map(|s| crate::model::manifest::StepRecord {
                name: s.name,
                status: s.status,
                cached: s.cached,
                cache_source: None,
                input_hash: s.input_hash,
                derivation_hash: s.derivation_hash,
                content_hash: s.content_hash,
                inputs: None,
                outputs: s.outputs,
                duration_ms: s.duration_ms,
                exit: s.exit,
                findings: s.findings,
                error: s.error,
                stderr_tail: s.stderr_tail,
                notes: Vec::new(),
            })
            .collect();
        Manifest {
            schema: self.schema,
            id: self.id,
            graph: self.graph,
            graph_id: self.graph_id,
            started: self.started,
            finished: self.finished,
            host: self.host,
            variations: self.variations,
            steps,
        }
    }
}

/// Resolves a command-line argument: an existing file is a manifest; anything else is a
/// build id (or a unique prefix of one) in `store`.
pub fn resolve(arg: &str, store: Option<&Store>) -> Result<LoadedBuild, HistoryError> {
    resolve_with(arg, store, read_manifest)
}

/// [`resolve`], reading the manifest with `reader` (for example [`read_outline`]).
pub(crate) fn resolve_with(
    arg: &str,
    store: Option<&Store>,
    reader: fn(&Path) -> Result<Manifest, ManifestError>,
) -> Result<LoadedBuild, HistoryError> {
    let path = Path::new(arg);
    if path.is_file() {
        return load(path, reader);
    }
    let Some(store) = store else {
        return Err(HistoryError::NoSuchBuild {
            arg: arg.into(),
            store: "no store (pass --store DIR, or --graph to use .reprobe/ beside it)".into(),
        });
    };
    let store_name = store.root().display().to_string();
    let ids = build_ids(store)?;
    let matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(arg)).collect();
    let exact = ids.iter().find(|id| id.as_str() == arg);
    match (exact, matches.as_slice()) {
        (Some(id), _) => load(&manifest_path(store, id), reader),
        (None, [id]) => load(&manifest_path(store, id), reader),
        (None, []) => Err(HistoryError::NoSuchBuild {
            arg: arg.into(),
            store: store_name,
        }),
        (None, many) => Err(HistoryError::Ambiguous {
            arg: arg.into(),
            count: many.len(),
            store: store_name,
        }),
    }
}

fn load(
    path: &Path,
    reader: fn(&Path) -> Result<Manifest, ManifestError>,
) -> Result<LoadedBuild, HistoryError> {
    Ok(LoadedBuild {
        manifest: reader(path)?,
        path: path.to_path_buf(),
    })
}

fn manifest_path(store: &Store, id: &str) -> PathBuf {
    store.builds_dir().join(format!("{id}.json"))
}

/// The ids of the recorded builds, oldest first (ids sort by start time).
pub(crate) fn build_ids(store: &Store) -> Result<Vec<String>, HistoryError> {
    let dir = store.builds_dir();
    let entries = fs::read_dir(&dir).map_err(|source| HistoryError::List {
        path: dir.clone(),
        source,
    })?;
    let mut ids: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    ids.sort();
    Ok(ids)
}

/// The graph whose builds are compared by default.
#[derive(Debug, Clone)]
pub(crate) struct GraphKey {
    /// The graph file as the user named it, for messages.
    pub file: PathBuf,
    /// Its file name, all that manifests recorded before [`GraphId`] tell of their graph.
    pub name: String,
    /// Its identity among the graphs sharing a store.
    pub id: GraphId,
}

impl GraphKey {
    /// The key of the graph file at `graph_file`.
    pub fn of_file(graph_file: &Path) -> GraphKey {
        let name = graph_file.file_name().map_or_else(
            || crate::model::graph::DEFAULT_GRAPH_FILE.into(),
            |n| n.to_string_lossy().into_owned(),
        );
        GraphKey {
            file: graph_file.to_path_buf(),
            name,
            id: GraphId::of_file(graph_file),
        }
    }

    /// Whether `manifest` is a build of this graph: by [`GraphId`] when it records one,
    /// else (an older manifest) by the graph's file name alone.
    pub fn matches(&self, manifest: &Manifest) -> bool {
        match &manifest.graph_id {
            Some(id) => *id == self.id,
            None => manifest.graph == self.name,
        }
    }
}

/// The newest `count` builds of `graph`, oldest first, skipping the build with id `skip`.
pub(crate) fn latest_builds(
    store: &Store,
    graph: &GraphKey,
    count: usize,
    skip: Option<&str>,
) -> Result<Vec<LoadedBuild>, HistoryError> {
    let mut found = Vec::new();
    for id in build_ids(store)?.iter().rev() {
        if found.len() == count {
            break;
        }
        if Some(id.as_str()) == skip {
            continue;
        }
        // A manifest that cannot be read (half-deleted, another version) is passed over
        // here: the default pair is "the last two usable builds".
        if let Ok(build) = load(&manifest_path(store, id), read_manifest) {
            if graph.matches(&build.manifest) {
                found.push(build);
            }
        }
    }
    if found.len() < count {
        return Err(HistoryError::TooFewBuilds {
            found: found.len(),
            graph: graph.file.display().to_string(),
            store: store.root().display().to_string(),
        });
    }
    found.reverse();
    Ok(found)
}
