//! JSON: differences by key path (`$.build.date`), each leaf classified; a unified diff
//! of the text as evidence.

use serde_json::Value;

use super::classify::Classifier;
use super::text::compare_text;
use super::timestamps::{format_unix, plausible_epoch};
use super::{Cx, DiffItem, FieldDiff, Format, ItemKind, Reason, ReasonKind};

/// Most key paths reported for one item.
const MAX_KEYS: usize = 200;

/// A JSON document.
pub(crate) struct Json;

impl Format for Json {
    fn kind(&self) -> ItemKind {
        ItemKind::Json
    }
    fn detect(&self, name: &str, data: &[u8]) -> bool {
        let first = data.iter().find(|c| !c.is_ascii_whitespace());
        (name.ends_with(".json") || matches!(first, Some(b'{')))
            && serde_json::from_slice::<Value>(data).is_ok()
    }
    fn compare(&self, path: &str, a: &[u8], b: &[u8], cx: &Cx) -> Vec<DiffItem> {
        let mut item = compare_text(path, ItemKind::Json, a, b, cx);
        let (Ok(va), Ok(vb)) = (
            serde_json::from_slice::<Value>(a),
            serde_json::from_slice::<Value>(b),
        ) else {
            return vec![item];
        };
        let mut walk = Walk {
            path,
            cx,
            reasons: Vec::new(),
            fields: Vec::new(),
        };
        if va == vb {
            walk.equal_values(a, b);
        } else {
            walk.value("$", &va, &vb);
        }
        item.reasons = walk.reasons;
        item.reasons.truncate(cx.opts.max_findings_per_item);
        item.evidence.metadata = walk.fields;
        vec![item]
    }
}

struct Walk<'a> {
    path: &'a str,
    cx: &'a Cx<'a>,
    reasons: Vec<Reason>,
    fields: Vec<FieldDiff>,
}

impl Walk<'_> {
    fn reason(&self, kind: ReasonKind, key: &str, a: String, b: String) -> Reason {
        Reason {
            kind,
            path: self.path.to_string(),
            offset: None,
            offset_b: None,
            line: None,
            line_b: None,
            a,
            b,
            variation: super::classify::default_variation(kind).map(str::to_string),
            remedy: super::classify::remedy(kind).map(str::to_string),
            context: Some(format!("key {key}")),
        }
    }

    /// Equal values, different text: keys in another order, or only formatting.
    fn equal_values(&mut self, a: &[u8], b: &[u8]) {
        let strip = |d: &[u8]| {
            d.iter()
                .copied()
                .filter(|c| !c.is_ascii_whitespace())
                .collect::<Vec<u8>>()
        };
        let kind = if strip(a) == strip(b) {
            ReasonKind::Random
        } else {
            ReasonKind::Ordering
        };
        let what = if kind == ReasonKind::Ordering {
            "same keys and values in another order"
        } else {
            "whitespace only"
        };
        self.reasons
            .push(self.reason(kind, "$", what.into(), what.into()));
    }

    fn value(&mut self, key: &str, a: &Value, b: &Value) {
        if a == b || self.fields.len() >= MAX_KEYS {
            return;
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let sub = format!("{key}.{k}");
                    match (x.get(k), y.get(k)) {
                        (Some(p), Some(q)) => self.value(&sub, p, q),
                        (p, q) => self.leaf(
                            &sub,
                            p.unwrap_or(&Value::Null),
                            q.unwrap_or(&Value::Null),
                            true,
                        ),
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                if same_multiset(x, y) {
                    let r = self.reason(ReasonKind::Ordering, key, show(a), show(b));
                    self.record(key, a, b, r);
                    return;
                }
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    self.value(&format!("{key}[{i}]"), p, q);
                }
            }
            _ => self.leaf(key, a, b, false),
        }
    }

    fn leaf(&mut self, key: &str, a: &Value, b: &Value, presence: bool) {
        let reasons = match (a, b) {
            _ if presence => vec![self.reason(ReasonKind::Random, key, show(a), show(b))],
            (Value::String(x), Value::String(y)) => self.strings(key, x, y),
            (Value::Number(x), Value::Number(y)) => vec![self.numbers(key, x, y)],
            _ => vec![self.reason(ReasonKind::Random, key, show(a), show(b))],
        };
        for r in reasons {
            self.record(key, a, b, r);
        }
    }

    fn record(&mut self, key: &str, a: &Value, b: &Value, reason: Reason) {
        self.reasons.push(reason);
        self.fields.push(FieldDiff {
            member: None,
            field: key.to_string(),
            a: show(a),
            b: show(b),
        });
    }

    fn strings(&self, key: &str, x: &str, y: &str) -> Vec<Reason> {
        Classifier {
            path: self.path,
            known: &self.cx.opts.known,
            text: true,
            base_offset: 0,
            base_offset_b: 0,
            context: Some(format!("key {key}")),
            limit: 8,
        }
        .classify(x.as_bytes(), y.as_bytes())
        .into_iter()
        .map(|mut r| {
            r.offset = None;
            r.offset_b = None;
            r.line = None;
            r.line_b = None;
            r
        })
        .collect()
    }

    fn numbers(&self, key: &str, x: &serde_json::Number, y: &serde_json::Number) -> Reason {
        let epoch = |n: &serde_json::Number| {
            n.as_i64().and_then(|v| {
                let secs = if v > 100_000_000_000 { v / 1000 } else { v };
                plausible_epoch(secs).then_some(secs)
            })
        };
        match (epoch(x), epoch(y)) {
            (Some(p), Some(q)) => {
                self.reason(ReasonKind::Timestamp, key, format_unix(p), format_unix(q))
            }
            _ => self.reason(ReasonKind::Random, key, x.to_string(), y.to_string()),
        }
    }
}

fn same_multiset(x: &[Value], y: &[Value]) -> bool {
    let mut sx: Vec<String> = x.iter().map(Value::to_string).collect();
    let mut sy: Vec<String> = y.iter().map(Value::to_string).collect();
    sx.sort();
    sy.sort();
    sx == sy
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}
