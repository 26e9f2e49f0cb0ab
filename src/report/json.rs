//! How every `--json` document is printed: pretty, one trailing newline, and keys either
//! sorted (the reports of `check`, `explain` and `challenge`, and `import`) or in field
//! order (the report of `diff`, and `store verify`/`store gc`), so each is stable across
//! runs. The documents themselves are plain data with their schema name first: the
//! `reprobe/report/1` envelope (docs/design.md section 7a) is
//! [`crate::engine::REPORT_SCHEMA`].

use serde::Serialize;

/// Pretty JSON with keys sorted at every level, and a trailing newline.
pub(crate) fn sorted(document: &impl Serialize) -> String {
    let value = serde_json::to_value(document).expect("a report is plain data");
    let mut text = serde_json::to_string_pretty(&value).expect("a JSON value always prints");
    text.push('\n');
    text
}

/// Pretty JSON with keys in the order of the struct fields, and a trailing newline.
pub(crate) fn in_field_order(document: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("a report is plain data");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::explain::tests::{graph, run_with, simulate};
    use crate::engine::explain::ExplainOptions;

    #[test]
    fn json_has_the_envelope_and_the_items() {
        let old = simulate(&graph(), "1");
        let mut g = graph();
        g[4].command = "make e -j2".into();
        let r = run_with(&old, &simulate(&g, "2"), &ExplainOptions::default());
        let v: serde_json::Value = serde_json::from_str(&sorted(&r)).expect("json");
        assert_eq!(v["schema"], "reprobe/report/1");
        assert_eq!(v["command"], "explain");
        assert_eq!(v["root_causes"][0]["changes"][0]["kind"], "command");
        assert!(v["cascades"].is_array() && v["models"].is_array());
    }

    #[derive(Serialize)]
    struct Doc {
        b: u8,
        a: u8,
    }

    #[test]
    fn keys_sorted_or_in_field_order_each_with_a_newline() {
        let doc = Doc { b: 1, a: 2 };
        assert_eq!(sorted(&doc), "{\n  \"a\": 2,\n  \"b\": 1\n}\n");
        assert_eq!(in_field_order(&doc), "{\n  \"b\": 1,\n  \"a\": 2\n}\n");
    }
}
