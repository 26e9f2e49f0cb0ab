//! The executor: runs a graph's steps in dependency order, in parallel, each in its own
//! sandbox, reusing the action cache, and records a [`Manifest`].
//!
//! A failed step stops its dependents while independent steps finish. Every step runs in
//! a private work directory in the store's `tmp/`, holding only its declared inputs and
//! its deps' outputs; only its declared outputs are collected.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::model::findings::{Observed, SandboxFindings};
use crate::model::graph::{Graph, Step, DEFAULT_TIMEOUT};
use crate::model::hash::{ContentHash, FileHash};
use crate::model::inputs::{self, FileHashCache, InputDep, StepInputs};
use crate::model::manifest::{ExitRecord, Host, Manifest, StepRecord, StepStatus, MANIFEST_SCHEMA};
use crate::model::tree::{self, EntryType, TreeEntry};
use crate::sandbox::{
    LimitExceeded, Limits, Observation, Sandbox, SandboxSpec, SandboxUser, StepExit,
};
use crate::store::{remove_tree, ActionEntry, Lookup, Store, StoreError, ACTION_SCHEMA};

/// How many lines of a failed step's stderr are kept.
const STDERR_TAIL_LINES: usize = 20;

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

/// How to run a build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Steps run at once.
    pub jobs: usize,
    /// Reuse and fill the action cache (`--no-cache` turns reuse off).
    pub use_cache: bool,
    /// The sandbox settings.
    pub profile: SandboxProfile,
    /// Keep work directories of failed steps (for debugging).
    pub keep_failed: bool,
    /// Write successful runs into the action cache (`check` does not: its builds are
    /// experiments, not artifacts to serve).
    pub record_cache: bool,
    /// Write the manifest into the store's `builds/` (the history `explain` reads).
    pub record_manifest: bool,
    /// Where work directories are made (default: the store's `tmp/`).
    pub work_root: Option<PathBuf>,
    /// Also observe the names each step looks up in its work directory (a relative
    /// `#include` of an undeclared project header). That needs an overlay on the work
    /// directory, which costs about 2.7 microseconds per open there, so `build` leaves it
    /// off and observes those names only when re-running a failed step to explain it;
    /// `check` turns it on. Network calls and opens outside the work directory (home
    /// directories, `/etc`, absolute paths into the project) are always observed.
    pub observe_work_names: bool,
    /// Verify the blobs of a cached final step before taking the hit (`--out` reads
    /// them): a corrupt one is removed and the step runs again in this build, so a
    /// flipped byte is never exported.
    pub verify_final_outputs: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            use_cache: true,
            profile: SandboxProfile::default(),
            keep_failed: false,
            record_cache: true,
            record_manifest: true,
            work_root: None,
            observe_work_names: false,
            verify_final_outputs: false,
        }
    }
}

/// Something that happened during a build, for progress output.
#[derive(Debug, Clone)]
pub enum BuildEvent {
    /// A step started running in its sandbox.
    Started {
        /// The step.
        step: String,
    },
    /// A step finished (ran, cached, failed or skipped).
    Finished {
        /// Its record.
        record: Box<StepRecord>,
        /// Steps finished so far.
        done: usize,
        /// Steps in the graph.
        total: usize,
    },
}

/// Errors that stop a build as a whole (a failing step is not one: it is recorded).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The user interrupted the build.
    #[error("interrupted")]
    Interrupted,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A step's inputs cannot be used at all (a FIFO among them, or a path through a
    /// link out of the project): found before any step runs.
    #[error(transparent)]
    Input(#[from] inputs::InputError),
}

/// Runs every step of `graph` and returns the build's manifest (also written to the store).
pub fn build(
    graph: Arc<Graph>,
    store: Arc<Store>,
    sandbox: Arc<Sandbox>,
    options: &BuildOptions,
    interrupted: &AtomicBool,
    on_event: &mut dyn FnMut(BuildEvent),
) -> Result<Manifest, BuildError> {
    let started = chrono::Utc::now();
    inputs::check_graph_inputs(&graph)?;
    let total = graph.steps.len();
    let mut records: Vec<Option<StepRecord>> = vec![None; total];
    let mut scheduler = Scheduler::new(&graph);
    let mut running = 0usize;
    let mut done = 0usize;
    let (sender, receiver) = mpsc::channel::<(usize, StepRecord, Vec<(usize, StepRecord)>)>();
    let hash_cache = Arc::new(FileHashCache::default());
    let jobs = options.jobs.max(1);
    let finals: std::collections::HashSet<&str> = graph
        .final_steps()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    while done < total {
        if interrupted.load(Ordering::SeqCst) {
            return Err(BuildError::Interrupted);
        }
        while running < jobs {
            let Some(index) = scheduler.next_ready() else {
                break;
            };
            let step = &graph.steps[index];
            if let Some(blocker) = failed_dep(&graph, step, &records) {
                let record = skipped(step, format!("not run: dep `{blocker}` did not succeed"));
                done += 1;
                on_event(BuildEvent::Finished {
                    record: Box::new(record.clone()),
                    done,
                    total,
                });
                records[index] = Some(record);
                scheduler.finished(index);
                continue;
            }
            running += 1;
            on_event(BuildEvent::Started {
                step: step.name.clone(),
            });
            let job = StepJob {
                graph: Arc::clone(&graph),
                store: Arc::clone(&store),
                sandbox: Arc::clone(&sandbox),
                options: options.clone(),
                hash_cache: Arc::clone(&hash_cache),
                index,
                reruns: cached_dep_reruns(&graph, step, &records),
                is_final: finals.contains(step.name.as_str()),
                reran: Default::default(),
            };
            let deps = dep_inputs(&graph, step, &records);
            let dep_outputs = dep_trees(&graph, step, &records);
            let sender = sender.clone();
            std::thread::spawn(move || {
                let record = job.run(deps, dep_outputs);
                let reran = job.take_reran();
                let _ = sender.send((index, record, reran));
            });
        }
        if running == 0 {
            // Nothing runs and nothing is ready: only possible if every remaining step
            // was skipped above, which the loop condition then ends.
            if scheduler.is_idle() {
                break;
            }
            continue;
        }
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok((index, record, reran)) => {
                // Cached deps this step had to run again: the manifest says they ran.
                for (dep, dep_record) in reran {
                    records[dep] = Some(dep_record);
                }
                running -= 1;
                done += 1;
                on_event(BuildEvent::Finished {
                    record: Box::new(record.clone()),
                    done,
                    total,
                });
                records[index] = Some(record);
                scheduler.finished(index);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let steps: Vec<StepRecord> = records.into_iter().flatten().collect();
    if steps.iter().any(|s| s.status == StepStatus::Ran) {
        // The build's blobs and action entries become durable before its manifest.
        store.sync()?;
    }
    let finished = chrono::Utc::now();
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA.to_string(),
        id: crate::model::manifest::new_build_id(started),
        graph: graph_relative_name(&graph),
        graph_id: Some(crate::model::manifest::GraphId::of_file(&graph.file)),
        started: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished: finished.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        host: Host::current(),
        variations: options.profile.describe(),
        steps,
    };
    if options.record_manifest {
        let path = store.builds_dir().join(format!("{}.json", manifest.id));
        store.write_atomic(&path, manifest.to_json().as_bytes())?;
    }
    Ok(manifest)
}

/// Runs one step alone, without looking in the cache, its deps' outputs taken from the
/// given records (by dep name): `check` uses it to judge a step on the first build's
/// inputs and to bisect variations.
pub fn run_one(
    graph: Arc<Graph>,
    store: Arc<Store>,
    sandbox: Arc<Sandbox>,
    options: &BuildOptions,
    index: usize,
    dep_records: &[&StepRecord],
) -> StepRecord {
    let mut records: Vec<Option<StepRecord>> = vec![None; graph.steps.len()];
    for record in dep_records {
        if let Some(position) = graph.position(&record.name) {
            records[position] = Some((*record).clone());
        }
    }
    let step = &graph.steps[index];
    let deps = dep_inputs(&graph, step, &records);
    let dep_outputs = dep_trees(&graph, step, &records);
    let mut options = options.clone();
    options.use_cache = false;
    let job = StepJob {
        graph: Arc::clone(&graph),
        store,
        sandbox,
        options,
        hash_cache: Arc::new(FileHashCache::default()),
        index,
        reruns: Vec::new(),
        is_final: false,
        reran: Default::default(),
    };
    job.run(deps, dep_outputs)
}

/// Tracks which steps are ready: a count of unfinished deps per step, and the ready
/// ones in topological order.
struct Scheduler {
    pending_deps: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    ready: BTreeSet<usize>,
}

impl Scheduler {
    fn new(graph: &Graph) -> Scheduler {
        let total = graph.steps.len();
        let mut pending_deps = vec![0; total];
        let mut dependents = vec![Vec::new(); total];
        for (index, step) in graph.steps.iter().enumerate() {
            for dep in &step.deps {
                if let Some(position) = graph.position(dep) {
                    pending_deps[index] += 1;
                    dependents[position].push(index);
                }
            }
        }
        let ready = (0..total).filter(|&i| pending_deps[i] == 0).collect();
        Scheduler {
            pending_deps,
            dependents,
            ready,
        }
    }

    fn next_ready(&mut self) -> Option<usize> {
        self.ready.pop_first()
    }

    fn finished(&mut self, index: usize) {
        for &child in &self.dependents[index] {
            self.pending_deps[child] -= 1;
            if self.pending_deps[child] == 0 {
                self.ready.insert(child);
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.ready.is_empty()
    }
}

fn graph_relative_name(graph: &Graph) -> String {
    graph.file.file_name().map_or_else(
        || "reprobe.toml".to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn failed_dep<'g>(
    graph: &Graph,
    step: &'g Step,
    records: &[Option<StepRecord>],
) -> Option<&'g str> {
    step.deps.iter().map(String::as_str).find(|dep| {
        graph
            .position(dep)
            .and_then(|p| records[p].as_ref())
            .is_none_or(|r| r.content_hash.is_none())
    })
}

fn dep_record<'r>(
    graph: &Graph,
    dep: &str,
    records: &'r [Option<StepRecord>],
) -> Option<&'r StepRecord> {
    graph.position(dep).and_then(|p| records[p].as_ref())
}

fn dep_inputs(graph: &Graph, step: &Step, records: &[Option<StepRecord>]) -> Vec<InputDep> {
    step.deps
        .iter()
        .filter_map(|dep| {
            let record = dep_record(graph, dep, records)?;
            Some(InputDep {
                step: dep.clone(),
                content_hash: record.content_hash?,
                derivation_hash: record.derivation_hash?,
            })
        })
        .collect()
}

fn dep_trees(graph: &Graph, step: &Step, records: &[Option<StepRecord>]) -> Vec<TreeEntry> {
    step.deps
        .iter()
        .filter_map(|dep| dep_record(graph, dep, records))
        .flat_map(|r| r.outputs.iter().cloned())
        .collect()
}

/// What a step needs to re-run one of its deps that came from the cache, should a blob
/// of that dep's outputs turn out corrupt (or gone) when it is placed in the work
/// directory: the dep's own deps and their outputs.
#[derive(Debug, Clone)]
struct DepRerun {
    index: usize,
    content_hash: ContentHash,
    outputs: Vec<TreeEntry>,
    deps: Vec<InputDep>,
    dep_outputs: Vec<TreeEntry>,
}

/// The [`DepRerun`]s of a step's cached deps (steps that ran in this build just wrote
/// their blobs, so only cached ones are prepared for).
fn cached_dep_reruns(graph: &Graph, step: &Step, records: &[Option<StepRecord>]) -> Vec<DepRerun> {
    step.deps
        .iter()
        .filter_map(|dep| {
            let index = graph.position(dep)?;
            let record = records[index].as_ref().filter(|r| r.cached)?;
            let dep_step = &graph.steps[index];
            Some(DepRerun {
                index,
                content_hash: record.content_hash?,
                outputs: record.outputs.clone(),
                deps: dep_inputs(graph, dep_step, records),
                dep_outputs: dep_trees(graph, dep_step, records),
            })
        })
        .collect()
}

/// Why a work directory could not be prepared.
enum PrepareError {
    /// A dep's output blob is corrupt or missing in the store (a corrupt one has been
    /// removed by [`Store::copy_blob`]).
    BadDepBlob { hash: FileHash, why: String },
    /// Anything else.
    Other(String),
}

impl From<String> for PrepareError {
    fn from(why: String) -> Self {
        PrepareError::Other(why)
    }
}

fn skipped(step: &Step, why: String) -> StepRecord {
    StepRecord {
        name: step.name.clone(),
        status: StepStatus::Skipped,
        cached: false,
        input_hash: None,
        derivation_hash: None,
        content_hash: None,
        inputs: None,
        outputs: Vec::new(),
        duration_ms: 0,
        exit: None,
        findings: SandboxFindings::default(),
        error: Some(why),
        stderr_tail: None,
        notes: Vec::new(),
    }
}

/// One step's run, owned by its worker thread.
struct StepJob {
    graph: Arc<Graph>,
    store: Arc<Store>,
    sandbox: Arc<Sandbox>,
    options: BuildOptions,
    hash_cache: Arc<FileHashCache>,
    index: usize,
    reruns: Vec<DepRerun>,
    /// No step depends on this one: its outputs are what `--out` exports.
    is_final: bool,
    /// The records of cached deps this step ran again (a blob of theirs was bad).
    reran: std::sync::Mutex<Vec<(usize, StepRecord)>>,
}

impl StepJob {
    fn step(&self) -> &Step {
        &self.graph.steps[self.index]
    }

    fn run(&self, deps: Vec<InputDep>, dep_outputs: Vec<TreeEntry>) -> StepRecord {
        let step = self.step();
        let mut record = skipped(step, String::new());
        record.error = None;
        let inputs = match inputs::gather(step, &self.graph.root, deps, &self.hash_cache) {
            Ok(inputs) => inputs,
            Err(err) => return failed(record, err.to_string(), None),
        };
        record.input_hash = Some(inputs.input_hash());
        record.derivation_hash = Some(inputs.derivation_hash());
        record.inputs = Some(inputs.clone());
        if let Some(key) = record.input_hash.filter(|_| self.options.use_cache) {
            match self.store.lookup(&key) {
                Ok(Lookup::Hit(entry)) => {
                    if let Some(blob) = self.bad_final_blob(&entry) {
                        let why = "was corrupt (removed from the store)";
                        record.notes.push(rerun_note(&blob, why));
                    } else if step.network || entry.observed.covers(&self.observed()) {
                        record.status = StepStatus::Cached;
                        record.cached = true;
                        record.content_hash = Some(entry.content_hash);
                        record.outputs = entry.outputs;
                        record.duration_ms = entry.duration_ms;
                        record.findings = entry.findings;
                        return record;
                    }
                }
                Ok(Lookup::Broken { blob, why }) => record.notes.push(rerun_note(&blob, &why)),
                Ok(Lookup::Miss) => {}
                Err(err) => return failed(record, err.to_string(), None),
            }
        }
        self.run_in_sandbox(record, &inputs, &dep_outputs)
    }

    /// What this build observes in its steps (after `REPROBE_OBSERVE`), as kept with
    /// cache entries.
    fn observed(&self) -> Observed {
        let observation = Observation::from_env(self.options.observe_work_names);
        Observed {
            network: observation.network,
            files: observation.files,
            work_names: observation.work_names,
        }
    }

    /// The blob that keeps the hit from being taken: a final step's output blob, about
    /// to be exported, that is corrupt (now removed) or unreadable.
    fn bad_final_blob(&self, entry: &ActionEntry) -> Option<FileHash> {
        if !self.options.verify_final_outputs || !self.is_final {
            return None;
        }
        entry
            .outputs
            .iter()
            .filter_map(|e| e.sha256)
            .find(|hash| !self.store.blob_is_intact(hash).unwrap_or(false))
    }

    /// The records of the cached deps this step ran again.
    fn take_reran(&self) -> Vec<(usize, StepRecord)> {
        self.reran
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    fn run_in_sandbox(
        &self,
        mut record: StepRecord,
        inputs: &StepInputs,
        dep_outputs: &[TreeEntry],
    ) -> StepRecord {
        let step = self.step();
        let temp = match &self.options.work_root {
            Some(base) => self.store.temp_dir_in(base, &step.name),
            None => self.store.temp_dir(&step.name),
        };
        let temp = match temp {
            Ok(dir) => dir,
            Err(err) => return failed(record, err.to_string(), None),
        };
        let work = temp.join("work");
        let result = self
            .prepare_with_reruns(&work, inputs, dep_outputs)
            .and_then(|_| {
                let spec = self.spec(&temp, &work);
                self.sandbox
                    .run(&spec)
                    .map_err(|e| format!("sandbox: {e}"))
                    .map(|outcome| (outcome, spec))
            });
        let (outcome, spec) = match result {
            Ok(ok) => ok,
            Err(err) => {
                remove_tree(&temp);
                return failed(record, err, None);
            }
        };
        record.duration_ms = outcome.duration.as_millis() as u64;
        record.exit = Some(exit_record(outcome.status));
        record.findings = outcome.findings;
        let exited_failing = matches!(outcome.status, StepExit::Exited(code) if code != 0);
        if exited_failing
            && !spec.observation.work_names
            && spec.observation.network
            && !step.network
        {
            let found = self.explain_failure(inputs, dep_outputs);
            let undeclared = &mut record.findings.undeclared;
            undeclared.extend(found);
            undeclared.sort();
            undeclared.dedup();
        }
        let record = if outcome.status.success() {
            if let Some(limit) = outcome.exceeded {
                record.findings.limits.push(limit.to_string());
            }
            self.collect_outputs(record, &work)
        } else {
            let timeout = self.options.profile.limits.timeout(step);
            let mut why = describe_failure(outcome.status, outcome.exceeded, timeout);
            if let Some(hint) = undeclared_hint(&step.name, &record.findings.undeclared) {
                why = format!("{why}; {hint}");
            }
            failed(record, why, Some(&spec.stderr))
        };
        if record.status != StepStatus::Failed || !self.options.keep_failed {
            remove_tree(&temp);
        }
        record
    }

    /// Runs a failed step once more with file opens observed, in a fresh work directory,
    /// and returns the undeclared paths it tried (the likely reason of the failure).
    fn explain_failure(&self, inputs: &StepInputs, dep_outputs: &[TreeEntry]) -> Vec<String> {
        let step = self.step();
        let Ok(temp) = self.store.temp_dir(&format!("{}-explain", step.name)) else {
            return Vec::new();
        };
        let work = temp.join("work");
        let found = self
            .prepare_workdir(&work, inputs, dep_outputs)
            .ok()
            .and_then(|_| {
                let mut spec = self.spec(&temp, &work);
                spec.observation.files = true;
                spec.observation.work_names = true;
                self.sandbox.run(&spec).ok()
            })
            .map(|outcome| outcome.findings.undeclared)
            .unwrap_or_default();
        remove_tree(&temp);
        found
    }

    fn spec(&self, temp: &Path, work: &Path) -> SandboxSpec {
        let step = self.step();
        let profile = &self.options.profile;
        let timeout = profile.limits.timeout(step);
        SandboxSpec {
            argv: step.command.argv_at(&profile.workdir().to_string_lossy()),
            env: profile.environment(step),
            host_workdir: work.to_path_buf(),
            workdir: profile.workdir(),
            hidden: vec![self.graph.root.clone(), self.store.root().to_path_buf()],
            hostname: profile.hostname.clone(),
            domainname: profile.domainname.clone(),
            user: profile.user.clone(),
            umask: profile.umask,
            cpus: profile.cpus,
            network: step.network,
            timeout_secs: timeout.as_secs_f64(),
            limits: profile.limits.limits(step),
            stdout: temp.join("stdout"),
            stderr: temp.join("stderr"),
            observation: Observation {
                project_root: Some(self.graph.root.clone()),
                // The store, and the step's own outputs: a tool that opens its output
                // before writing it (`ar r`) reads nothing undeclared.
                ignored: std::iter::once(self.store.root().to_path_buf())
                    .chain(step.outputs.iter().map(|o| self.graph.root.join(o)))
                    .collect(),
                static_programs: profile.clock_shim,
                ..Observation::from_env(self.options.observe_work_names)
            },
            clock_offset_secs: profile.shim_offset(),
        }
    }

    /// Prepares the work directory; when a cached dep's output blob is corrupt or gone,
    /// re-runs that dep once (which stores its outputs again) and tries again. A corrupt
    /// blob is thus rebuilt, never served.
    fn prepare_with_reruns(
        &self,
        work: &Path,
        inputs: &StepInputs,
        dep_outputs: &[TreeEntry],
    ) -> Result<(), String> {
        let mut rerun = BTreeSet::new();
        loop {
            let (hash, why) = match self.prepare_workdir(work, inputs, dep_outputs) {
                Ok(()) => return Ok(()),
                Err(PrepareError::Other(why)) => return Err(why),
                Err(PrepareError::BadDepBlob { hash, why }) => (hash, why),
            };
            let owner = self.reruns.iter().find(|d| {
                !rerun.contains(&d.index) && d.outputs.iter().any(|o| o.sha256 == Some(hash))
            });
            let Some(dep) = owner else {
                return Err(why);
            };
            rerun.insert(dep.index);
            self.rerun_dep(dep, &why)?;
            remove_tree(work);
        }
    }

    /// Runs a cached dep again, without the cache; its content must be what the cache
    /// said, or this step's input hash would be wrong.
    fn rerun_dep(&self, dep: &DepRerun, why: &str) -> Result<(), String> {
        let mut options = self.options.clone();
        options.use_cache = false;
        let job = StepJob {
            graph: Arc::clone(&self.graph),
            store: Arc::clone(&self.store),
            sandbox: Arc::clone(&self.sandbox),
            options,
            hash_cache: Arc::clone(&self.hash_cache),
            index: dep.index,
            reruns: Vec::new(),
            is_final: false,
            reran: Default::default(),
        };
        let name = &self.graph.steps[dep.index].name;
        let mut record = job.run(dep.deps.clone(), dep.dep_outputs.clone());
        record.notes.push(format!(
            "not taken from the cache, ran again: {why} (found while preparing step `{}`)",
            self.step().name
        ));
        if let Ok(mut reran) = self.reran.lock() {
            reran.push((dep.index, record.clone()));
        }
        match record.content_hash {
            Some(hash) if hash == dep.content_hash => Ok(()),
            Some(hash) => Err(format!(
                "{why}; dep `{name}` was re-run to rebuild it but produced other content ({hash}, the cache had {}): it is not reproducible; run the build again to use its new output",
                dep.content_hash
            )),
            None => Err(format!(
                "{why}; dep `{name}` was re-run to rebuild it and failed: {}",
                record.error.unwrap_or_default()
            )),
        }
    }

    /// Fills the work directory with the declared inputs and the deps' outputs.
    fn prepare_workdir(
        &self,
        work: &Path,
        inputs: &StepInputs,
        dep_outputs: &[TreeEntry],
    ) -> Result<(), PrepareError> {
        fs::create_dir_all(work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let mut files: Vec<_> = inputs.files.iter().collect();
        if self.options.profile.reverse_file_order {
            files.reverse();
        }
        let project = inputs::open_root(&self.graph.root)
            .map_err(|e| format!("cannot open {}: {e}", self.graph.root.display()))?;
        let work_fd = crate::fsafe::beneath::open_root(work)
            .map_err(|e| format!("cannot open {}: {e}", work.display()))?;
        for file in files {
            self.place_input(project.as_fd(), work_fd.as_fd(), file)
                .map_err(|e| format!("input `{}`: {e}", file.path))?;
        }
        let mut entries: Vec<&TreeEntry> = dep_outputs.iter().collect();
        if self.options.profile.reverse_file_order {
            entries.reverse();
            entries.sort_by_key(|e| e.kind != EntryType::Dir);
        }
        for entry in entries {
            self.materialize(work, entry).map_err(|e| match e {
                PrepareError::BadDepBlob { hash, why } => PrepareError::BadDepBlob {
                    hash,
                    why: format!("dep output `{}`: {why}", entry.path),
                },
                PrepareError::Other(why) => {
                    PrepareError::Other(format!("dep output `{}`: {why}", entry.path))
                }
            })?;
        }
        if self.options.profile.clock_offset_secs != 0 {
            shift_mtimes(work, -self.options.profile.clock_offset_secs)
                .map_err(|e| format!("clock variation: {e}"))?;
        }
        Ok(())
    }

    fn materialize(&self, work: &Path, entry: &TreeEntry) -> Result<(), PrepareError> {
        let result = self.store.materialize_entry(work, entry, entry.mode);
        match (result, entry.sha256) {
            (Ok(()), _) => Ok(()),
            (Err(err), Some(hash)) if entry.kind == EntryType::File => Err(blob_error(hash, err)),
            (Err(err), _) => Err(PrepareError::Other(err.to_string())),
        }
    }

    /// Puts one input into the work directory: a link as the same link, a file copied
    /// from the project through a handle opened below it (never through a link leading
    /// out), checked against the hash the key was computed with, and kept in the store.
    fn place_input(
        &self,
        project: BorrowedFd<'_>,
        work: BorrowedFd<'_>,
        file: &inputs::InputFile,
    ) -> Result<(), String> {
        let (dir, name) =
            crate::fsafe::beneath::make_parents(work, &file.path).map_err(|e| e.to_string())?;
        let entry = inputs::open_input(project, &self.step().name, &file.path)
            .map_err(|e| e.to_string())?;
        match (entry, &file.link) {
            (inputs::InputEntry::Link(target), Some(expected)) if target == *expected => {
                crate::fsafe::beneath::symlink_at(&target, dir.as_fd(), name)
                    .map_err(|e| e.to_string())
            }
            (inputs::InputEntry::File(mut source), None) => {
                copy_input(&mut source, dir.as_fd(), name, &file.sha256)
                    .map_err(|e| e.to_string())?;
                if !self.store.has_blob(&file.sha256) {
                    source.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
                    self.store
                        .ingest_open_file(&mut source, &self.graph.root.join(&file.path))
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            _ => Err(CHANGED_DURING_BUILD.to_string()),
        }
    }

    fn collect_outputs(&self, mut record: StepRecord, work: &Path) -> StepRecord {
        let step = self.step();
        let store = &self.store;
        let entries = match tree::scan_outputs(work, &step.outputs, |file| {
            store
                .ingest_open_file(file, work)
                .map_err(|e| std::io::Error::other(e.to_string()))
        }) {
            Ok(entries) => entries,
            Err(err) => return failed(record, err.to_string(), None),
        };
        if let Some(expected) = step.sha256 {
            if let Some(err) = check_fixed_output(&entries, &expected) {
                return failed(record, err, None);
            }
        }
        let content_hash = tree::content_hash(&entries);
        record.status = StepStatus::Ran;
        record.content_hash = Some(content_hash);
        record.outputs = entries;
        if let (true, Some(input_hash), Some(derivation_hash)) = (
            self.options.record_cache,
            record.input_hash,
            record.derivation_hash,
        ) {
            let entry = ActionEntry {
                schema: ACTION_SCHEMA.to_string(),
                input_hash,
                derivation_hash,
                content_hash,
                outputs: record.outputs.clone(),
                duration_ms: record.duration_ms,
                findings: record.findings.clone(),
                observed: self.observed(),
            };
            if let Err(err) = self.store.record_action(&entry) {
                return failed(record, err.to_string(), None);
            }
        }
        record
    }
}

/// Why a step that had a cache entry ran again, for its manifest record.
fn rerun_note(blob: &FileHash, why: &str) -> String {
    format!("not taken from the cache, ran again: its cached output blob {blob} {why}")
}

/// Sorts a failure to copy a blob: corrupt or missing means "rebuild the dep".
fn blob_error(hash: FileHash, err: StoreError) -> PrepareError {
    let bad = match &err {
        StoreError::CorruptBlob(_) => true,
        StoreError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    };
    if bad {
        PrepareError::BadDepBlob {
            hash,
            why: err.to_string(),
        }
    } else {
        PrepareError::Other(err.to_string())
    }
}

fn check_fixed_output(entries: &[TreeEntry], expected: &FileHash) -> Option<String> {
    let actual = entries
        .iter()
        .find(|e| e.kind == EntryType::File)
        .and_then(|e| e.sha256);
    match actual {
        Some(actual) if actual == *expected => None,
        Some(actual) => Some(format!(
            "fixed-output hash mismatch: declared sha256 {expected}, got {actual}; update `sha256` only if the new content is trusted"
        )),
        None => Some("a fixed-output step must produce one regular file".to_string()),
    }
}

/// What a changed input is told with.
const CHANGED_DURING_BUILD: &str = "the file changed while the build was running";

/// Copies an open input file into the new file `name` of `dir` (with its permission
/// bits), checking that its bytes still hash to `expected`.
fn copy_input(
    source: &mut fs::File,
    dir: BorrowedFd<'_>,
    name: &str,
    expected: &FileHash,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = source.metadata()?.permissions().mode();
    let dest = crate::fsafe::beneath::create_file_at(dir, name, mode)?;
    // The creation mode went through the umask: set the bits as the source has them.
    dest.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
    let actual = crate::model::hash::hash_reader(HashingCopy {
        from: source,
        to: dest,
    })?;
    if actual.0 != *expected {
        return Err(std::io::Error::other(CHANGED_DURING_BUILD));
    }
    Ok(())
}

/// A reader that writes what it reads to `to`: one pass copies and hashes.
struct HashingCopy<'f> {
    from: &'f mut fs::File,
    to: fs::File,
}

impl Read for HashingCopy<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.from.read(buffer)?;
        std::io::Write::write_all(&mut self.to, &buffer[..n])?;
        Ok(n)
    }
}

/// Sets every file's mtime in the work directory to now + `offset` seconds, as if the
/// inputs had been checked out at that time. `check` passes a negative offset: inputs
/// older than anything the step writes, so make and ninja see nothing out of date.
fn shift_mtimes(work: &Path, offset: i64) -> std::io::Result<()> {
    let now = std::time::SystemTime::now();
    let shifted = if offset >= 0 {
        now + Duration::from_secs(offset.unsigned_abs())
    } else {
        now - Duration::from_secs(offset.unsigned_abs())
    };
    for entry in walkdir::WalkDir::new(work).min_depth(1) {
        let entry = entry.map_err(std::io::Error::other)?;
        if entry.file_type().is_file() {
            fs::File::options()
                .write(true)
                .open(entry.path())?
                .set_modified(shifted)?;
        }
    }
    Ok(())
}

fn exit_record(status: StepExit) -> ExitRecord {
    match status {
        StepExit::Exited(code) => ExitRecord::Exited { code },
        StepExit::Signaled(signal) => ExitRecord::Signaled { signal },
        StepExit::TimedOut => ExitRecord::TimedOut,
    }
}

/// Why a step failed: the limit it ran into, if any, and how it ended.
fn describe_failure(
    status: StepExit,
    exceeded: Option<LimitExceeded>,
    timeout: Duration,
) -> String {
    let ended = match status {
        StepExit::Exited(code) => format!("exited with status {code}"),
        StepExit::Signaled(signal) => format!("killed by signal {signal}"),
        StepExit::TimedOut => {
            format!("timed out after {timeout:?}; raise `timeout` in the graph if it needs longer")
        }
    };
    match (exceeded, status) {
        (None, _) => ended,
        (Some(limit), StepExit::TimedOut) => format!("{ended} (before that, {limit})"),
        (Some(limit), _) => format!("{limit} ({ended})"),
    }
}

/// The likely reason of a failure: "step `compile` tried to open src/config.h, which is
/// not in its inputs".
pub fn undeclared_hint(step: &str, undeclared: &[String]) -> Option<String> {
    // Project paths are relative; the others (/etc, home directories) cannot be inputs.
    let (project, host): (Vec<&String>, Vec<&String>) =
        undeclared.iter().partition(|p| !p.starts_with('/'));
    let join = |paths: &[&String]| {
        paths
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !project.is_empty() {
        let verb = if project.len() == 1 { "is" } else { "are" };
        parts.push(format!(
            "step `{step}` tried to open {}, which {verb} not in its inputs",
            join(&project)
        ));
    }
    if !host.is_empty() {
        let who = if parts.is_empty() {
            format!("step `{step}`")
        } else {
            "it also".to_string()
        };
        parts.push(format!(
            "{who} read or tried to read {} (outside the project)",
            join(&host)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn failed(mut record: StepRecord, why: String, stderr: Option<&Path>) -> StepRecord {
    record.status = StepStatus::Failed;
    record.cached = false;
    record.content_hash = None;
    record.outputs.clear();
    record.error = Some(why);
    record.stderr_tail = stderr.and_then(|p| tail_lines(p, STDERR_TAIL_LINES));
    record
}

/// The last `n` lines of a file, reading at most its last 64 KiB.
pub fn tail_lines(path: &Path, n: usize) -> Option<String> {
    let mut file = fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(64 * 1024);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    (!tail.trim().is_empty()).then_some(tail)
}

/// How many files and symbolic links `--out` exported.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    /// Regular files.
    pub files: usize,
    /// Symbolic links (copied as links, never followed).
    pub links: usize,
}

/// Copies the declared outputs of the graph's final steps into `dir` (for `--out`).
pub fn export_final_outputs(
    graph: &Graph,
    manifest: &Manifest,
    store: &Store,
    dir: &Path,
) -> Result<Exported, String> {
    let mut exported = Exported::default();
    for step in graph.final_steps() {
        let Some(record) = manifest.step(&step.name) else {
            continue;
        };
        for entry in &record.outputs {
            store
                .materialize_entry(dir, entry, entry.mode)
                .map_err(|e| e.to_string())?;
            match entry.kind {
                EntryType::File => exported.files += 1,
                EntryType::Symlink => exported.links += 1,
                EntryType::Dir => {}
            }
        }
    }
    Ok(exported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_hint_tells_project_files_from_host_files() {
        let hint = |paths: &[&str]| {
            let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
            undeclared_hint("compile", &paths)
        };
        assert_eq!(hint(&[]), None);
        assert_eq!(
            hint(&["src/config.h"]).unwrap(),
            "step `compile` tried to open src/config.h, which is not in its inputs"
        );
        assert_eq!(
            hint(&["/etc/hostname", "src/a.h", "src/b.h"]).unwrap(),
            "step `compile` tried to open src/a.h, src/b.h, which are not in its inputs; \
             it also read or tried to read /etc/hostname (outside the project)"
        );
        assert_eq!(
            hint(&["/root/.netrc"]).unwrap(),
            "step `compile` read or tried to read /root/.netrc (outside the project)"
        );
    }

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

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("err");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        fs::write(&path, text).unwrap();
        let tail = tail_lines(&path, 3).unwrap();
        assert_eq!(tail, "line 97\nline 98\nline 99");
    }
}
