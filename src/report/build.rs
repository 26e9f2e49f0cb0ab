//! The terminal view of a build: the table of steps and the summary on stdout, and the
//! failures and warnings (network attempts, undeclared reads, limits reached) on stderr.

use std::path::Path;

use crate::engine::exec::Exported;
use crate::model::findings::NetworkAttempt;
use crate::model::manifest::{CacheSource, Manifest, StepRecord, StepStatus};
use crate::report::table::{paint, Colour, Table};
use crate::report::text::{printable_argv, seconds};

/// The table of steps: status (with the verdicts its findings give it), time and hashes.
pub(crate) fn table(manifest: &Manifest, colour: bool) -> String {
    let mut table = Table::new(&["STEP", "STATUS", "TIME", "INPUT HASH", "CONTENT HASH"]);
    for step in &manifest.steps {
        let (status, hue) = match step.status {
            StepStatus::Ran => ("ran", Colour::Green),
            StepStatus::Cached if step.cache_source == Some(CacheSource::Remote) => {
                ("cached (remote)", Colour::Yellow)
            }
            StepStatus::Cached => ("cached", Colour::Yellow),
            StepStatus::Failed => ("FAILED", Colour::Red),
            StepStatus::Skipped => ("skipped", Colour::Dim),
        };
        let time = match step.status {
            StepStatus::Ran | StepStatus::Failed => seconds(step.duration_ms),
            _ => "-".to_string(),
        };
        let mut status = paint(status, hue, colour);
        for finding in finding_verdicts(step) {
            status.push(' ');
            status.push_str(&paint(finding, Colour::Red, colour));
        }
        table.row(vec![
            step.name.clone(),
            status,
            time,
            step.input_hash.map_or("-".into(), |h| h.short()),
            step.content_hash.map_or("-".into(), |h| h.short()),
        ]);
    }
    table.render()
}

/// The verdicts of docs/design.md section 6 that a build's findings give a step (`network`,
/// `undeclared`), shown beside its status: a step that tried the network and still
/// succeeded is the most dangerous kind, so it never reads as plain `ran`.
fn finding_verdicts(step: &StepRecord) -> Vec<&'static str> {
    let mut verdicts = Vec::new();
    if !step.findings.network.is_empty() {
        verdicts.push("network");
    }
    if !step.findings.undeclared.is_empty() {
        verdicts.push("undeclared");
    }
    verdicts
}

/// "3 steps: 2 ran, 1 cached", and where the manifest was written.
pub(crate) fn summary(manifest: &Manifest, path: &Path) -> String {
    let count = |status| manifest.steps.iter().filter(|s| s.status == status).count();
    let (ran, cached, failed, skipped) = (
        count(StepStatus::Ran),
        count(StepStatus::Cached),
        count(StepStatus::Failed),
        count(StepStatus::Skipped),
    );
    let mut text = format!("{} steps: {ran} ran, {cached} cached", manifest.steps.len());
    let remote = manifest
        .steps
        .iter()
        .filter(|s| s.cache_source == Some(CacheSource::Remote))
        .count();
    if remote > 0 {
        text.push_str(&format!(" ({remote} from the remote cache)"));
    }
    if failed + skipped > 0 {
        text.push_str(&format!(", {failed} failed, {skipped} skipped"));
    }
    let network = manifest
        .steps
        .iter()
        .filter(|s| !s.findings.network.is_empty())
        .count();
    if network > 0 {
        text.push_str(&format!(", {network} tried the network"));
    }
    if ran == 0 && failed == 0 && skipped == 0 {
        text.push_str(" (nothing to do: every step was a cache hit)");
    }
    format!("{text}\nmanifest: {}", path.display())
}

/// "copied 3 output file(s) of the final steps to DIR" (`--out`).
pub(crate) fn exported(exported: &Exported, dir: &Path) -> String {
    let links = match exported.links {
        0 => String::new(),
        n => format!(" and {n} symbolic link(s)"),
    };
    format!(
        "copied {} output file(s){links} of the final steps to {}",
        exported.files,
        dir.display()
    )
}

/// Each failed step's error and the last lines of its stderr, for stderr.
pub(crate) fn failures(manifest: &Manifest) -> String {
    let mut out = String::new();
    for step in manifest
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
    {
        out.push_str(&format!(
            "reprobe: step `{}` failed: {}\n",
            step.name,
            step.error.as_deref().unwrap_or("unknown error")
        ));
        if let Some(tail) = &step.stderr_tail {
            out.push_str("--- last lines of its stderr ---\n");
            for line in tail.lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out
}

/// The warnings, for stderr: every network attempt, the undeclared reads of steps that
/// did not fail (a failed step's error names them already), and steps that ran again
/// though cached (their notes).
pub(crate) fn warnings(manifest: &Manifest) -> String {
    let mut out = String::new();
    let mut warn = |text: String| out.push_str(&format!("reprobe: warning: {text}\n"));
    for step in &manifest.steps {
        for note in &step.notes {
            warn(format!("step `{}` {note}", step.name));
        }
        for attempt in &step.findings.network {
            warn(describe_attempt(&step.name, attempt));
        }
        if step.findings.network_omitted > 0 {
            warn(format!(
                "step `{}` made {} more distinct network attempts, counted \
                 but not listed (the manifest's `network_omitted`)",
                step.name, step.findings.network_omitted
            ));
        }
        if step.status != StepStatus::Failed && !step.findings.undeclared.is_empty() {
            warn(describe_undeclared(step));
        }
        if step.status != StepStatus::Failed {
            for limit in &step.findings.limits {
                warn(format!(
                    "step `{}` succeeded, yet a limit was reached (a write or fork may have failed unnoticed): {limit}",
                    step.name
                ));
            }
        }
    }
    out
}

/// "step `fetch` tried to reach the network: `curl …` (pid 7) connected to inet
/// 192.0.2.1 port 443 (denied)"; DNS queries name what was looked up.
pub fn describe_attempt(step: &str, attempt: &NetworkAttempt) -> String {
    let process = format!("`{}` (pid {})", printable_argv(&attempt.argv), attempt.pid);
    let destination = if attempt.port == 0 {
        format!("{} {}", attempt.family, attempt.address)
    } else {
        format!(
            "{} {} port {}",
            attempt.family, attempt.address, attempt.port
        )
    };
    match &attempt.dns_name {
        Some(name) => format!(
            "step `{step}` tried to reach the network: {process} looked up {name} at {destination} (denied)"
        ),
        None => format!(
            "step `{step}` tried to reach the network: {process} contacted {destination} (denied)"
        ),
    }
}

fn describe_undeclared(step: &StepRecord) -> String {
    format!(
        "step `{}` read or tried to read paths it did not declare: {}",
        step.name,
        step.findings.undeclared.join(", ")
    )
}
