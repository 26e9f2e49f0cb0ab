//! What one comparison may spend: memory for the content it holds at once, and time.
//!
//! A budget never hides a difference. Content too large to hold is compared as two
//! streams, in place; an item whose explanation ran out of time is still reported as
//! differing. What a budget cut short is said in a note on the item that starts with
//! [`NOT_COMPARED`], naming the budget: `not compared: budget (memory): ...` or
//! `not compared: budget (time): ...`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How every note about a budget that ran out begins (docs/reliability.md).
pub const NOT_COMPARED: &str = "not compared: budget";

/// The memory and time one comparison may spend, shared by every item it compares.
#[derive(Debug)]
pub(crate) struct Budget {
    /// Most bytes held at once (`--max-memory`).
    limit: u64,
    /// Bytes held now, by [`Held`] reservations.
    held: AtomicU64,
    /// When the whole comparison must be done (`--max-time` after its start).
    deadline: Instant,
    /// The longest one item's explanation may take.
    per_item: Duration,
}

impl Budget {
    /// A budget of `memory` bytes and `time` in all, starting now. One item may take a
    /// third of the time, so that a single pathological item leaves time for the others.
    pub(crate) fn new(memory: u64, time: Duration) -> Arc<Budget> {
        let now = Instant::now();
        Arc::new(Budget {
            limit: memory,
            held: AtomicU64::new(0),
            deadline: now.checked_add(time).unwrap_or(now + FAR),
            per_item: time / 3,
        })
    }

    /// A budget that never runs out (unit tests, and the fuzz targets' defaults).
    #[cfg(test)]
    pub(crate) fn unlimited() -> Arc<Budget> {
        Budget::new(u64::MAX, FAR)
    }

    /// The most bytes held at once.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Reserves `n` bytes until the returned guard is dropped; `None` if they do not fit.
    pub(crate) fn hold(self: &Arc<Self>, n: u64) -> Option<Held> {
        let mut held = Held {
            budget: self.clone(),
            n: 0,
        };
        held.grow(n).then_some(held)
    }

    /// When the item starting now must be explained by: a third of the total time, and
    /// never after the total deadline.
    pub(crate) fn item_deadline(&self) -> Instant {
        Instant::now()
            .checked_add(self.per_item)
            .map_or(self.deadline, |d| d.min(self.deadline))
    }

    /// When one step of an item's explanation (aligning its lines) must stop and take a
    /// coarser answer: a `share`th of an item's time (2 s for a fifth of the default).
    pub(crate) fn step_deadline(&self, share: u32) -> Instant {
        Instant::now()
            .checked_add(self.per_item / share.max(1))
            .map_or(self.deadline, |d| d.min(self.deadline))
    }

    /// Whether the total time ran out.
    pub(crate) fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// A note for content that was not held because the memory budget was spent.
    pub(crate) fn memory_note(&self, what: &str) -> String {
        format!(
            "{NOT_COMPARED} (memory): {what} (--max-memory {})",
            show_bytes(self.limit)
        )
    }

    /// A note for work left undone because time ran out.
    pub(crate) fn time_note(&self, what: &str) -> String {
        format!("{NOT_COMPARED} (time): {what} (--max-time)")
    }
}

/// A time so far ahead that it never comes (about 30 years).
const FAR: Duration = Duration::from_secs(1 << 30);

/// Bytes held in a [`Budget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    budget: Arc<Budget>,
    n: u64,
}

impl Held {
    /// Holds `n` more bytes; false (and nothing more held) if they do not fit.
    pub(crate) fn grow(&mut self, n: u64) -> bool {
        let limit = self.budget.limit;
        let taken = self
            .budget
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                held.checked_add(n).filter(|&total| total <= limit)
            });
        if taken.is_ok() {
            self.n += n;
        }
        taken.is_ok()
    }

    /// Gives back `n` of the bytes held (at most all of them).
    pub(crate) fn release(&mut self, n: u64) {
        let n = n.min(self.n);
        self.budget.held.fetch_sub(n, Ordering::Relaxed);
        self.n -= n;
    }

    /// The bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.n
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.n, Ordering::Relaxed);
    }
}

/// Bytes in binary units: `256 MiB`, `1.5 GiB`, `512 bytes`.
pub(crate) fn show_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Parses a size as `--max-memory` takes it: bytes, or a number with `K`, `M`, `G` or `T`
/// (binary units, an optional `iB` or `B` after them).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (bytes, or a number with K, M, G or T)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("{text:?}: unknown unit (K, M, G or T)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_are_given_back_when_dropped() {
        let budget = Budget::new(100, Duration::from_secs(60));
        let mut first = budget.hold(60).unwrap();
        assert!(budget.hold(50).is_none());
        assert!(!first.grow(41));
        assert!(first.grow(40));
        assert_eq!(first.bytes(), 100);
        first.release(30);
        assert!(budget.hold(30).is_some());
        assert_eq!(first.bytes(), 70);
        drop(first);
        assert!(budget.hold(100).is_some());
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("1X").is_err());
        assert!(parse_size("99999999999T").is_err());
        assert_eq!(show_bytes(256 << 20), "256 MiB");
        assert_eq!(show_bytes(1536 << 20), "1.5 GiB");
    }

    #[test]
    fn an_item_gets_a_third_of_the_time_and_never_more_than_is_left() {
        let budget = Budget::new(1, Duration::from_secs(30));
        let d = budget.item_deadline();
        assert!(d <= Instant::now() + Duration::from_secs(10));
        assert!(!budget.out_of_time());
        let spent = Budget::new(1, Duration::ZERO);
        assert!(spent.out_of_time());
        assert!(spent.item_deadline() <= Instant::now());
    }
}
