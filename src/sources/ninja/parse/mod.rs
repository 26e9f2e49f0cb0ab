//! The Ninja file parser: statements, `include`/`subninja`, and the checks Ninja makes
//! while it reads (unknown rules and pools, outputs made twice, unknown default targets).
//!
//! It follows Ninja's manifest semantics: file-level variables are evaluated when they are
//! declared; a build statement's own bindings are evaluated in the enclosing file scope;
//! its paths see those bindings; rule variables (`command`, `depfile`, ...) are expanded
//! per edge, looking up `$in`/`$in_newline`/`$out`, then the edge's bindings, then the
//! rule's, then the file scope and its parents (a `subninja` opens a child scope, an
//! `include` shares the current one). Paths are canonicalized as Ninja does (`a/./b`,
//! `a/../b`). Every error names the file and the line: `build.ninja:12: unknown build
//! rule 'cc'`.
//!
//! The parser drives its parts: `lexer` reads the text, `scope` holds what is declared,
//! `expand` evaluates variables within bounds; [`super::canonical`] spells paths; the
//! result is a [`BuildFile`].

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::build_file::{BuildFile, Edge, Location, NinjaError};
use super::canonical::{canonicalize_owned, canonicalize_path};
use crate::model::fasthash::FastMap;
use expand::{eval_with, Budget, EdgeEnv, EdgeVars, Overflow};
use lexer::{Eval, Lexer};
use scope::{find_rule, owned_pieces, Rule, Scope, RULE_VARIABLES};

mod expand;
mod lexer;
mod scope;

/// How deep `include`/`subninja` may nest before the parser assumes a loop.
const MAX_INCLUDE_DEPTH: usize = 64;

/// How many `include`/`subninja` statements one parse may follow in all: files that
/// each include the next twice, 64 deep, would otherwise be read 2^64 times.
pub(crate) const MAX_INCLUDES: usize = 250_000;

/// Reads and parses `path` (paths of `include`/`subninja` resolve against its directory,
/// where Ninja runs).
pub(crate) fn parse_file(path: &Path) -> Result<BuildFile, NinjaError> {
    let name = path.display().to_string();
    let text = read_text(path, &name)?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    parse_str(&text, &name, &dir)
}

/// Parses manifest text; `name` is used in errors, `dir` resolves `include` paths.
pub fn parse_str(text: &str, name: &str, dir: &Path) -> Result<BuildFile, NinjaError> {
    let mut parser = Parser::new(dir);
    // Room for every edge up front: growing large tables step by step costs more.
    let edges = memchr::memmem::find_iter(text.as_bytes(), "\nbuild ").count() + 1;
    parser.out.edges.reserve(edges);
    parser.produced.reserve(edges);
    parser.parse(text, name, 0, 0)?;
    Ok(parser.out)
}

fn read_text(path: &Path, name: &str) -> Result<String, NinjaError> {
    let bytes = crate::fsafe::regular::read_regular(path).map_err(|source| NinjaError::Read {
        file: name.to_string(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| NinjaError::Read {
        file: name.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

/// The paths of a build statement, still unevaluated.
#[derive(Default)]
struct EdgePaths<'t> {
    outputs: Vec<Eval<'t>>,
    implicit_outputs: Vec<Eval<'t>>,
    inputs: Vec<Eval<'t>>,
    implicit_inputs: Vec<Eval<'t>>,
    order_only: Vec<Eval<'t>>,
    validations: Vec<Eval<'t>>,
}

/// The parser's state across files.
struct Parser {
    dir: PathBuf,
    scopes: Vec<Scope>,
    produced: FastMap<String, usize>,
    out: BuildFile,
    /// Where rule variables are expanded before they are copied out (one buffer for all).
    scratch: String,
    /// The expanded text the parse may still make.
    budget: Budget,
    /// `include` and `subninja` statements followed so far (see [`MAX_INCLUDES`]).
    includes: usize,
}

impl Parser {
    fn new(dir: &Path) -> Parser {
        let mut root = Scope::default();
        root.rules.insert("phony".into(), Arc::new(Rule::default()));
        Parser {
            dir: dir.to_path_buf(),
            scopes: vec![root],
            produced: FastMap::default(),
            out: BuildFile::default(),
            scratch: String::new(),
            budget: Budget::new(),
            includes: 0,
        }
    }

    fn parse(
        &mut self,
        text: &str,
        name: &str,
        scope: usize,
        depth: usize,
    ) -> Result<(), NinjaError> {
        let mut lx = Lexer::new(text, name);
        self.budget.grant_for_text(text.len());
        while lx.next_statement()? {
            self.statement(&mut lx, scope, depth)?;
        }
        Ok(())
    }

    fn statement(&mut self, lx: &mut Lexer, scope: usize, depth: usize) -> Result<(), NinjaError> {
        let line = lx.line;
        let Some(word) = lx.ident() else {
            return Err(lx.error(format!(
                "expected a statement (build, rule, pool, default, include, subninja or a variable), got {}",
                lx.describe_next()
            )));
        };
        match word {
            "build" => self.build(lx, scope, line),
            "rule" => self.rule(lx, scope),
            "pool" => self.pool(lx, scope),
            "default" => self.default(lx, scope),
            "include" => self.include(lx, scope, depth, false),
            "subninja" => self.include(lx, scope, depth, true),
            name => {
                let value = self.binding_value(lx)?;
                let value = self
                    .eval_in_scope(&value, scope)
                    .map_err(|o| lx.error_at(line, o.message(&format!("variable '{name}'"))))?;
                self.scopes[scope].vars.insert(name.to_string(), value);
                Ok(())
            }
        }
    }

    /// The ` = value` part of a binding, through the end of its line.
    fn binding_value<'t>(&mut self, lx: &mut Lexer<'t>) -> Result<Eval<'t>, NinjaError> {
        lx.skip_spaces();
        if !lx.eat(b'=') {
            return Err(lx.error(format!("expected '=', got {}", lx.describe_next())));
        }
        lx.skip_spaces();
        let value = lx.eval(false)?;
        lx.expect_newline()?;
        Ok(value)
    }

    /// An indented `key = value` line.
    fn binding<'t>(&mut self, lx: &mut Lexer<'t>) -> Result<(&'t str, Eval<'t>), NinjaError> {
        let key = lx.expect_ident("a variable name")?;
        let value = self.binding_value(lx)?;
        Ok((key, value))
    }

    fn eval_in_scope(&self, eval: &Eval, scope: usize) -> Result<String, Overflow> {
        self.eval_with(eval, &EdgeVars::default(), scope)
    }

    /// [`Parser::eval_in_scope`], borrowing the text when it is one literal.
    fn eval_borrowed<'t>(&self, eval: &Eval<'t>, scope: usize) -> Result<Cow<'t, str>, Overflow> {
        match eval.as_literal() {
            Some(text) => Ok(Cow::Borrowed(text)),
            None => Ok(Cow::Owned(self.eval_in_scope(eval, scope)?)),
        }
    }

    /// Evaluates with an edge's bindings first, then the scope chain; bounded by
    /// [`super::expand::MAX_VALUE_BYTES`] and the budget.
    fn eval_with(
        &self,
        eval: &Eval,
        edge_vars: &EdgeVars,
        scope: usize,
    ) -> Result<String, Overflow> {
        eval_with(&self.scopes, &self.budget, eval, edge_vars, scope)
    }

    /// A path of a build statement, evaluated and canonicalized.
    fn eval_path(
        &self,
        eval: &Eval,
        edge_vars: &EdgeVars,
        scope: usize,
    ) -> Result<String, Overflow> {
        match eval.as_literal() {
            Some(text) => Ok(canonicalize_path(text)),
            None => Ok(canonicalize_owned(self.eval_with(eval, edge_vars, scope)?)),
        }
    }

    fn rule(&mut self, lx: &mut Lexer, scope: usize) -> Result<(), NinjaError> {
        let line = lx.line;
        let name = lx.expect_ident("a rule name")?;
        lx.expect_newline()?;
        if self.scopes[scope].rules.contains_key(name) {
            return Err(lx.error_at(line, format!("duplicate rule '{name}'")));
        }
        let mut rule = Rule::default();
        while lx.binding_follows() {
            let (key, value) = self.binding(lx)?;
            let Some(slot) = RULE_VARIABLES.iter().position(|v| *v == key) else {
                return Err(lx.error_at(lx.line - 1, format!("unexpected variable '{key}'")));
            };
            rule.bindings[slot] = Some(owned_pieces(&value));
        }
        if rule.binds("rspfile") != rule.binds("rspfile_content") {
            return Err(lx.error_at(
                line,
                "rspfile and rspfile_content need to be both specified",
            ));
        }
        if !rule.binds("command") {
            return Err(lx.error_at(line, format!("rule '{name}': expected 'command =' line")));
        }
        self.scopes[scope]
            .rules
            .insert(name.to_string(), Arc::new(rule));
        Ok(())
    }

    fn pool(&mut self, lx: &mut Lexer, scope: usize) -> Result<(), NinjaError> {
        let line = lx.line;
        let name = lx.expect_ident("a pool name")?;
        lx.expect_newline()?;
        if self.out.pools.contains_key(name) || name == "console" {
            return Err(lx.error_at(line, format!("duplicate pool '{name}'")));
        }
        let mut depth = None;
        while lx.binding_follows() {
            let (key, value) = self.binding(lx)?;
            if key != "depth" {
                return Err(lx.error_at(lx.line - 1, format!("unexpected variable '{key}'")));
            }
            let text = self
                .eval_in_scope(&value, scope)
                .map_err(|o| lx.error_at(lx.line - 1, o.message("the pool depth")))?;
            let parsed = text
                .trim()
                .parse::<usize>()
                .map_err(|_| lx.error_at(lx.line - 1, format!("invalid pool depth '{text}'")))?;
            depth = Some(parsed);
        }
        let depth = depth.ok_or_else(|| lx.error_at(line, "expected 'depth =' line"))?;
        self.out.pools.insert(name.to_string(), depth);
        Ok(())
    }

    fn default(&mut self, lx: &mut Lexer, scope: usize) -> Result<(), NinjaError> {
        let paths = lx.paths()?;
        if paths.is_empty() {
            return Err(lx.error("expected target name"));
        }
        for path in &paths {
            let target = self
                .eval_in_scope(path, scope)
                .map_err(|o| lx.error(o.message("a default target")))?;
            let target = canonicalize_path(&target);
            if !self.produced.contains_key(&target) {
                return Err(lx.error(format!("unknown target '{target}'")));
            }
            self.out.defaults.push(target);
        }
        lx.expect_newline()
    }

    fn include(
        &mut self,
        lx: &mut Lexer,
        scope: usize,
        depth: usize,
        subninja: bool,
    ) -> Result<(), NinjaError> {
        let line = lx.line;
        lx.skip_spaces();
        let path = lx.eval(true)?;
        if path.is_empty() {
            return Err(lx.error("expected path"));
        }
        lx.expect_newline()?;
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(lx.error_at(line, "include/subninja nesting too deep (a loop?)"));
        }
        self.includes += 1;
        if self.includes > MAX_INCLUDES {
            return Err(lx.error_at(
                line,
                format!("more than {MAX_INCLUDES} include and subninja statements followed in all (files that include each other many times over?)"),
            ));
        }
        let rel = self
            .eval_in_scope(&path, scope)
            .map_err(|o| lx.error_at(line, o.message("the included path")))?;
        let file = self.dir.join(&rel);
        let text = crate::fsafe::regular::read_regular(&file)
            .map_err(|e| lx.error_at(line, format!("loading '{rel}': {e}")))
            .and_then(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| lx.error_at(line, format!("loading '{rel}': not UTF-8 text")))
            })?;
        let name = file.display().to_string();
        let target = if subninja {
            self.scopes.push(Scope {
                parent: Some(scope),
                ..Scope::default()
            });
            self.scopes.len() - 1
        } else {
            scope
        };
        self.parse(&text, &name, target, depth + 1)
    }

    fn edge_outputs<'t>(&mut self, lx: &mut Lexer<'t>) -> Result<EdgePaths<'t>, NinjaError> {
        let mut paths = EdgePaths {
            outputs: lx.paths()?,
            ..EdgePaths::default()
        };
        if paths.outputs.is_empty() {
            return Err(lx.error("expected path"));
        }
        if lx.eat(b'|') {
            paths.implicit_outputs = lx.paths()?;
        }
        if !lx.eat(b':') {
            return Err(lx.error(format!("expected ':', got {}", lx.describe_next())));
        }
        Ok(paths)
    }

    fn edge_inputs<'t>(
        &mut self,
        lx: &mut Lexer<'t>,
        paths: &mut EdgePaths<'t>,
    ) -> Result<(), NinjaError> {
        paths.inputs = lx.paths()?;
        if lx.peek() == Some(b'|') && !matches!(lx.peek_at(1), Some(b'|') | Some(b'@')) {
            lx.pos += 1;
            paths.implicit_inputs = lx.paths()?;
        }
        if lx.peek() == Some(b'|') && lx.peek_at(1) == Some(b'|') {
            lx.pos += 2;
            paths.order_only = lx.paths()?;
        }
        if lx.peek() == Some(b'|') && lx.peek_at(1) == Some(b'@') {
            lx.pos += 2;
            paths.validations = lx.paths()?;
        }
        lx.expect_newline()
    }

    fn build(&mut self, lx: &mut Lexer, scope: usize, line: usize) -> Result<(), NinjaError> {
        let mut paths = self.edge_outputs(lx)?;
        let rule_name = lx.expect_ident("build command name")?;
        let rule = find_rule(&self.scopes, scope, rule_name)
            .ok_or_else(|| lx.error(format!("unknown build rule '{rule_name}'")))?;
        self.edge_inputs(lx, &mut paths)?;
        let mut edge_vars = EdgeVars::default();
        while lx.binding_follows() {
            let (key, value) = self.binding(lx)?;
            let value = self
                .eval_borrowed(&value, scope)
                .map_err(|o| lx.error_at(lx.line - 1, o.message(&format!("variable '{key}'"))))?;
            edge_vars.push(key, value);
        }
        let list = |evals: &[Eval]| -> Result<Vec<String>, NinjaError> {
            evals
                .iter()
                .map(|e| self.eval_path(e, &edge_vars, scope))
                .collect::<Result<_, _>>()
                .map_err(|o| lx.error_at(line, o.message("a path")))
        };
        let mut edge = Edge {
            rule: rule_name.to_string(),
            outputs: list(&paths.outputs)?,
            implicit_outputs: list(&paths.implicit_outputs)?,
            inputs: list(&paths.inputs)?,
            implicit_inputs: list(&paths.implicit_inputs)?,
            order_only: list(&paths.order_only)?,
            validations: list(&paths.validations)?,
            location: Location {
                file: Arc::clone(&lx.shared_file),
                line,
            },
            ..Edge::default()
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        let env = EdgeEnv {
            scopes: &self.scopes,
            budget: &self.budget,
            rule: &rule,
            edge_vars: &edge_vars,
            scope,
            inputs: &edge.inputs,
            outputs: &edge.outputs,
        };
        let vars = env.expand_all(&mut scratch);
        self.scratch = scratch;
        vars.map_err(|m| lx.error_at(line, m))?.apply(&mut edge);
        self.check_pool(&edge).map_err(|m| lx.error_at(line, m))?;
        self.register(edge).map_err(|m| lx.error_at(line, m))
    }

    fn check_pool(&self, edge: &Edge) -> Result<(), String> {
        let known = edge.pool.is_empty()
            || edge.pool == "console"
            || self.out.pools.contains_key(&edge.pool);
        if known {
            Ok(())
        } else {
            Err(format!("unknown pool name '{}'", edge.pool))
        }
    }

    fn register(&mut self, edge: Edge) -> Result<(), String> {
        let index = self.out.edges.len();
        for output in edge.all_outputs() {
            if self.produced.insert(output.clone(), index).is_some() {
                return Err(format!("multiple rules generate {output}"));
            }
        }
        self.out.edges.push(edge);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BuildFile {
        parse_str(text, "build.ninja", Path::new(".")).unwrap()
    }

    fn error(text: &str) -> String {
        parse_str(text, "build.ninja", Path::new("."))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn rule_and_build_expand_in_and_out() {
        let file = parse(
            "cflags = -O2\nrule cc\n  command = gcc $cflags -c $in -o $out\n  description = CC $out\n\nbuild a.o: cc a.c\n",
        );
        let edge = &file.edges[0];
        assert_eq!(edge.command, "gcc -O2 -c a.c -o a.o");
        assert_eq!(edge.description, "CC a.o");
        assert_eq!(edge.outputs, ["a.o"]);
        assert_eq!(edge.inputs, ["a.c"]);
    }

    #[test]
    fn edge_bindings_shadow_file_variables_and_see_the_file_scope() {
        let file = parse(
            "flags = -O2\nrule cc\n  command = cc $flags $in\nbuild a.o: cc a.c\n  flags = $flags -g\nbuild b.o: cc b.c\n",
        );
        assert_eq!(file.edges[0].command, "cc -O2 -g a.c");
        assert_eq!(file.edges[1].command, "cc -O2 b.c");
    }

    #[test]
    fn file_variables_are_evaluated_when_declared() {
        let file = parse("a = 1\nb = $a\na = 2\nrule r\n  command = echo $a $b\nbuild o: r\n");
        assert_eq!(file.edges[0].command, "echo 2 1");
    }

    #[test]
    fn implicit_order_only_validation_and_implicit_outputs_are_separated() {
        let file = parse(
            "rule r\n  command = x\nbuild o | o.d: r i1 i2 | h.h || gen v |@ check\nbuild gen v check: r\n",
        );
        let edge = &file.edges[0];
        assert_eq!(edge.outputs, ["o"]);
        assert_eq!(edge.implicit_outputs, ["o.d"]);
        assert_eq!(edge.inputs, ["i1", "i2"]);
        assert_eq!(edge.implicit_inputs, ["h.h"]);
        assert_eq!(edge.order_only, ["gen", "v"]);
        assert_eq!(edge.validations, ["check"]);
    }

    #[test]
    fn escapes_and_continuations() {
        let file = parse("rule r\n  command = echo $$HOME $\n      done\nbuild a$ b$:c: r x$$y\n");
        let edge = &file.edges[0];
        assert_eq!(edge.outputs, ["a b:c"]);
        assert_eq!(edge.inputs, ["x$y"]);
        assert_eq!(edge.command, "echo $HOME done");
    }

    #[test]
    fn in_and_out_are_shell_escaped_and_in_newline_splits_lines() {
        let file = parse("rule r\n  command = cat $in > $out\n  rspfile = $out.rsp\n  rspfile_content = $in_newline\nbuild o$ 1: r a b'c\n");
        let edge = &file.edges[0];
        assert_eq!(edge.command, "cat a 'b'\\''c' > 'o 1'");
        assert_eq!(edge.rspfile_content, "a\n'b'\\''c'");
        assert_eq!(edge.rspfile, "o 1.rsp");
    }

    #[test]
    fn braced_variables_and_comments() {
        let file =
            parse("# top\nx.y = 3\nrule r\n  # inside\n  command = echo ${x.y}$x.y\nbuild o: r\n");
        assert_eq!(file.edges[0].command, "echo 3.y");
    }

    #[test]
    fn rule_variables_may_refer_to_each_other() {
        let file = parse("rule r\n  depfile = $out.d\n  command = cc -MF $depfile -o $out\n  deps = gcc\nbuild o: r\n");
        assert_eq!(file.edges[0].command, "cc -MF o.d -o o");
        assert_eq!(file.edges[0].depfile, "o.d");
        assert_eq!(file.edges[0].deps, "gcc");
    }

    #[test]
    fn paths_are_canonicalized() {
        let file = parse("rule r\n  command = x\nbuild ./a/../b/./c: r ../src//x.c\n");
        assert_eq!(file.edges[0].outputs, ["b/c"]);
        assert_eq!(file.edges[0].inputs, ["../src/x.c"]);
    }

    #[test]
    fn pools_defaults_and_phony() {
        let file = parse("pool link\n  depth = 2\nrule r\n  command = x\n  pool = link\nbuild a: r\nbuild all: phony a\ndefault all\n");
        assert_eq!(file.pools["link"], 2);
        assert_eq!(file.edges[0].pool, "link");
        assert!(file.edges[1].is_phony());
        assert_eq!(file.defaults, ["all"]);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        assert_eq!(
            error("rule r\n  command = x\n\nbuild a: cc b\n"),
            "build.ninja:4: unknown build rule 'cc'"
        );
        assert_eq!(
            error("x = $!\n"),
            "build.ninja:1: bad $-escape (literal $ must be written as $$)"
        );
        assert_eq!(
            error("rule r\n  command = x\n  colour = red\n"),
            "build.ninja:3: unexpected variable 'colour'"
        );
        assert_eq!(
            error("rule r\n  command = x\nbuild a: r\nbuild a: r\n"),
            "build.ninja:4: multiple rules generate a"
        );
        assert_eq!(
            error("rule r\n  command = x\n  pool = big\nbuild a: r\n"),
            "build.ninja:4: unknown pool name 'big'"
        );
        assert_eq!(
            error("default nothing\n"),
            "build.ninja:1: unknown target 'nothing'"
        );
        assert_eq!(error("  x = 1\n"), "build.ninja:1: unexpected indent");
        assert_eq!(
            error("rule r\n  description = x\n"),
            "build.ninja:1: rule 'r': expected 'command =' line"
        );
        assert_eq!(
            error("rule r\n  command = $a\n  a = $command\n"),
            "build.ninja:3: unexpected variable 'a'"
        );
    }

    /// `v1 = $v0$v0` and so on: `v{n}` is `2^n` times `v0`.
    fn doublings(v0: &str, n: usize) -> String {
        let mut text = format!("v0 = {v0}\n");
        for i in 1..=n {
            text.push_str(&format!("v{i} = $v{}$v{}\n", i - 1, i - 1));
        }
        text
    }

    #[test]
    fn one_expansion_is_bounded_and_the_error_names_variable_and_line() {
        // v0 is 16 bytes: v22 is 64 MiB, just allowed; v23 is not.
        let err = error(&doublings("0123456789abcdef", 40));
        assert_eq!(
            err,
            "build.ninja:24: variable 'v23' would be longer than 64 MiB where $v22 is expanded (a variable doubled again and again?); values are bounded so that a build file cannot exhaust memory"
        );
        // The same bound holds for paths, edge bindings and rule variables.
        let base = doublings("0123456789abcdef", 22);
        let cases = [
            ("rule r\n  command = x\nbuild $v22$v22: r\n", "a path"),
            (
                "rule r\n  command = x\nbuild o: r\n  e = $v22$v22\n",
                "variable 'e'",
            ),
            (
                "rule r\n  command = $v22 $v22\nbuild o: r\n",
                "rule variable 'command'",
            ),
            (
                "rule r\n  command = $in $in\nbuild o: r $v22\n",
                "rule variable 'command'",
            ),
        ];
        for (tail, what) in cases {
            let err = error(&format!("{base}{tail}"));
            assert!(
                err.contains(&format!("{what} would be longer than 64 MiB")),
                "{err}"
            );
        }
    }

    #[test]
    fn all_expansions_together_are_bounded() {
        let mut parser = Parser::new(Path::new("."));
        parser.budget.limit = 0;
        // 1 KiB expanded per line of 10 bytes: past 16 bytes per byte read at once.
        let mut text = format!("x = {}\n", "y".repeat(512));
        for i in 0..100 {
            text.push_str(&format!("a{i} = $x$x\n"));
        }
        let err = parser.parse(&text, "build.ninja", 0, 0).unwrap_err();
        assert!(err.to_string().contains("expanding variable 'a"), "{err}");
        // A real file stays far inside its budget.
        let mut parser = Parser::new(Path::new("."));
        parser.budget.limit = 0;
        let text =
            "cflags = -O2 -g\nrule cc\n  command = cc $cflags -c $in -o $out\nbuild a.o: cc a.c\n";
        parser.parse(text, "build.ninja", 0, 0).unwrap();
    }

    #[test]
    fn many_bindings_of_one_statement_shadow_in_order() {
        let mut text = String::from("rule r\n  command = echo $v0 $v39 $w\nbuild o: r\n");
        for i in 0..40 {
            text.push_str(&format!("  v{i} = {i}\n"));
        }
        text.push_str("  w = a\n  w = b\n");
        assert_eq!(parse(&text).edges[0].command, "echo 0 39 b");
    }

    #[test]
    fn recursive_rule_variables_are_an_error() {
        let err = error("rule r\n  command = $depfile\n  depfile = $command\nbuild o: r\n");
        assert!(
            err.starts_with("build.ninja:4: cycle in rule variables"),
            "{err}"
        );
    }

    #[test]
    fn include_shares_the_scope_and_subninja_opens_a_child() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vars.ninja"), "flags = -g\n").unwrap();
        std::fs::write(
            dir.path().join("sub.ninja"),
            "flags = -O3\nrule cc\n  command = cc $flags $in\nbuild sub.o: cc sub.c\n",
        )
        .unwrap();
        let main = dir.path().join("build.ninja");
        std::fs::write(
            &main,
            "include vars.ninja\nsubninja sub.ninja\nrule cc\n  command = cc $flags $in\nbuild a.o: cc a.c\n",
        )
        .unwrap();
        let file = parse_file(&main).unwrap();
        assert_eq!(file.edges[0].command, "cc -O3 sub.c");
        assert_eq!(file.edges[1].command, "cc -g a.c");
    }

    #[test]
    fn includes_that_fan_out_stop_at_the_bound() {
        // Each file includes the next twice: 2^41 reads without a bound.
        let dir = tempfile::tempdir().unwrap();
        for i in 0..41 {
            let next = format!("include f{}.ninja\n", i + 1);
            std::fs::write(dir.path().join(format!("f{i}.ninja")), next.repeat(2)).unwrap();
        }
        std::fs::write(dir.path().join("f41.ninja"), "").unwrap();
        let main = dir.path().join("build.ninja");
        std::fs::write(&main, "include f0.ninja\n").unwrap();
        let err = parse_file(&main).unwrap_err().to_string();
        assert!(
            err.contains("f39.ninja:1: more than 250000 include and subninja statements followed in all (files that include each other many times over?)"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_include_names_the_including_line() {
        let err = error("rule r\n  command = x\ninclude nope.ninja\n");
        assert!(
            err.starts_with("build.ninja:3: loading 'nope.ninja'"),
            "{err}"
        );
    }
}
