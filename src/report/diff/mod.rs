//! The report of `reprobe diff A B`: its `reprobe/report/1` envelope (docs/design.md
//! section 7a) and its views.
//!
//! One data model, several views: JSON (serde), a terminal table ([`terminal`]), a
//! self-contained HTML page ([`html`]) and a Markdown summary ([`markdown`]). No renderer
//! computes a verdict: they only show what the report holds.

use serde::Serialize;

use crate::diff::{DiffItem, DiffReport, ReasonKind};
use crate::engine::REPORT_SCHEMA;

pub(crate) mod html;
pub(crate) mod markdown;
pub(crate) mod terminal;

/// The `reprobe/report/1` envelope of `diff`: the envelope every report shares
/// (`schema`, `command`, `verdict`), then the two inputs and their differing items.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always [`REPORT_SCHEMA`].
    pub schema: &'static str,
    /// Always `diff`.
    pub command: String,
    /// The overall verdict, in docs/design.md section 6 words: `reproducible` when the
    /// two sides are identical, `nondeterministic` when they differ.
    pub verdict: String,
    /// The first input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<String>,
    /// The second input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<String>,
    /// The differing items, sorted by path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<DiffItem>>,
}

impl Report {
    /// The report of `reprobe diff A B`.
    pub fn for_diff(a: &str, b: &str, diff: &DiffReport) -> Report {
        let verdict = if diff.is_identical() {
            "reproducible"
        } else {
            "nondeterministic"
        };
        Report {
            schema: REPORT_SCHEMA,
            command: "diff".into(),
            verdict: verdict.into(),
            a: Some(a.into()),
            b: Some(b.into()),
            items: Some(diff.items.clone()),
        }
    }

    /// The items, or none.
    pub fn diff_items(&self) -> &[DiffItem] {
        self.items.as_deref().unwrap_or_default()
    }

    /// Pretty JSON with a trailing newline. Key order is the struct order, so the output
    /// is stable across runs.
    pub fn to_json(&self) -> String {
        crate::report::json::in_field_order(self)
    }
}

/// The distinct reason kinds of an item, in first-seen order.
pub fn reason_kinds(item: &DiffItem) -> Vec<ReasonKind> {
    let mut kinds: Vec<ReasonKind> = Vec::new();
    for r in &item.reasons {
        if !kinds.contains(&r.kind) {
            kinds.push(r.kind);
        }
    }
    kinds
}

/// The reason kinds of an item as one comma-separated word list (`-` when none).
pub fn reason_words(item: &DiffItem) -> String {
    let words: Vec<&str> = reason_kinds(item).iter().map(|k| k.as_str()).collect();
    if words.is_empty() {
        "-".into()
    } else {
        words.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{Change, ItemKind};

    #[test]
    fn diff_report_envelope_has_schema_and_verdict() {
        let mut diff = DiffReport::default();
        let r = Report::for_diff("a", "b", &diff);
        assert!(r.to_json().contains("\"schema\": \"reprobe/report/1\""));
        assert_eq!(r.verdict, "reproducible");
        diff.items
            .push(DiffItem::new("x".into(), ItemKind::Text, Change::Modified));
        assert_eq!(
            Report::for_diff("a", "b", &diff).verdict,
            "nondeterministic"
        );
    }
}
