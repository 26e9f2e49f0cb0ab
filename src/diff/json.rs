//! JSON: differences by key path (`$.build.date`), each leaf classified; a unified diff
//! of the text as evidence.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::classify::{remedy, Classifier};
use super::context::{Cx, Format};
use super::entropy;
use super::escape::escape_short;
use super::items::{DiffItem, FieldDiff, ItemKind, Reason};
use super::text::compare_text;
use super::timestamps::{format_unix, plausible_epoch};
use crate::model::vocabulary::{ReasonKind, Variation};

/// Most key paths reported for one item.
const MAX_KEYS: usize = 200;
/// Largest document compared as JSON (by key path); larger ones are compared as text.
const MAX_JSON: usize = 8 << 20;

/// The remedy for keys written in another order.
const KEY_ORDER_REMEDY: &str =
    "write objects with sorted keys (json.dumps(sort_keys=True), jq -S, a BTreeMap)";

/// A JSON document.
pub(crate) struct Json;

impl Format for Json {
    fn kind(&self) -> ItemKind {
        ItemKind::Json
    }
    fn detect(&self, name: &str, data: &[u8]) -> bool {
        let first = data.iter().find(|c| !c.is_ascii_whitespace());
        // A parsed document takes many times its size (32 bytes a number): larger ones
        // are compared as text.
        data.len() <= MAX_JSON
            && (name.ends_with(".json") || matches!(first, Some(b'{')))
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
        if va != vb {
            walk.value("$", &va, &vb);
        }
        // Key order is not part of a `Value` (a sorted map): read both documents again
        // keeping it, and report every object whose keys come in another order.
        if let (Ok(oa), Ok(ob)) = (
            serde_json::from_slice::<Ordered>(a),
            serde_json::from_slice::<Ordered>(b),
        ) {
            walk.key_orders("$", &oa, &ob);
        }
        if walk.reasons.is_empty() {
            walk.formatting(a, b);
        }
        item.reasons = walk.reasons;
        item.reasons.truncate(cx.opts.max_findings_per_item);
        item.evidence.metadata = walk.fields;
        vec![item]
    }
}

/// A JSON value that keeps the order of object keys (serde_json's `Value` sorts them).
#[derive(Debug)]
enum Ordered {
    /// The entries in file order, and where each key first occurs (look-ups stay O(1)
    /// in objects of many keys).
    Object(
        Vec<(String, Ordered)>,
        std::collections::HashMap<String, usize>,
    ),
    Array(Vec<Ordered>),
    Leaf(Value),
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        d.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::String(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Leaf(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Ordered, D::Error> {
        Ordered::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut out = Vec::new();
        while let Some(x) = seq.next_element::<Ordered>()? {
            out.push(x);
        }
        Ok(Ordered::Array(out))
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Ordered, M::Error> {
        let mut out = Vec::new();
        let mut index = std::collections::HashMap::new();
        while let Some((k, v)) = map.next_entry::<String, Ordered>()? {
            index.entry(k.clone()).or_insert(out.len());
            out.push((k, v));
        }
        Ok(Ordered::Object(out, index))
    }
}

impl Ordered {
    /// The value of the first occurrence of `key`.
    fn get(&self, key: &str) -> Option<&Ordered> {
        match self {
            Ordered::Object(entries, index) => index.get(key).map(|&i| &entries[i].1),
            _ => None,
        }
    }

    /// Equal as JSON values, whatever the key order.
    fn same(&self, other: &Ordered) -> bool {
        match (self, other) {
            (Ordered::Leaf(x), Ordered::Leaf(y)) => x == y,
            (Ordered::Array(x), Ordered::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.same(q))
            }
            (Ordered::Object(x, _), Ordered::Object(y, _)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| other.get(k).is_some_and(|w| v.same(w)))
            }
            _ => false,
        }
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
            variation: kind.variation().map(Variation::name).map(str::to_string),
            remedy: remedy(kind).map(str::to_string),
            context: Some(format!("key {key}")),
            high_entropy: None,
            note: None,
        }
    }

    /// `random` for values nothing explains, with what they look like.
    fn unexplained(&self, key: &str, a: String, b: String) -> Reason {
        let mut r = self.reason(ReasonKind::Random, key, a, b);
        let (x, y) = (r.a.clone(), r.b.clone());
        entropy::annotate(&mut r, x.as_bytes(), y.as_bytes());
        r
    }

    /// Equal values in the same key order, different text: whitespace or escapes only.
    /// The evidence is the first line that differs on each side.
    fn formatting(&mut self, a: &[u8], b: &[u8]) {
        let (la, lb) = (a.split(|&c| c == b'\n'), b.split(|&c| c == b'\n'));
        let first = la
            .zip(lb)
            .find(|(x, y)| x != y)
            .map(|(x, y)| (escape_short(x, 120), escape_short(y, 120)))
            .unwrap_or_default();
        let mut r = self.unexplained("$", first.0, first.1);
        let strip = |d: &[u8]| -> Vec<u8> {
            d.iter()
                .copied()
                .filter(|c| !c.is_ascii_whitespace())
                .collect()
        };
        let what = if strip(a) == strip(b) {
            "whitespace only"
        } else {
            "formatting only (string escapes, number forms, duplicate keys)"
        };
        r.note = Some(format!("{what}: same keys and values in the same order"));
        self.reasons.push(r);
    }

    /// An `ordering` finding for every object (at the same key path on both sides) whose
    /// common keys come in another order: the key path and both orders.
    fn key_orders(&mut self, key: &str, a: &Ordered, b: &Ordered) {
        if self.fields.len() >= MAX_KEYS {
            return;
        }
        match (a, b) {
            (Ordered::Object(x, _), Ordered::Object(y, _)) => {
                let common_a: Vec<&str> = x
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .filter(|k| b.get(k).is_some())
                    .collect();
                let common_b: Vec<&str> = y
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .filter(|k| a.get(k).is_some())
                    .collect();
                if common_a != common_b {
                    let order = |entries: &[(String, Ordered)]| {
                        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
                        shorten(keys.join(", "))
                    };
                    let (oa, ob) = (order(x), order(y));
                    let mut r = self.reason(ReasonKind::Ordering, key, oa.clone(), ob.clone());
                    r.context = Some(format!("key order of {key}"));
                    // Hash maps, sets and parallel writers all reorder keys: the kind is
                    // certain, the variation is not.
                    r.variation = None;
                    r.remedy = Some(KEY_ORDER_REMEDY.to_string());
                    self.reasons.push(r);
                    self.fields.push(FieldDiff {
                        member: None,
                        field: format!("key order of {key}"),
                        a: oa,
                        b: ob,
                    });
                }
                let mut seen = std::collections::HashSet::new();
                for (k, v) in x {
                    if !seen.insert(k.as_str()) {
                        continue;
                    }
                    if let Some(w) = b.get(k) {
                        self.key_orders(&format!("{key}.{k}"), v, w);
                    }
                }
            }
            (Ordered::Array(x), Ordered::Array(y)) => {
                for (i, j) in pair_elements(x, y) {
                    self.key_orders(&format!("{key}[{i}]"), &x[i], &y[j]);
                }
            }
            _ => {}
        }
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
            _ if presence => vec![self.unexplained(key, show(a), show(b))],
            (Value::String(x), Value::String(y)) => self.strings(key, x, y),
            (Value::Number(x), Value::Number(y)) => vec![self.numbers(key, x, y)],
            _ => vec![self.unexplained(key, show(a), show(b))],
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
            budget: Some(self.cx.budget),
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
            _ => self.unexplained(key, x.to_string(), y.to_string()),
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

/// Pairs the elements of two arrays for the key-order walk: an element with an equal one
/// of the other side (same index first), then what is left by index, so that reordered
/// elements are not taken for reordered keys.
fn pair_elements(x: &[Ordered], y: &[Ordered]) -> Vec<(usize, usize)> {
    const MAX_SEARCH: usize = 256;
    let mut used = vec![false; y.len()];
    let mut pairs: Vec<Option<usize>> = vec![None; x.len()];
    for (i, v) in x.iter().enumerate() {
        let j = if !used.get(i).copied().unwrap_or(true) && v.same(&y[i]) {
            Some(i)
        } else if x.len() <= MAX_SEARCH {
            (0..y.len()).find(|&j| !used[j] && v.same(&y[j]))
        } else {
            None
        };
        if let Some(j) = j {
            used[j] = true;
            pairs[i] = Some(j);
        }
    }
    for (i, p) in pairs.iter_mut().enumerate() {
        if p.is_none() && i < y.len() && !used[i] {
            used[i] = true;
            *p = Some(i);
        }
    }
    pairs
        .into_iter()
        .enumerate()
        .filter_map(|(i, j)| j.map(|j| (i, j)))
        .collect()
}

fn show(v: &Value) -> String {
    shorten(v.to_string())
}

fn shorten(s: String) -> String {
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(120).collect::<String>())
    } else {
        s
    }
}
