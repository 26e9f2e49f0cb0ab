//! One status line on stderr while a long command runs: what is done, what runs now.
//! Only on a terminal, never with `-q` or `--json`, and cleared before any other output.

use std::io::IsTerminal;
use std::sync::Mutex;

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
