//! One step's run, owned by its worker thread: its key computed, the action cache
//! consulted, its work directory prepared (re-running a cached dep whose blob turns out
//! bad), the sandbox run, its outputs collected into the store and its record made.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::failure::{describe_failure, exit_record, failed, undeclared_hint};
use super::options::BuildOptions;
use super::slots::Slots;
use super::workdir::{PrepareError, WorkdirSources};
use crate::engine::remote_cache::Fill;
use crate::model::findings::{Observed, SandboxFindings};
use crate::model::graph::{Graph, Step};
use crate::model::hash::InputHash;
use crate::model::hash::{ContentHash, FileHash};
use crate::model::inputs::{self, FileHashCache, InputDep, StepInputs};
use crate::model::manifest::{CacheSource, StepRecord, StepStatus};
use crate::model::tree::{self, EntryType, TreeEntry};
use crate::sandbox::{Observation, Sandbox, SandboxSpec, StepExit};
use crate::store::{remove_tree, ActionEntry, Lookup, Store, ACTION_SCHEMA};

/// What a step needs to re-run one of its deps that came from the cache, should a blob
/// of that dep's outputs turn out corrupt (or gone) when it is placed in the work
/// directory: the dep's own deps and their outputs.
#[derive(Debug, Clone)]
pub(super) struct DepRerun {
    pub(super) index: usize,
    pub(super) content_hash: ContentHash,
    pub(super) outputs: Vec<TreeEntry>,
    pub(super) deps: Vec<InputDep>,
    pub(super) dep_outputs: Vec<TreeEntry>,
}

/// The record of a step that did not run, saying why.
pub(super) fn skipped(step: &Step, why: String) -> StepRecord {
    StepRecord {
        name: step.name.clone(),
        status: StepStatus::Skipped,
        cached: false,
        cache_source: None,
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
pub(super) struct StepJob {
    pub(super) graph: Arc<Graph>,
    pub(super) store: Arc<Store>,
    pub(super) sandbox: Arc<Sandbox>,
    pub(super) options: BuildOptions,
    pub(super) hash_cache: Arc<FileHashCache>,
    pub(super) index: usize,
    pub(super) reruns: Vec<DepRerun>,
    /// No step depends on this one: its outputs are what `--out` exports.
    pub(super) is_final: bool,
    /// The records of cached deps this step ran again (a blob of theirs was bad).
    pub(super) reran: std::sync::Mutex<Vec<(usize, StepRecord)>>,
    /// The build's sandbox-run slots (`None`: a step run inside another's, or alone).
    pub(super) run_slots: Option<Arc<Slots>>,
}

impl StepJob {
    fn step(&self) -> &Step {
        &self.graph.steps[self.index]
    }

    pub(super) fn run(&self, deps: Vec<InputDep>, dep_outputs: Vec<TreeEntry>) -> StepRecord {
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
            let (lookup, source) = self.lookup(&key, &mut record);
            match lookup {
                Ok(Lookup::Hit(entry)) => {
                    if let Some(blob) = self.bad_final_blob(&entry) {
                        let why = "was corrupt (removed from the store)";
                        record.notes.push(rerun_note(&blob, why));
                    } else if step.network || entry.observed.covers(&self.observed()) {
                        record.status = StepStatus::Cached;
                        record.cached = true;
                        record.cache_source = Some(source);
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
        let _slot = self.run_slots.as_ref().map(|slots| slots.take());
        self.run_in_sandbox(record, &inputs, &dep_outputs)
    }

    /// Looks the step up in the local store, then, on a miss, in the remote cache (which
    /// copies a hit into the local store); says which answered. A remote entry that was
    /// refused leaves its note on `record`.
    fn lookup(
        &self,
        key: &InputHash,
        record: &mut StepRecord,
    ) -> (Result<Lookup, crate::store::StoreError>, CacheSource) {
        let local = self.store.lookup(key);
        let Some(remote) = self.options.remote.as_ref().filter(|r| r.is_on()) else {
            return (local, CacheSource::Local);
        };
        let broken = match &local {
            Ok(Lookup::Miss) => None,
            Ok(Lookup::Broken { blob, why }) => Some(rerun_note(blob, why)),
            _ => return (local, CacheSource::Local),
        };
        match remote.fill(&self.store, &self.graph, key, &self.step().outputs) {
            Fill::Filled(entry) => return (Ok(Lookup::Hit(entry)), CacheSource::Remote),
            Fill::Refused(note) => record.notes.push(note),
            Fill::Miss => {}
        }
        record.notes.extend(broken);
        (Ok(Lookup::Miss), CacheSource::Local)
    }

    /// What this build observes in its steps (after `REPROBE_OBSERVE`), as kept with
    /// cache entries.
    fn observed(&self) -> Observed {
        let observation = self.sandbox.observation(self.options.observe_work_names);
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
    pub(super) fn take_reran(&self) -> Vec<(usize, StepRecord)> {
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
                ..self.sandbox.observation(self.options.observe_work_names)
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
            run_slots: None,
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
        let sources = WorkdirSources {
            store: &self.store,
            project_root: &self.graph.root,
            step: &self.step().name,
            profile: &self.options.profile,
        };
        sources.prepare_workdir(work, inputs, dep_outputs)
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
            if let Some(remote) = &self.options.remote {
                remote.publish(&self.store, &step.name, &entry);
            }
        }
        record
    }
}

/// Why a step that had a cache entry ran again, for its manifest record.
fn rerun_note(blob: &FileHash, why: &str) -> String {
    format!("not taken from the cache, ran again: its cached output blob {blob} {why}")
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
