//! What a failed step's record says: how it ended, the limit it ran into, the end of its
//! stderr, and the likely reason (files it tried to open that are not its inputs).

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use crate::model::manifest::{ExitRecord, StepRecord, StepStatus};
use crate::sandbox::{LimitExceeded, StepExit};

/// How many lines of a failed step's stderr are kept.
const STDERR_TAIL_LINES: usize = 20;

/// How a step's process ended, as its record keeps it.
pub(super) fn exit_record(status: StepExit) -> ExitRecord {
    match status {
        StepExit::Exited(code) => ExitRecord::Exited { code },
        StepExit::Signaled(signal) => ExitRecord::Signaled { signal },
        StepExit::TimedOut => ExitRecord::TimedOut,
    }
}

/// Why a step failed: the limit it ran into, if any, and how it ended.
pub(super) fn describe_failure(
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

/// `record` made a failure saying `why`, with the end of the step's stderr when there is one.
pub(super) fn failed(mut record: StepRecord, why: String, stderr: Option<&Path>) -> StepRecord {
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
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("err");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        fs::write(&path, text).unwrap();
        let tail = tail_lines(&path, 3).unwrap();
        assert_eq!(tail, "line 97\nline 98\nline 99");
    }
}
