//! What a Ninja file declares: file scopes (a `subninja` opens a child scope, an
//! `include` shares the current one) holding variables and rules, and a rule's bindings,
//! kept unevaluated until an edge expands them.

use std::sync::Arc;

use super::lexer::{Eval, Piece};
use crate::model::fasthash::FastMap;

/// Variables a `rule` may set (anything else is an error, as in Ninja).
pub(super) const RULE_VARIABLES: &[&str] = &[
    "command",
    "depfile",
    "dyndep",
    "deps",
    "description",
    "generator",
    "pool",
    "restat",
    "rspfile",
    "rspfile_content",
    "msvc_deps_prefix",
    "hide_success",
    "hide_progress",
];

/// A piece of a rule's binding, owned: a rule outlives the text of the file declaring it
/// (an `include`d file's text is dropped after it is read).
#[derive(Debug)]
pub(super) enum OwnedPiece {
    Literal(Box<str>),
    Variable(Box<str>),
}

/// A rule binding, unevaluated.
pub(super) type RuleEval = Vec<OwnedPiece>;

pub(super) fn owned_pieces(eval: &Eval) -> RuleEval {
    eval.pieces()
        .map(|piece| match piece {
            Piece::Literal(text) => OwnedPiece::Literal(text.into()),
            Piece::Variable(name) => OwnedPiece::Variable(name.into()),
        })
        .collect()
}

/// A rule: its bindings, by position in [`RULE_VARIABLES`] (the only names it may bind),
/// so looking one up compares a few short names instead of hashing.
#[derive(Debug, Default)]
pub(super) struct Rule {
    pub(super) bindings: [Option<RuleEval>; RULE_VARIABLES.len()],
}

impl Rule {
    pub(super) fn binding(&self, name: &str) -> Option<&RuleEval> {
        let slot = RULE_VARIABLES.iter().position(|v| *v == name)?;
        self.bindings[slot].as_ref()
    }

    pub(super) fn binds(&self, name: &str) -> bool {
        self.binding(name).is_some()
    }
}

/// One file scope: its variables (evaluated when declared), its rules, and the scope it
/// was opened in (`None` for the top file's).
#[derive(Debug, Default)]
pub(super) struct Scope {
    pub(super) vars: FastMap<String, String>,
    pub(super) rules: FastMap<String, Arc<Rule>>,
    pub(super) parent: Option<usize>,
}

/// The value of variable `name` seen from `scope`: its own binding, else its parents'.
pub(super) fn lookup_variable<'s>(
    scopes: &'s [Scope],
    mut scope: usize,
    name: &str,
) -> Option<&'s str> {
    loop {
        if let Some(value) = scopes[scope].vars.get(name) {
            return Some(value);
        }
        scope = scopes[scope].parent?;
    }
}

/// The rule `name` seen from `scope`: declared there, else in its parents.
pub(super) fn find_rule(scopes: &[Scope], mut scope: usize, name: &str) -> Option<Arc<Rule>> {
    loop {
        if let Some(rule) = scopes[scope].rules.get(name) {
            return Some(Arc::clone(rule));
        }
        scope = scopes[scope].parent?;
    }
}
