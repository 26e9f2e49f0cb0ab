//! What a comparison is given: the values known to differ between the two sides
//! ([`KnownValues`], [`TimeWindow`]), its limits ([`DiffOptions`]), and the error for
//! top-level inputs it cannot use ([`DiffError`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// Values known to differ between the two sides, given by `check` (which applied the
/// variations) or by `reprobe diff --known`. Each pair is `(side a, side b)`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KnownValues {
    /// The two build (work) directories.
    pub build_path: Option<(String, String)>,
    /// The two host names.
    pub hostname: Option<(String, String)>,
    /// The two user names.
    pub user: Option<(String, String)>,
    /// The time windows during which each side was built.
    pub clock: Option<(TimeWindow, TimeWindow)>,
    /// The two time zones (e.g. `UTC` and `Pacific/Kiritimati`).
    pub timezone: Option<(String, String)>,
    /// The two locales (e.g. `C.UTF-8` and `en_US.UTF-8`).
    pub locale: Option<(String, String)>,
}

impl KnownValues {
    /// Whether no value is known: `reprobe diff` without `--known`. Only then does the
    /// classifier guess (a prefix swap of two paths is `build_path`); given any known
    /// value, as `check` always gives, attribution is exact.
    pub fn is_empty(&self) -> bool {
        self.build_path.is_none()
            && self.hostname.is_none()
            && self.user.is_none()
            && self.clock.is_none()
            && self.timezone.is_none()
            && self.locale.is_none()
    }

    /// The same values with sides a and b swapped.
    pub fn swapped(&self) -> KnownValues {
        fn swap<T: Clone>(pair: &Option<(T, T)>) -> Option<(T, T)> {
            pair.as_ref().map(|(a, b)| (b.clone(), a.clone()))
        }
        KnownValues {
            build_path: swap(&self.build_path),
            hostname: swap(&self.hostname),
            user: swap(&self.user),
            clock: swap(&self.clock),
            timezone: swap(&self.timezone),
            locale: swap(&self.locale),
        }
    }
}

/// A span of time in unix seconds, both ends included.
///
/// A differing span that parses as a time inside either side's window is attributed to
/// the `clock` variation (docs/design.md section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeWindow {
    /// First second of the window.
    pub start: i64,
    /// Last second of the window.
    pub end: i64,
}

impl TimeWindow {
    /// Whether `t` lies in the window, widened by `slack` seconds on both ends.
    pub fn contains(&self, t: i64, slack: i64) -> bool {
        t >= self.start.saturating_sub(slack) && t <= self.end.saturating_add(slack)
    }
}

/// Limits and known values for one comparison.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Values known to differ between the sides, for exact attribution.
    pub known: KnownValues,
    /// Total bytes that decompression may produce in one comparison (default 4 GiB).
    pub max_expanded_bytes: u64,
    /// Largest expansion ratio of one compressed stream (default 1000).
    pub max_ratio: u64,
    /// Deepest nesting of containers that is opened (default 8).
    pub max_depth: usize,
    /// Most reasons kept for one item (default 50).
    pub max_findings_per_item: usize,
    /// Most lines of a unified diff kept as evidence for one item (default 2000).
    pub max_evidence_lines: usize,
    /// Most bytes of content held in memory at once (default 256 MiB): content that does
    /// not fit is compared as two streams, in place, and explained in windows around its
    /// differences.
    pub max_memory: u64,
    /// Longest time decompression and explanation may take in one comparison (default
    /// 30 s); one item's explanation may take a third of it. Items left when it runs out
    /// are still compared for equality.
    pub max_time: Duration,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            known: KnownValues::default(),
            max_expanded_bytes: 4 << 30,
            max_ratio: 1000,
            max_depth: 8,
            max_findings_per_item: 50,
            max_evidence_lines: 2000,
            max_memory: DEFAULT_MAX_MEMORY,
            max_time: DEFAULT_MAX_TIME,
        }
    }
}

/// The default of [`DiffOptions::max_memory`]: 256 MiB.
pub const DEFAULT_MAX_MEMORY: u64 = 256 << 20;
/// The default of [`DiffOptions::max_time`]: 30 s.
pub const DEFAULT_MAX_TIME: Duration = Duration::from_secs(30);

/// Errors that stop a comparison before it starts: unusable top-level inputs.
///
/// Problems *inside* the inputs (a corrupt archive, a decompression bomb) are not
/// errors: they are reported as notes on the item concerned.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A top-level input does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// A top-level input could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_window_contains_with_slack() {
        let w = TimeWindow { start: 10, end: 20 };
        assert!(w.contains(10, 0) && w.contains(20, 0) && !w.contains(21, 0));
        assert!(w.contains(25, 5));
    }
}
