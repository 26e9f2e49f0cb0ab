//! Comparing two runs of one step: their outputs materialized from the store and diffed,
//! with the values known to differ between the runs, so the diff engine attributes what
//! it can from evidence.

use std::path::Path;

use super::context::CheckContext;
use crate::diff::{self, DiffOptions, KnownValues, Reason, ReasonKind, TimeWindow};
use crate::engine::exec::SandboxProfile;
use crate::model::tree::TreeEntry;
use crate::store::{remove_tree, Store, StoreError};

/// The values known to differ between the first build and `other`, for the classifier.
pub(super) fn known_values(
    a: &SandboxProfile,
    first_window: TimeWindow,
    other: &SandboxProfile,
    other_window: TimeWindow,
) -> KnownValues {
    let pair = |x: String, y: String| (x != y).then_some((x, y));
    KnownValues {
        build_path: pair(
            a.workdir().to_string_lossy().into_owned(),
            other.workdir().to_string_lossy().into_owned(),
        ),
        hostname: pair(a.hostname.clone(), other.hostname.clone()),
        user: pair(a.user.name.clone(), other.user.name.clone()),
        clock: Some((first_window, other_window)),
        timezone: pair(a.timezone.clone(), other.timezone.clone()),
        locale: pair(a.locale.clone(), other.locale.clone()),
    }
}

/// Materializes one build's outputs of a step into `dir` (from the store's blobs). Only
/// the executable bit is part of a content hash; other mode bits would show up as
/// differences the verdict does not depend on, so files get canonical modes.
pub(super) fn materialize(
    store: &Store,
    outputs: &[TreeEntry],
    dir: &Path,
) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(crate::store::at(dir))?;
    for entry in outputs {
        let mode = if entry.executable() { 0o755 } else { 0o644 };
        store.materialize_entry(dir, entry, mode)?;
    }
    Ok(())
}

/// Diffs the outputs of two runs of one step.
pub(super) fn diff_outputs(
    cx: &CheckContext,
    a: &[TreeEntry],
    b: &[TreeEntry],
    known: KnownValues,
) -> Result<diff::DiffReport, String> {
    let temp = cx.store.temp_dir("diff").map_err(|e| e.to_string())?;
    let result = (|| {
        materialize(&cx.store, a, &temp.join("a")).map_err(|e| e.to_string())?;
        materialize(&cx.store, b, &temp.join("b")).map_err(|e| e.to_string())?;
        let options = DiffOptions {
            known,
            ..DiffOptions::default()
        };
        diff::diff_paths(&temp.join("a"), &temp.join("b"), &options).map_err(|e| e.to_string())
    })();
    remove_tree(&temp);
    result
}

/// Whether a reason is attributed from evidence (a known value matched exactly, or a
/// time inside a build's window) rather than guessed from its kind.
pub(super) fn attributed_by_evidence(reason: &Reason) -> bool {
    matches!(
        reason.kind,
        ReasonKind::BuildPath
            | ReasonKind::Hostname
            | ReasonKind::User
            | ReasonKind::Timezone
            | ReasonKind::Locale
    ) || reason.variation.as_deref() == Some("clock")
}
