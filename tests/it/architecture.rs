//! The layering of `src/` as a test: imports only point down, and no two files import each
//! other, directly or through others (docs/ARCHITECTURE.md).
//!
//! The check reads the sources, not the compiler's view: it collects every `use` and every
//! `crate::`/`super::`/`self::` path outside comments, strings and `#[cfg(test)]` modules,
//! resolves each to the file that defines the module (following a parent's `pub use` of
//! its own children to the child), and then
//! - fails on a strongly connected component of more than one file (an import cycle);
//! - fails on an import from a layer to a layer above it, or between two peers.
//!
//! A parent's `mod` and `pub use child::...` lines are its facade, not a dependency: the
//! parent only names what its children define.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A file may import from its own layer's folder and from lower
/// layers; layers that share a rank are peers and may not import each other.
const LAYERS: &[(&str, u8)] = &[
    ("fsafe", 0),
    ("model", 1),
    ("sources", 2),
    ("sandbox", 2),
    ("store", 2),
    ("diff", 2),
    ("remote", 2),
    ("attest", 2),
    ("engine", 3),
    ("report", 4),
    ("cli", 5),
];

/// One source file of the crate, with its module path (`["engine", "check"]`).
struct SourceFile {
    rel: String,
    module: Vec<String>,
    code: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn load_sources() -> Vec<SourceFile> {
    let root = src_dir();
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let entry = entry.expect("walk src/");
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path
            .strip_prefix(&root)
            .expect("below src/")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(path).expect("read a source file");
        files.push(SourceFile {
            module: module_path(&rel),
            code: without_test_modules(&strip_comments_and_literals(&text)),
            rel,
        });
    }
    files
}

/// `engine/check/mod.rs` → `["engine", "check"]`; `lib.rs` and `main.rs` → `[]`.
fn module_path(rel: &str) -> Vec<String> {
    let stem = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code with comments, string literals and character literals blanked out, so that a
/// path in a doc comment or a message is not taken for an import.
fn strip_comments_and_literals(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').map_or(bytes.len(), |n| i + n);
            i = end;
        } else if let Some(comment) = rest.strip_prefix("/*") {
            i = comment.find("*/").map_or(bytes.len(), |n| i + 2 + n + 2);
        } else if let Some(len) = raw_string_len(rest) {
            out.push_str("\"\"");
            i += len;
        } else if rest.starts_with('"') {
            i += quoted_len(rest, '"');
            out.push_str("\"\"");
        } else if let Some(len) = char_literal_len(rest) {
            out.push_str("' '");
            i += len;
        } else {
            let ch = rest.chars().next().expect("not at the end");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The length of a raw string literal (`r"..."`, `r#"..."#`, `br#"..."#`) at the start.
fn raw_string_len(rest: &str) -> Option<usize> {
    let after_prefix = rest.strip_prefix("br").or_else(|| rest.strip_prefix('r'))?;
    let hashes = after_prefix.len() - after_prefix.trim_start_matches('#').len();
    let body = after_prefix[hashes..].strip_prefix('"')?;
    let closing = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&closing)?;
    Some(rest.len() - body.len() + end + closing.len())
}

/// The length of a literal opened by `quote` at the start, escapes included.
fn quoted_len(rest: &str, quote: char) -> usize {
    let mut chars = rest.char_indices().skip(1);
    while let Some((at, ch)) = chars.next() {
        if ch == '\\' {
            chars.next();
        } else if ch == quote {
            return at + 1;
        }
    }
    rest.len()
}

/// The length of a character literal at the start (`'x'`, `'\n'`, `'\''`), or `None`
/// for a lifetime such as `'a`.
fn char_literal_len(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let (_, first) = chars.next()?;
    if first == '\\' {
        let end = rest[2..].find('\'')?;
        return Some(2 + end + 1);
    }
    let (at, second) = chars.next()?;
    (second == '\'').then_some(at + 1)
}

/// The code without `#[cfg(test)]` items: unit tests may reach anywhere.
fn without_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        rest = match (after.find('{'), after.find(';')) {
            (Some(open), semi) if semi.is_none_or(|s| open < s) => {
                &after[open + balanced_len(&after[open..])..]
            }
            (_, Some(semi)) => &after[semi + 1..],
            _ => "",
        };
    }
    out.push_str(rest);
    out
}

/// The length of the brace-balanced block at the start of `text` (which starts with `{`).
fn balanced_len(text: &str) -> usize {
    let mut depth = 0usize;
    for (at, ch) in text.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return at + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    expand_into(&[], tree, &mut out);
    out
}

fn expand_into(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    let pieces = split_top_level(tree);
    if pieces.len() > 1 {
        for piece in pieces {
            expand_into(prefix, piece, out);
        }
        return;
    }
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut path = prefix.to_vec();
        path.extend(segments(head));
        expand_into(&path, inner, out);
        return;
    }
    let without_alias = tree.split(" as ").next().unwrap_or(tree);
    let mut path = prefix.to_vec();
    path.extend(segments(without_alias));
    out.push(path);
}

fn segments(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn split_top_level(tree: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (at, ch) in tree.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                pieces.push(&tree[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    pieces.push(&tree[start..]);
    pieces
}

/// One `use` item: whether it is a re-export, and its paths.
struct UseItem {
    public: bool,
    paths: Vec<Vec<String>>,
}

fn use_items(code: &str) -> Vec<UseItem> {
    let pattern =
        regex::Regex::new(r"(?m)^\s*(pub(\([^)]*\))?\s+)?use\s+([^;]+);").expect("pattern");
    pattern
        .captures_iter(code)
        .map(|c| UseItem {
            public: c.get(1).is_some(),
            paths: expand_use_tree(&c[3]),
        })
        .collect()
}

/// Paths written inline in code: `crate::a::b`, `super::c`.
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let pattern = regex::Regex::new(r"(?:^|[^\w:])((?:crate|super)(?:::\w+)+)").expect("pattern");
    pattern
        .captures_iter(code)
        .map(|c| segments(&c[1]).collect())
        .collect()
}

/// Makes a path absolute (from the crate root) as seen from module `from`.
fn absolute(from: &[String], path: &[String]) -> Option<Vec<String>> {
    let first = path.first()?;
    match first.as_str() {
        "crate" => Some(path[1..].to_vec()),
        "self" => Some(from.iter().chain(&path[1..]).cloned().collect()),
        "super" => {
            let mut base = from.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            Some(base)
        }
        _ => None,
    }
}

struct Crate {
    files: Vec<SourceFile>,
    by_module: BTreeMap<Vec<String>, usize>,
    /// For a parent module: name re-exported with `pub use child::NAME` → the child file.
    reexports: BTreeMap<(usize, String), usize>,
}

impl Crate {
    fn load() -> Crate {
        let files = load_sources();
        let by_module = files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.rel != "main.rs")
            .map(|(i, f)| (f.module.clone(), i))
            .collect();
        let mut krate = Crate {
            files,
            by_module,
            reexports: BTreeMap::new(),
        };
        krate.reexports = krate.child_reexports();
        krate
    }

    fn child_reexports(&self) -> BTreeMap<(usize, String), usize> {
        let mut map = BTreeMap::new();
        for (parent, file) in self.files.iter().enumerate() {
            for item in use_items(&file.code).into_iter().filter(|u| u.public) {
                for path in item.paths {
                    let Some(child) = self.child_of(parent, &path) else {
                        continue;
                    };
                    if let Some(name) = path.last() {
                        map.insert((parent, name.clone()), child);
                    }
                }
            }
        }
        map
    }

    /// The child module file a `pub use` path of `parent` names, if it names one.
    fn child_of(&self, parent: usize, path: &[String]) -> Option<usize> {
        let first = path.first()?;
        let first = if first == "self" { path.get(1)? } else { first };
        let mut module = self.files[parent].module.clone();
        module.push(first.clone());
        self.by_module.get(&module).copied()
    }

    /// The file an absolute path leads to: the longest module prefix, then through a
    /// parent's re-export of a child.
    fn resolve(&self, path: &[String]) -> Option<usize> {
        let (file, used) = (0..=path.len())
            .rev()
            .find_map(|n| self.by_module.get(&path[..n]).map(|&f| (f, n)))?;
        match path.get(used) {
            Some(name) => Some(
                self.reexports
                    .get(&(file, name.clone()))
                    .copied()
                    .unwrap_or(file),
            ),
            None => Some(file),
        }
    }

    /// The import edges between files, facade lines left out.
    fn edges(&self) -> BTreeMap<usize, BTreeSet<usize>> {
        let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        let use_line =
            regex::Regex::new(r"(?m)^\s*(pub(\([^)]*\))?\s+)?use\s+[^;]+;").expect("pattern");
        for (from, file) in self.files.iter().enumerate() {
            let mut paths = Vec::new();
            for item in use_items(&file.code) {
                for path in item.paths {
                    if item.public && self.child_of(from, &path).is_some() {
                        continue;
                    }
                    paths.push(path);
                }
            }
            paths.extend(inline_paths(&use_line.replace_all(&file.code, "")));
            for path in paths {
                let Some(abs) = absolute(&file.module, &path) else {
                    continue;
                };
                if let Some(to) = self.resolve(&abs).filter(|&to| to != from) {
                    edges.entry(from).or_default().insert(to);
                }
            }
        }
        edges
    }
}

/// Strongly connected components of more than one node (Tarjan).
fn cycles(nodes: usize, edges: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a BTreeMap<usize, BTreeSet<usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.edges.get(&v).into_iter().flatten() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: vec![None; nodes],
        low: vec![0; nodes],
        stack: Vec::new(),
        on_stack: vec![false; nodes],
        next: 0,
        found: Vec::new(),
    };
    for v in 0..nodes {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.found
}

fn layer_of(rel: &str) -> Option<(&'static str, u8)> {
    let top = rel.split('/').next()?.trim_end_matches(".rs");
    LAYERS.iter().copied().find(|(name, _)| *name == top)
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let krate = Crate::load();
    let found = cycles(krate.files.len(), &krate.edges());
    let described: Vec<String> = found
        .iter()
        .map(|component| {
            let mut names: Vec<&str> = component
                .iter()
                .map(|&f| krate.files[f].rel.as_str())
                .collect();
            names.sort_unstable();
            names.join(" ↔ ")
        })
        .collect();
    assert!(
        described.is_empty(),
        "import cycles in src/ (move the shared types into a file both can import):\n{}",
        described.join("\n")
    );
}

#[test]
fn imports_only_point_down_the_layers() {
    let krate = Crate::load();
    let mut wrong = Vec::new();
    for (from, targets) in krate.edges() {
        let from_rel = &krate.files[from].rel;
        let Some((from_layer, from_rank)) = layer_of(from_rel) else {
            continue;
        };
        for to in targets {
            let to_rel = &krate.files[to].rel;
            let Some((to_layer, to_rank)) = layer_of(to_rel) else {
                wrong.push(format!("{from_rel} → {to_rel} (not in a layer)"));
                continue;
            };
            if to_layer != from_layer && to_rank >= from_rank {
                wrong.push(format!("{from_rel} ({from_layer}) → {to_rel} ({to_layer})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up or sideways (see docs/ARCHITECTURE.md):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_is_a_known_layer() {
    let krate = Crate::load();
    let unknown: BTreeSet<&str> = krate
        .files
        .iter()
        .filter(|f| !matches!(f.rel.as_str(), "lib.rs" | "main.rs"))
        .filter(|f| layer_of(&f.rel).is_none())
        .map(|f| f.rel.as_str())
        .collect();
    assert!(
        unknown.is_empty(),
        "files outside every layer (add the folder to LAYERS and docs/ARCHITECTURE.md): {unknown:?}"
    );
}

#[test]
fn the_checker_sees_a_cycle_and_an_upward_import() {
    let code = strip_comments_and_literals(
        "// use crate::cli;\nlet s = \"crate::cli::x\";\nuse crate::{model::graph::{Graph, Step}, diff as d};\nfn f() { super::super::x::y(); let c = '\"'; }",
    );
    let paths: Vec<Vec<String>> = use_items(&code).into_iter().flat_map(|u| u.paths).collect();
    assert_eq!(
        paths,
        vec![
            vec!["crate", "model", "graph", "Graph"],
            vec!["crate", "model", "graph", "Step"],
            vec!["crate", "diff"],
        ]
    );
    assert_eq!(inline_paths(&code), vec![vec!["super", "super", "x", "y"]]);
    let edges = BTreeMap::from([(0, BTreeSet::from([1])), (1, BTreeSet::from([0]))]);
    assert_eq!(cycles(2, &edges).len(), 1);
    let test_module = without_test_modules("a\n#[cfg(test)]\nmod tests { use crate::cli; }\nb");
    assert!(!test_module.contains("cli") && test_module.contains('b'));
}
