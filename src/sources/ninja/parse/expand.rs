//! Variable expansion, bounded: a file-level value, a path or a rule variable of an edge
//! is evaluated as Ninja does (`$in`/`$in_newline`/`$out`, then the edge's bindings, then
//! the rule's, then the file scope and its parents), and no expansion may pass
//! [`MAX_VALUE_BYTES`], nor all of them together the parse's [`Budget`]: a build file
//! cannot exhaust memory by doubling a variable again and again.

use std::borrow::Cow;
use std::cell::Cell;

use super::lexer::{Eval, Piece};
use super::scope::{lookup_variable, OwnedPiece, Rule, Scope};
use crate::model::fasthash::FastMap;
use crate::sources::ninja::build_file::Edge;
use crate::sources::ninja::shell_escape::push_shell_escaped;

/// The longest text one expansion may make (a variable's value, a path, a rule variable
/// of an edge): far above any real build's longest command or response file, far below
/// what forty doublings of a variable ask for (`v1 = $v0$v0`, `v2 = $v1$v1`, ...).
pub const MAX_VALUE_BYTES: usize = 64 << 20;

/// The expanded text all expansions of one parse may make together, besides
/// [`EXPANDED_PER_BYTE`] for every byte of the build files read: a file of many lines
/// that each expand to nearly [`MAX_VALUE_BYTES`] must stop too.
pub const EXPANDED_BASE_BYTES: usize = 1 << 30;

/// Expanded bytes allowed per byte of build file read, on top of [`EXPANDED_BASE_BYTES`]
/// (large real builds expand to a few times their size).
pub const EXPANDED_PER_BYTE: usize = 16;

/// An expansion that would pass a bound.
#[derive(Debug)]
pub(super) enum Overflow {
    /// One value would pass [`MAX_VALUE_BYTES`] where `$variable` is expanded (empty:
    /// in literal text before any variable).
    Value(String),
    /// All expansions together would pass the budget (bytes).
    Total(usize),
}

impl Overflow {
    /// The message for the expansion of `what` ("variable 'v40'", "a path").
    pub(super) fn message(&self, what: &str) -> String {
        match self {
            Overflow::Value(variable) => {
                let place = if variable.is_empty() {
                    String::new()
                } else {
                    format!(" where ${variable} is expanded")
                };
                format!(
                    "{what} would be longer than {} MiB{place} (a variable doubled again and again?); values are bounded so that a build file cannot exhaust memory",
                    MAX_VALUE_BYTES >> 20
                )
            }
            Overflow::Total(budget) => format!(
                "expanding {what} takes the expanded text of the build files past {} MiB (1 GiB and {EXPANDED_PER_BYTE} bytes per byte read): variables that double each other?",
                budget >> 20
            ),
        }
    }
}

/// Appends `text` (the value of `$variable`, or literal text) unless `out` would pass
/// [`MAX_VALUE_BYTES`].
fn push_bounded(out: &mut String, text: &str, variable: &str) -> Result<(), Overflow> {
    if out.len().saturating_add(text.len()) > MAX_VALUE_BYTES {
        return Err(Overflow::Value(variable.to_string()));
    }
    out.push_str(text);
    Ok(())
}

/// The expanded text one parse may make: [`EXPANDED_BASE_BYTES`] and [`EXPANDED_PER_BYTE`]
/// for every byte of the build files read.
pub(super) struct Budget {
    /// Bytes made by expansions so far.
    expanded: Cell<usize>,
    /// How many they may make.
    pub(super) limit: usize,
}

impl Budget {
    pub(super) fn new() -> Budget {
        Budget {
            expanded: Cell::new(0),
            limit: EXPANDED_BASE_BYTES,
        }
    }

    /// Allows [`EXPANDED_PER_BYTE`] more bytes for each of `bytes` bytes of build file read.
    pub(super) fn grant_for_text(&mut self, bytes: usize) {
        self.limit = self
            .limit
            .saturating_add(bytes.saturating_mul(EXPANDED_PER_BYTE));
    }

    /// Counts `bytes` of expanded text against the budget.
    fn spend(&self, bytes: usize) -> Result<(), Overflow> {
        let expanded = self.expanded.get().saturating_add(bytes);
        if expanded > self.limit {
            return Err(Overflow::Total(self.limit));
        }
        self.expanded.set(expanded);
        Ok(())
    }
}

/// Evaluates `eval` with an edge's bindings first, then the scope chain from `scope`;
/// bounded by [`MAX_VALUE_BYTES`] and counted against `budget`.
pub(super) fn eval_with(
    scopes: &[Scope],
    budget: &Budget,
    eval: &Eval,
    edge_vars: &EdgeVars,
    scope: usize,
) -> Result<String, Overflow> {
    let mut out = String::new();
    // Literal text that passes the bound is blamed on the last variable before it.
    let mut last = "";
    for piece in eval.pieces() {
        match piece {
            Piece::Literal(text) => push_bounded(&mut out, text, last)?,
            Piece::Variable(name) => {
                last = name;
                if let Some(v) = edge_vars.get(name) {
                    push_bounded(&mut out, v, name)?;
                } else if let Some(v) = lookup_variable(scopes, scope, name) {
                    push_bounded(&mut out, v, name)?;
                }
            }
        }
    }
    budget.spend(out.len())?;
    Ok(out)
}

/// The rule variables of one edge, expanded.
pub(super) struct RuleVars {
    values: [String; EXPANDED.len()],
}

/// The rule variables the parser expands for every edge, in [`RuleVars`] order.
const EXPANDED: [&str; 9] = [
    "command",
    "description",
    "depfile",
    "deps",
    "pool",
    "rspfile",
    "rspfile_content",
    "generator",
    "dyndep",
];

impl RuleVars {
    pub(super) fn apply(mut self, edge: &mut Edge) {
        let mut take = |i: usize| std::mem::take(&mut self.values[i]);
        edge.command = take(0);
        edge.description = take(1);
        edge.depfile = take(2);
        edge.deps = take(3);
        edge.pool = take(4);
        edge.rspfile = take(5);
        edge.rspfile_content = take(6);
        edge.generator = !take(7).is_empty();
        edge.dyndep = take(8);
    }
}

/// The bindings of one build statement, in order (a later one shadows an earlier one of
/// the same name). Looked up by a scan while there are few, by a map beyond that, so
/// that a statement of many bindings and many paths costs no quadratic time.
#[derive(Default)]
pub(super) struct EdgeVars<'t> {
    list: Vec<(&'t str, Cow<'t, str>)>,
    /// Name -> position of its last binding, once there are more than [`SCANNED_VARS`].
    index: FastMap<&'t str, usize>,
}

/// Bindings looked up by a scan (nearly every statement has no more).
const SCANNED_VARS: usize = 16;

impl<'t> EdgeVars<'t> {
    pub(super) fn push(&mut self, name: &'t str, value: Cow<'t, str>) {
        self.list.push((name, value));
        if self.list.len() > SCANNED_VARS {
            if self.index.is_empty() {
                for (i, (name, _)) in self.list.iter().enumerate() {
                    self.index.insert(name, i);
                }
            } else {
                self.index.insert(name, self.list.len() - 1);
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        if self.list.len() > SCANNED_VARS {
            return self.index.get(name).map(|&i| &*self.list[i].1);
        }
        self.list
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| &**v)
    }
}

/// Why a rule variable could not be expanded.
enum LookupError {
    /// Rule variables that refer to each other in a loop (the message).
    Cycle(String),
    /// Too long.
    Overflow(Overflow),
}

impl From<Overflow> for LookupError {
    fn from(overflow: Overflow) -> Self {
        LookupError::Overflow(overflow)
    }
}

/// Variable lookup for a rule's bindings on one edge (Ninja's `EdgeEnv`).
pub(super) struct EdgeEnv<'p> {
    pub(super) scopes: &'p [Scope],
    pub(super) budget: &'p Budget,
    pub(super) rule: &'p Rule,
    pub(super) edge_vars: &'p EdgeVars<'p>,
    pub(super) scope: usize,
    pub(super) inputs: &'p [String],
    pub(super) outputs: &'p [String],
}

impl<'p> EdgeEnv<'p> {
    /// Expands every variable of [`EXPANDED`], each into `scratch` first and then copied
    /// out at its exact size.
    pub(super) fn expand_all(&self, scratch: &mut String) -> Result<RuleVars, String> {
        let mut stack = Vec::new();
        let mut values: [String; EXPANDED.len()] = Default::default();
        for (value, name) in values.iter_mut().zip(EXPANDED) {
            let escape = !matches!(name, "depfile" | "rspfile" | "dyndep");
            scratch.clear();
            stack.clear();
            let what = || format!("rule variable '{name}'");
            self.lookup(name, escape, &mut stack, scratch)
                .and_then(|()| Ok(self.budget.spend(scratch.len())?))
                .map_err(|e| match e {
                    LookupError::Cycle(message) => message,
                    LookupError::Overflow(o) => o.message(&what()),
                })?;
            if !scratch.is_empty() {
                *value = scratch.as_str().to_owned();
            }
        }
        Ok(RuleVars { values })
    }

    /// Ninja's `EdgeEnv` lookup, appended to `out`; `escape` is off for file names
    /// (`depfile`, `rspfile`).
    fn lookup(
        &self,
        name: &'p str,
        escape: bool,
        stack: &mut Vec<&'p str>,
        out: &mut String,
    ) -> Result<(), LookupError> {
        let paths = match name {
            "in" => Some((self.inputs, " ")),
            "in_newline" => Some((self.inputs, "\n")),
            "out" => Some((self.outputs, " ")),
            _ => None,
        };
        if let Some((paths, separator)) = paths {
            join_paths(out, paths, separator, escape).map_err(|()| Overflow::Value(name.into()))?;
            return Ok(());
        }
        if let Some(value) = self.edge_vars.get(name) {
            push_bounded(out, value, name)?;
            return Ok(());
        }
        let rule: &'p Rule = self.rule;
        if let Some(eval) = rule.binding(name) {
            let cycle = stack.contains(&name);
            stack.push(name);
            if cycle {
                let message = format!("cycle in rule variables: {}", stack.join(" -> "));
                return Err(LookupError::Cycle(message));
            }
            for piece in eval {
                match piece {
                    OwnedPiece::Literal(text) => push_bounded(out, text, name)?,
                    OwnedPiece::Variable(inner) => self.lookup(inner, escape, stack, out)?,
                }
            }
            stack.pop();
            return Ok(());
        }
        if let Some(value) = lookup_variable(self.scopes, self.scope, name) {
            push_bounded(out, value, name)?;
        }
        Ok(())
    }
}

/// Appends the paths, escaped for the shell or not; `Err` (and `out` left longer than
/// it was, but bounded) when they would pass [`MAX_VALUE_BYTES`].
fn join_paths(out: &mut String, paths: &[String], separator: &str, escape: bool) -> Result<(), ()> {
    for (i, path) in paths.iter().enumerate() {
        // Escaping at most quadruples a path (each `'` becomes four bytes) and adds two.
        let most = path
            .len()
            .saturating_mul(4)
            .saturating_add(2 + separator.len());
        if out.len().saturating_add(most) > MAX_VALUE_BYTES {
            return Err(());
        }
        if i > 0 {
            out.push_str(separator);
        }
        if escape {
            push_shell_escaped(out, path);
        } else {
            out.push_str(path);
        }
    }
    Ok(())
}
