//! The reports of `reprobe store verify` and `reprobe store gc`: their text and their
//! JSON documents (`reprobe/store-verify/1`, `reprobe/store-gc/1`).

use std::time::Duration;

use serde::Serialize;

use crate::report::json;
use crate::store::{GcReport, Store, VerifyReport};

/// The schema of `store verify --json`.
pub const STORE_VERIFY_SCHEMA: &str = "reprobe/store-verify/1";
/// The schema of `store gc --json`.
pub const STORE_GC_SCHEMA: &str = "reprobe/store-gc/1";

#[derive(Serialize)]
struct VerifyJson<'a> {
    schema: &'static str,
    store: String,
    ok: bool,
    #[serde(flatten)]
    report: &'a VerifyReport,
}

/// The JSON document of `store verify`: schema, store, `ok`, then the report's fields.
pub(crate) fn verify_json(store: &Store, report: &VerifyReport) -> String {
    json::in_field_order(&VerifyJson {
        schema: STORE_VERIFY_SCHEMA,
        store: store.root().display().to_string(),
        ok: report.is_ok(),
        report,
    })
}

/// The text of `store verify`: one line per problem, then a summary.
pub(crate) fn verify_text(store: &Store, report: &VerifyReport, quiet: bool) -> String {
    let mut text = String::new();
    for problem in &report.problems {
        text.push_str(&format!(
            "{}: {}: {}\n",
            problem.path,
            problem.kind.as_str(),
            problem.message
        ));
    }
    if quiet && report.is_ok() {
        return text;
    }
    text.push_str(&format!(
        "store {}: {} blobs ({} bytes), {} action entries, {} manifests checked: ",
        store.root().display(),
        report.blobs,
        report.blob_bytes,
        report.actions,
        report.manifests
    ));
    match report.problems.len() {
        0 => text.push_str("ok\n"),
        n => text.push_str(&format!("{n} problem(s)\n")),
    }
    if report.removed_outputs > 0 {
        text.push_str(&format!(
            "{} output(s) of past builds name blobs removed earlier as corrupt (noted in removed/): history that cannot be restored, nothing to do\n",
            report.removed_outputs
        ));
    }
    text
}

#[derive(Serialize)]
struct GcJson<'a> {
    schema: &'static str,
    store: String,
    dry_run: bool,
    grace_secs: u64,
    #[serde(flatten)]
    report: &'a GcReport,
}

/// The JSON document of `store gc`: schema, store, whether it was a dry run, the grace
/// period, then the report's fields.
pub(crate) fn gc_json(store: &Store, report: &GcReport, dry_run: bool, grace: Duration) -> String {
    json::in_field_order(&GcJson {
        schema: STORE_GC_SCHEMA,
        store: store.root().display().to_string(),
        dry_run,
        grace_secs: grace.as_secs(),
        report,
    })
}

/// The text of `store gc`: what was (or would be) removed, and what was kept.
pub(crate) fn gc_text(store: &Store, r: &GcReport, dry_run: bool) -> String {
    let verb = if dry_run { "would remove" } else { "removed" };
    format!(
        "store {}: {verb} {} blobs ({} bytes), {} action entries, {} manifests, {} stale temporaries\n\
         kept {} blobs, {} action entries, {} manifests; {} unreferenced but younger than the grace period\n",
        store.root().display(),
        r.removed_blobs,
        r.removed_bytes,
        r.removed_actions,
        r.removed_manifests,
        r.removed_temporaries,
        r.kept_blobs,
        r.kept_actions,
        r.kept_manifests,
        r.spared_young
    )
}
