//! Everything checked before any file is looked at: step names and shapes, environment
//! names, paths, limits, outputs claimed twice or nested in another step's, unknown deps
//! and cycles (through [`super::order`]).

use std::path::Path;

use super::decl::{GraphFile, StepDecl, MAX_PIDS};
use super::order::topological_order;
use super::problem::{step_error, GraphError, Problem};
use crate::model::fasthash::FastMap;
use crate::model::hash::FileHash;
use crate::model::lexical_path::has_empty_or_dot_part;

/// Output path -> the step declaring it (hashed: large graphs look every input up; the
/// keys are the graph file's own paths, so the fast hash of the Ninja import serves).
pub(super) type Producers<'g> = FastMap<&'g str, &'g str>;

/// Everything `Graph::from_file` checks before it looks at files: names, shapes, env,
/// outputs (duplicates and overlaps), deps and cycles. Returns the producers of the
/// outputs and the steps in topological order.
pub(super) fn check_structure<'g>(
    parsed: &'g GraphFile,
    file: &Path,
) -> Result<(Producers<'g>, Vec<&'g str>), GraphError> {
    let graph_error = |problem| GraphError {
        file: file.to_path_buf(),
        step: None,
        problem,
    };
    if parsed.steps.is_empty() {
        return Err(graph_error(Problem::NoSteps));
    }
    for name in parsed.env.keys() {
        check_env_name(name).map_err(graph_error)?;
    }
    let mut producers: Producers =
        FastMap::with_capacity_and_hasher(parsed.steps.len(), Default::default());
    for (name, decl) in &parsed.steps {
        check_step_shape(name, decl).map_err(|p| step_error(file, name, p))?;
        for output in &decl.outputs {
            let key = output.trim_end_matches('/');
            if let Some(other) = producers.insert(key, name) {
                let problem = if other == name {
                    Problem::OutputListedTwice(output.clone())
                } else {
                    Problem::DuplicateOutput {
                        output: output.clone(),
                        other: other.to_string(),
                    }
                };
                return Err(step_error(file, name, problem));
            }
        }
    }
    check_overlapping_outputs(&producers).map_err(|(step, p)| step_error(file, &step, p))?;
    let order = topological_order(&parsed.steps).map_err(|(step, p)| step_error(file, &step, p))?;
    Ok((producers, order))
}

fn check_env_name(name: &str) -> Result<(), Problem> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Err(Problem::BadEnvName(name.to_string()));
    }
    Ok(())
}

fn check_step_shape(name: &str, decl: &StepDecl) -> Result<(), Problem> {
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | ':'));
    if !name_ok {
        return Err(Problem::BadName);
    }
    if decl.run.is_empty() {
        return Err(Problem::EmptyRun);
    }
    if decl.outputs.is_empty() {
        return Err(Problem::NoOutputs);
    }
    for path in decl.outputs.iter().chain(&decl.inputs) {
        check_relative(path)?;
    }
    for key in decl.env.keys() {
        check_env_name(key)?;
    }
    if decl.deps.iter().any(|d| d == name) {
        return Err(Problem::Cycle(vec![name.to_string(), name.to_string()]));
    }
    match (decl.network, &decl.sha256) {
        (true, None) => return Err(Problem::NetworkWithoutSha),
        (false, Some(_)) => return Err(Problem::ShaWithoutNetwork),
        (true, Some(sha)) => {
            sha.parse::<FileHash>()
                .map_err(|_| Problem::BadSha(sha.clone()))?;
            if decl.outputs.len() != 1 {
                return Err(Problem::NetworkOutputs);
            }
        }
        (false, None) => {}
    }
    check_limits(decl)
}

/// `timeout`, `memory`, `disk` and `pids`: each one a value a step can run with.
fn check_limits(decl: &StepDecl) -> Result<(), Problem> {
    if let Some(timeout) = &decl.timeout {
        timeout.to_duration().map_err(|why| Problem::BadTimeout {
            value: timeout.shown(),
            why,
        })?;
    }
    for (key, size) in [("memory", &decl.memory), ("disk", &decl.disk)] {
        if let Some(size) = size {
            size.read().map_err(|why| Problem::BadSize {
                key,
                value: size.shown(),
                why,
            })?;
        }
    }
    match decl.pids {
        Some(0) => Err(Problem::ZeroPids),
        Some(pids) if pids > MAX_PIDS => Err(Problem::TooManyPids(pids)),
        _ => Ok(()),
    }
}

/// Rejects absolute paths and paths that climb out with `..`.
pub fn check_relative(path: &str) -> Result<(), Problem> {
    let bad = |why| {
        Err(Problem::BadPath {
            path: path.to_string(),
            why,
        })
    };
    if path.is_empty() {
        return bad("is empty");
    }
    // On `/`-separated text, what `Path::components` would find, without its cost.
    if path.starts_with('/') {
        return bad("is absolute");
    }
    if !path.starts_with('.') && !has_empty_or_dot_part(path) {
        // No component is empty or starts with a dot: none is `..` or `.`, and the first
        // is a name (the common case, settled without splitting).
        return Ok(());
    }
    if path.split('/').any(|c| c == "..") {
        return bad("escapes with `..`");
    }
    if path.split('/').all(|c| c.is_empty() || c == ".") {
        return bad("names the graph's directory itself");
    }
    Ok(())
}

/// One output inside another output of a different step is as much a clash as a duplicate.
/// Each output's parent directories are looked up among the outputs; the first clash in
/// path order is reported, so the message is the same from run to run.
fn check_overlapping_outputs(producers: &Producers) -> Result<(), (String, Problem)> {
    let enclosing = |output: &str, step: &str| {
        output
            .match_indices('/')
            .filter_map(|(at, _)| producers.get(&output[..at]))
            .find(|&&other| other != step)
            .map(|&other| other.to_string())
    };
    let mut clashes: Vec<(&str, &str, String)> = producers
        .iter()
        .filter_map(|(&output, &step)| Some((output, step, enclosing(output, step)?)))
        .collect();
    clashes.sort_unstable();
    match clashes.into_iter().next() {
        None => Ok(()),
        Some((output, step, other)) => Err((
            step.to_string(),
            Problem::DuplicateOutput {
                output: output.to_string(),
                other,
            },
        )),
    }
}
