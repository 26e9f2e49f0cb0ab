//! One status line on stderr while a long command runs: what is done, what runs now.
//! Only on a terminal, never with `-q` or `--json`, and cleared before any other output.
//!
//! It stays in the command line, not in [`crate::report`]: it belongs to the terminal
//! session rather than to a result. It decides whether stderr is a terminal, redraws one
//! line in place while the engine works, listens to the engine's progress events, and the
//! command must clear it before printing anything else; the report layer only renders
//! finished results.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use crate::engine::check::{CheckEvent, CheckProgress};
use crate::engine::exec::BuildEvent;

/// The status line, shared by the threads that report to it.
pub struct StatusLine {
    enabled: bool,
    shown: Mutex<bool>,
}

/// Widest status line drawn (a terminal wraps anything longer).
const WIDTH: usize = 100;

impl StatusLine {
    /// A status line on stderr, drawn only when stderr is a terminal and not `quiet`.
    pub fn new(quiet: bool) -> StatusLine {
        StatusLine {
            enabled: !quiet && std::io::stderr().is_terminal(),
            shown: Mutex::new(false),
        }
    }

    /// Whether anything is ever drawn.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Replaces the line with `text` (cut to fit).
    pub fn show(&self, text: &str) {
        if !self.enabled {
            return;
        }
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        let line: String = text.chars().take(WIDTH).collect();
        eprint!("\r\x1b[K{line}");
        *shown = true;
    }

    /// Removes the line, if one is drawn.
    pub fn clear(&self) {
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        if *shown {
            eprint!("\r\x1b[K");
            *shown = false;
        }
    }
}

/// "a, b, c (+2)": the names of what runs, as many as fit a status line.
pub fn running_list(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" (+{})", names.len() - SHOWN));
    }
    text
}

/// Progress on stderr: a status line on a terminal ("[3/40] running: a, b"), updated when
/// a step starts and when one ends.
pub(crate) struct BuildProgress {
    line: StatusLine,
    running: Vec<String>,
    done: usize,
    total: usize,
}

impl BuildProgress {
    /// The progress of a build of `total` steps; nothing is drawn when `quiet`.
    pub(crate) fn new(quiet: bool, total: usize) -> BuildProgress {
        BuildProgress {
            line: StatusLine::new(quiet),
            running: Vec::new(),
            done: 0,
            total,
        }
    }

    /// Updates the line after a step started or finished.
    pub(crate) fn event(&mut self, event: BuildEvent) {
        if !self.line.enabled() {
            return;
        }
        match event {
            BuildEvent::Started { step } => self.running.push(step),
            BuildEvent::Finished {
                record,
                done,
                total,
            } => {
                self.running.retain(|s| *s != record.name);
                (self.done, self.total) = (done, total);
            }
        }
        let mut text = format!("[{}/{}]", self.done, self.total);
        if !self.running.is_empty() {
            text.push_str(&format!(" running: {}", running_list(&self.running)));
        }
        self.line.show(&text);
    }

    /// Removes the line.
    pub(crate) fn clear(&mut self) {
        self.line.clear();
    }
}

/// What the builds of a check have done, for its status line.
#[derive(Default)]
struct CheckState {
    /// Per build: steps finished and the steps running now.
    builds: Vec<(usize, Vec<String>)>,
}

/// The progress listener of `check`: "build 1 [3/44] build 2 [2/44] running: a, b", then
/// "judging [5/44] step", then what a re-run is for. `None` when nothing would be drawn.
pub(crate) fn check_progress(
    status: Arc<StatusLine>,
    total: usize,
    rounds: usize,
) -> Option<Box<CheckProgress>> {
    if !status.enabled() {
        return None;
    }
    let state = std::sync::Mutex::new(CheckState {
        builds: vec![(0, Vec::new()); rounds.max(2)],
    });
    Some(Box::new(move |event| {
        let text = match event {
            CheckEvent::Build { round, event } => {
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                let Some((done, running)) = state.builds.get_mut(round - 1) else {
                    return;
                };
                match event {
                    BuildEvent::Started { step } => running.push(step.clone()),
                    BuildEvent::Finished {
                        record, done: n, ..
                    } => {
                        running.retain(|s| *s != record.name);
                        *done = *n;
                    }
                }
                let mut text = String::new();
                let mut all_running = Vec::new();
                for (i, (done, running)) in state.builds.iter().enumerate() {
                    text.push_str(&format!("build {} [{done}/{total}] ", i + 1));
                    all_running.extend(running.iter().cloned());
                }
                all_running.sort();
                all_running.dedup();
                if !all_running.is_empty() {
                    text.push_str(&format!("running: {}", running_list(&all_running)));
                }
                text
            }
            CheckEvent::Judging { step, done, total } => {
                format!("judging [{done}/{total}] {step}")
            }
            CheckEvent::Rerun { step, why } => format!("{step}: {why}"),
        };
        status.show(&text);
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_cut_with_a_count() {
        let names: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(running_list(&names), "a, b, c (+2)");
        assert_eq!(running_list(&names[..1]), "a");
    }
}
