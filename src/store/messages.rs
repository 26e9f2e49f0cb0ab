//! What the store says on stderr: warnings about what it found wrong and repaired, and
//! `-v` notes (scratch directory choices).

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether `-v` notes of the store (scratch directory choices) are printed.
static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Turns the store's `-v` notes on or off (the command line's `--verbose`).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// A `-v` note on stderr.
pub(super) fn note(message: &str) {
    if VERBOSE.load(Ordering::Relaxed) {
        eprintln!("reprobe: {message}");
    }
}

/// A warning on stderr: something in the store was wrong and has been repaired.
pub(super) fn warn(message: &str) {
    eprintln!("reprobe: warning: {message}");
}
