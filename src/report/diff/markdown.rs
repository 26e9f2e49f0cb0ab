//! A short Markdown summary, fit for a pull-request comment.

use super::{reason_words, Report};
use crate::report::escape;
use crate::report::text::shorten;

/// Most items listed in the table.
const MAX_ROWS: usize = 50;

/// The Markdown summary of a `diff` report.
pub fn render(report: &Report) -> String {
    let items = report.diff_items();
    let mut out = String::from("### reprobe diff\n\n");
    if let (Some(a), Some(b)) = (&report.a, &report.b) {
        out.push_str(&format!(
            "`{}` vs `{}`: ",
            escape::markdown(a),
            escape::markdown(b)
        ));
    }
    if items.is_empty() {
        out.push_str("**identical**.\n");
        return out;
    }
    out.push_str(&format!("**{} differing item(s)**.\n\n", items.len()));
    out.push_str("| path | kind | change | reasons | first finding |\n|---|---|---|---|---|\n");
    for item in items.iter().take(MAX_ROWS) {
        let first = item
            .reasons
            .first()
            .map(|r| {
                format!(
                    "`{}` → `{}`",
                    escape::markdown(&shorten(&r.a)),
                    escape::markdown(&shorten(&r.b))
                )
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            escape::markdown(&item.path),
            item.kind.as_str(),
            item.change.as_str(),
            reason_words(item),
            first
        ));
    }
    if items.len() > MAX_ROWS {
        out.push_str(&format!("\n…and {} more items.\n", items.len() - MAX_ROWS));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{Change, DiffItem, DiffReport, ItemKind};

    #[test]
    fn markdown_has_a_row_per_item_and_escapes_pipes() {
        let diff = DiffReport {
            items: vec![DiffItem::new(
                "a|b".into(),
                ItemKind::Text,
                Change::Modified,
            )],
        };
        let md = render(&Report::for_diff("x", "y", &diff));
        assert!(md.contains("| `a\\|b` | text | modified | - |"), "{md}");
    }
}
