//! What every format is handed: the [`Format`] trait it implements, and the context of
//! one comparison ([`Cx`]) with its limits, its budgets, and the driver's entry points
//! ([`Recurse`]) for what a format finds inside it.
//!
//! A container compares its members, and a compressed stream its content, through
//! [`Cx::compare_blobs`] and [`Cx::compare_files`]: the driver in `diff/mod.rs` hands
//! itself down in [`Cx`], so no format imports the driver that dispatches to it.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

use super::budget::Budget;
use super::items::{DiffItem, ItemKind};
use super::options::DiffOptions;

/// One registered format: how to recognise it and how to compare two instances.
pub(crate) trait Format: Sync {
    /// The kind of the items this format reports.
    fn kind(&self) -> ItemKind;
    /// Whether `data` (named `name`) is of this format.
    fn detect(&self, name: &str, data: &[u8]) -> bool;
    /// Compares two differing instances; returns the differing items under `path`.
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem>;
}

/// How the driver compares two blobs found at a path.
pub(crate) type CompareBlobs = fn(&str, &[u8], &[u8], &Cx) -> Vec<DiffItem>;

/// How the driver compares two regular files on disk of the sizes given.
pub(crate) type CompareFiles =
    fn(&str, &Path, &Path, (u64, u64), &Cx) -> std::io::Result<Vec<DiffItem>>;

/// The driver's entry points, handed to every format through [`Cx`].
pub(crate) struct Recurse {
    /// Detects the format of content named `name`; `None` means binary.
    pub detect: fn(&str, &[u8]) -> Option<&'static dyn Format>,
    /// Compares two blobs found at `path`, recursing into containers.
    pub compare_blobs: CompareBlobs,
    /// Compares two regular files on disk, reported at `path`, of the sizes given.
    pub compare_files: CompareFiles,
}

/// The context of one comparison: options, nesting depth, the decompression budget,
/// and the memory and time budget.
pub(crate) struct Cx<'a> {
    pub opts: &'a DiffOptions,
    pub depth: usize,
    pub expanded: &'a AtomicU64,
    pub budget: &'a Arc<Budget>,
    /// The driver's entry points, for what a format finds inside it.
    pub recurse: &'a Recurse,
}

impl<'a> Cx<'a> {
    /// The context one container deeper.
    pub fn deeper(&self) -> Cx<'a> {
        Cx {
            opts: self.opts,
            depth: self.depth + 1,
            expanded: self.expanded,
            budget: self.budget,
            recurse: self.recurse,
        }
    }

    /// Detects the format of `data` named `name`; `None` means binary.
    pub fn detect(&self, name: &str, data: &[u8]) -> Option<&'static dyn Format> {
        (self.recurse.detect)(name, data)
    }

    /// Compares two blobs found at `path` (a member, a decompressed stream), recursing
    /// into containers; never empty for differing inputs.
    pub fn compare_blobs(&self, path: &str, a: &[u8], b: &[u8]) -> Vec<DiffItem> {
        (self.recurse.compare_blobs)(path, a, b, self)
    }

    /// Compares two regular files on disk (the files of two directories), reported at
    /// `path`, of the sizes they were listed with.
    pub fn compare_files(
        &self,
        path: &str,
        a: &Path,
        b: &Path,
        sizes: (u64, u64),
    ) -> std::io::Result<Vec<DiffItem>> {
        (self.recurse.compare_files)(path, a, b, sizes, self)
    }

    /// Takes `n` bytes from the decompression budget; false once it is exhausted. The
    /// count saturates: a member claiming 2^64 bytes cannot wrap it back to zero.
    pub fn take_budget(&self, n: u64) -> bool {
        let before = self
            .expanded
            .fetch_update(AtomicOrdering::Relaxed, AtomicOrdering::Relaxed, |v| {
                Some(v.saturating_add(n))
            })
            .unwrap_or(u64::MAX);
        before.saturating_add(n) <= self.opts.max_expanded_bytes
    }
}
