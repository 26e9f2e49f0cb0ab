//! The Ninja file parser: statements, scopes, variable expansion, `include`/`subninja`.
//!
//! It follows Ninja's manifest semantics: file-level variables are evaluated when they are
//! declared; a build statement's own bindings are evaluated in the enclosing file scope;
//! its paths see those bindings; rule variables (`command`, `depfile`, ...) are expanded
//! per edge, looking up `$in`/`$in_newline`/`$out`, then the edge's bindings, then the
//! rule's, then the file scope and its parents (a `subninja` opens a child scope, an
//! `include` shares the current one). Paths are canonicalized as Ninja does (`a/./b`,
//! `a/../b`). Every error names the file and the line: `build.ninja:12: unknown build
//! rule 'cc'`.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::fasthash::FastMap;
use crate::model::graph::{clip, MAX_MESSAGE, MAX_SHOWN};

/// How deep `include`/`subninja` may nest before the parser assumes a loop.
const MAX_INCLUDE_DEPTH: usize = 64;

/// How many `include`/`subninja` statements one parse may follow in all: files that
/// each include the next twice, 64 deep, would otherwise be read 2^64 times.
pub const MAX_INCLUDES: usize = 250_000;

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

/// Variables a `rule` may set (anything else is an error, as in Ninja).
const RULE_VARIABLES: &[&str] = &[
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

/// A problem in a Ninja file.
#[derive(Debug, thiserror::Error)]
pub enum NinjaError {
    /// Invalid syntax or meaning, at a line of a file.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file, as named by the user or the `include` statement.
        file: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file (the manifest or an included one) cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Where a statement was written.
#[derive(Debug, Clone, Default)]
pub struct Location {
    /// The file.
    pub file: Arc<str>,
    /// The 1-based line of the statement's first line.
    pub line: usize,
}

/// Locations never make two edges differ: one graph written twice has other line numbers.
impl PartialEq for Location {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for Location {}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One build edge with its paths (canonicalized, relative to the build directory unless
/// absolute) and its rule variables expanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edge {
    /// The rule's name (`phony` for phony edges).
    pub rule: String,
    /// Explicit outputs (`$out`).
    pub outputs: Vec<String>,
    /// Implicit outputs (after `|` in the outputs).
    pub implicit_outputs: Vec<String>,
    /// Explicit inputs (`$in`).
    pub inputs: Vec<String>,
    /// Implicit inputs (after `|`).
    pub implicit_inputs: Vec<String>,
    /// Order-only inputs (after `||`).
    pub order_only: Vec<String>,
    /// Validations (after `|@`).
    pub validations: Vec<String>,
    /// The expanded command (empty for phony edges).
    pub command: String,
    /// The expanded description.
    pub description: String,
    /// The depfile the command writes, if any.
    pub depfile: String,
    /// `deps = gcc` or `deps = msvc`: Ninja moves the depfile into `.ninja_deps`.
    pub deps: String,
    /// The pool (`console`, a declared pool, or empty).
    pub pool: String,
    /// A response file written before the command runs.
    pub rspfile: String,
    /// The response file's content.
    pub rspfile_content: String,
    /// Whether the edge regenerates the build files (`generator = 1`).
    pub generator: bool,
    /// A dyndep file (not supported by the importer, which says so).
    pub dyndep: String,
    /// Where the edge was declared.
    pub location: Location,
}

impl Edge {
    /// Whether this is a `phony` edge (an alias, not a command).
    pub fn is_phony(&self) -> bool {
        self.rule == "phony"
    }

    /// Explicit and implicit outputs.
    pub fn all_outputs(&self) -> impl Iterator<Item = &String> {
        self.outputs.iter().chain(&self.implicit_outputs)
    }
}

/// A parsed Ninja manifest: its edges in file order, its default targets and pools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFile {
    /// Every build edge, in the order written (includes and subninjas inline).
    pub edges: Vec<Edge>,
    /// The targets of `default` statements, in order.
    pub defaults: Vec<String>,
    /// Declared pools and their depth.
    pub pools: BTreeMap<String, usize>,
}

/// Reads and parses `path` (paths of `include`/`subninja` resolve against its directory,
/// where Ninja runs).
pub fn parse_file(path: &Path) -> Result<BuildFile, NinjaError> {
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
    let bytes = super::files::read_regular(path).map_err(|source| NinjaError::Read {
        file: name.to_string(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| NinjaError::Read {
        file: name.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })
}

/// Ninja's path canonicalization: drops `.` and empty components and folds `dir/..`.
pub fn canonicalize_path(path: &str) -> String {
    if is_canonical(path) {
        return path.to_string();
    }
    canonicalize_slow(path)
}

/// [`canonicalize_path`] of an owned path, which is kept when already canonical.
fn canonicalize_owned(path: String) -> String {
    if is_canonical(&path) {
        return path;
    }
    canonicalize_slow(&path)
}

/// Whether [`canonicalize_path`] leaves a path as it is (the common case, checked fast).
fn is_canonical(path: &str) -> bool {
    // Leading `..` components stay as they are (`../src/a.c` is canonical).
    let mut rest = path;
    while let Some(after) = rest.strip_prefix("../") {
        rest = after;
    }
    if rest.len() < path.len() && rest.starts_with('/') {
        return false;
    }
    let path = rest;
    !path.is_empty()
        && !path.starts_with('.')
        && !path.ends_with('/')
        && !has_empty_or_dot_part(path)
}

/// Whether a `/` in `path` is followed by `.` or another `/` (what `contains("/.")` or
/// `contains("//")` says, in one pass: `str::contains` sets up a searcher per call, which
/// costs more than a byte loop over paths this short).
pub(super) fn has_empty_or_dot_part(path: &str) -> bool {
    let bytes = path.as_bytes();
    let next = bytes.get(1..).unwrap_or_default();
    bytes
        .iter()
        .zip(next)
        .any(|(&byte, &after)| byte == b'/' && matches!(after, b'.' | b'/'))
}

fn canonicalize_slow(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Ninja's shell escaping of one path inside `$in` and `$out`.
pub fn shell_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    push_shell_escaped(&mut out, path);
    out
}

/// The bytes [`shell_escape`] leaves as they are, by value (a table: every byte of every
/// path of a large build goes through it).
const SHELL_SAFE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.' | b'/');
        byte += 1;
    }
    table
};

/// Appends [`shell_escape`] of `path` to `out`.
pub fn push_shell_escaped(out: &mut String, path: &str) {
    if !path.is_empty() && path.bytes().all(|b| SHELL_SAFE[usize::from(b)]) {
        out.push_str(path);
        return;
    }
    out.push('\'');
    out.push_str(&path.replace('\'', "'\\''"));
    out.push('\'');
}

/// A piece of an unevaluated string, borrowed from the file's text: every literal is a
/// slice of it (an escaped `$$`, `$ ` or `$:` is the slice of its second byte), so
/// reading a statement copies nothing.
#[derive(Debug, Clone, Copy)]
enum Piece<'t> {
    Literal(&'t str),
    Variable(&'t str),
}

/// An unevaluated string: literal text and `$variable` references. The first piece is
/// held inline: most paths and values are one literal, which then needs no allocation.
#[derive(Debug, Clone, Default)]
struct Eval<'t> {
    first: Option<Piece<'t>>,
    rest: Vec<Piece<'t>>,
}

impl<'t> Eval<'t> {
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn push(&mut self, piece: Piece<'t>) {
        if self.first.is_none() {
            self.first = Some(piece);
        } else {
            self.rest.push(piece);
        }
    }

    /// Adds literal text (nothing when it is empty).
    fn push_literal(&mut self, text: &'t str) {
        if !text.is_empty() {
            self.push(Piece::Literal(text));
        }
    }

    fn pieces(&self) -> impl Iterator<Item = Piece<'t>> + '_ {
        self.first.into_iter().chain(self.rest.iter().copied())
    }

    /// The text, when it is one literal (no variable to look up).
    fn as_literal(&self) -> Option<&'t str> {
        match (self.first, self.rest.is_empty()) {
            (Some(Piece::Literal(text)), true) => Some(text),
            _ => None,
        }
    }
}

/// A piece of a rule's binding, owned: a rule outlives the text of the file declaring it
/// (an `include`d file's text is dropped after it is read).
#[derive(Debug)]
enum OwnedPiece {
    Literal(Box<str>),
    Variable(Box<str>),
}

/// A rule binding, unevaluated.
type RuleEval = Vec<OwnedPiece>;

fn owned_pieces(eval: &Eval) -> RuleEval {
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
struct Rule {
    bindings: [Option<RuleEval>; RULE_VARIABLES.len()],
}

impl Rule {
    fn binding(&self, name: &str) -> Option<&RuleEval> {
        let slot = RULE_VARIABLES.iter().position(|v| *v == name)?;
        self.bindings[slot].as_ref()
    }

    fn binds(&self, name: &str) -> bool {
        self.binding(name).is_some()
    }
}

#[derive(Debug, Default)]
struct Scope {
    vars: FastMap<String, String>,
    rules: FastMap<String, Arc<Rule>>,
    parent: Option<usize>,
}

/// The byte cursor over one file.
struct Lexer<'t> {
    src: &'t str,
    bytes: &'t [u8],
    pos: usize,
    line: usize,
    file: &'t str,
    /// The same, shared by the locations of the file's edges.
    shared_file: Arc<str>,
}

impl<'t> Lexer<'t> {
    fn new(src: &'t str, file: &'t str) -> Lexer<'t> {
        Lexer {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            line: 1,
            file,
            shared_file: Arc::from(file),
        }
    }

    /// An error at `line`; a message quoting a huge name or path is shortened.
    fn error_at(&self, line: usize, message: impl Into<String>) -> NinjaError {
        let message = message.into();
        NinjaError::Syntax {
            file: self.file.to_string(),
            line,
            message: match clip(&message, MAX_MESSAGE) {
                Cow::Borrowed(_) => message,
                Cow::Owned(clipped) => clipped,
            },
        }
    }

    fn error(&self, message: impl Into<String>) -> NinjaError {
        self.error_at(self.line, message)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    /// The newline at the cursor, if any: its length (1 or 2).
    fn newline_len(&self) -> Option<usize> {
        match (self.peek(), self.peek_at(1)) {
            (Some(b'\n'), _) => Some(1),
            (Some(b'\r'), Some(b'\n')) => Some(2),
            _ => None,
        }
    }

    fn skip_line(&mut self) {
        match memchr::memchr(b'\n', &self.bytes[self.pos..]) {
            Some(i) => {
                self.pos += i + 1;
                self.line += 1;
            }
            None => self.pos = self.bytes.len(),
        }
    }

    fn count_spaces(&self) -> usize {
        self.bytes[self.pos..]
            .iter()
            .take_while(|&&b| b == b' ')
            .count()
    }

    /// Skips blank and comment lines; `Ok(false)` at the end of the file.
    fn next_statement(&mut self) -> Result<bool, NinjaError> {
        loop {
            let spaces = self.count_spaces();
            let after = self.bytes.get(self.pos + spaces).copied();
            match after {
                None => return Ok(false),
                Some(b'#') => self.skip_line(),
                Some(b'\n') | Some(b'\r') => {
                    self.pos += spaces;
                    if self.newline_len().is_none() {
                        return Err(self.error("unexpected carriage return"));
                    }
                    self.skip_line();
                }
                Some(_) if spaces > 0 => return Err(self.error("unexpected indent")),
                Some(_) => return Ok(true),
            }
        }
    }

    /// Whether an indented binding line follows (comment lines are skipped).
    fn binding_follows(&mut self) -> bool {
        loop {
            let spaces = self.count_spaces();
            match self.bytes.get(self.pos + spaces).copied() {
                Some(b'#') => self.skip_line(),
                Some(b'\n') | Some(b'\r') | None => return false,
                Some(_) if spaces > 0 => {
                    self.pos += spaces;
                    return true;
                }
                Some(_) => return false,
            }
        }
    }

    /// Skips spaces and `$`-newline continuations between tokens.
    fn skip_spaces(&mut self) {
        loop {
            match (self.peek(), self.peek_at(1), self.peek_at(2)) {
                (Some(b' '), _, _) => self.pos += 1,
                (Some(b'$'), Some(b'\n'), _) => {
                    self.pos += 2;
                    self.line += 1;
                }
                (Some(b'$'), Some(b'\r'), Some(b'\n')) => {
                    self.pos += 3;
                    self.line += 1;
                }
                _ => return,
            }
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// An identifier (`[A-Za-z0-9_.-]+`), or `None` when there is none at the cursor.
    fn ident(&mut self) -> Option<&'t str> {
        let start = self.pos;
        while self.peek().is_some_and(is_varname_byte) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.src[start..self.pos])
    }

    fn expect_ident(&mut self, what: &str) -> Result<&'t str, NinjaError> {
        self.skip_spaces();
        self.ident()
            .ok_or_else(|| self.error(format!("expected {what}, got {}", self.describe_next())))
    }

    fn describe_next(&self) -> String {
        match self.peek() {
            None => "end of file".into(),
            Some(b'\n') | Some(b'\r') => "newline".into(),
            Some(_) => {
                // The word at the cursor, up to [`MAX_SHOWN`] characters of it.
                let rest = &self.src[self.pos..];
                let mut word = rest.chars().take_while(|c| !c.is_whitespace());
                let shown: String = word.by_ref().take(MAX_SHOWN).collect();
                let more = if word.next().is_some() { "..." } else { "" };
                format!("'{shown}{more}'")
            }
        }
    }

    fn expect_newline(&mut self) -> Result<(), NinjaError> {
        self.skip_spaces();
        if self.peek().is_none() {
            return Ok(());
        }
        match self.newline_len() {
            Some(n) => {
                self.pos += n;
                self.line += 1;
                Ok(())
            }
            None => Err(self.error(format!("expected newline, got {}", self.describe_next()))),
        }
    }

    /// Reads a `$`-escaped string: a path (stops at space, `:`, `|`) or a value (to the
    /// end of the line).
    fn eval(&mut self, path: bool) -> Result<Eval<'t>, NinjaError> {
        let mut eval = Eval::default();
        let mut run = self.pos;
        while let Some(byte) = self.peek() {
            match byte {
                b'$' => {
                    eval.push_literal(&self.src[run..self.pos]);
                    run = self.escape(&mut eval)?;
                }
                b' ' | b':' | b'|' if path => break,
                b'\n' => break,
                b'\r' if self.peek_at(1) == Some(b'\n') => break,
                0 => return Err(self.error("unexpected NUL byte")),
                _ => self.pos += 1,
            }
        }
        eval.push_literal(&self.src[run..self.pos]);
        Ok(eval)
    }

    /// One `$` escape at the cursor; returns where the next literal text starts (at an
    /// escaped byte itself: `$$` continues the text with the second `$`).
    fn escape(&mut self, eval: &mut Eval<'t>) -> Result<usize, NinjaError> {
        let next = self.peek_at(1);
        match next {
            Some(b'$') | Some(b' ') | Some(b':') => {
                self.pos += 2;
                return Ok(self.pos - 1);
            }
            Some(b'\n') | Some(b'\r') => {
                self.pos += 1;
                let Some(n) = self.newline_len() else {
                    return Err(self.error("bad $-escape (literal $ must be written as $$)"));
                };
                self.pos += n;
                self.line += 1;
                self.pos += self.count_spaces();
            }
            Some(b'{') => {
                self.pos += 2;
                let name = self.ident().unwrap_or_default();
                if !self.eat(b'}') {
                    return Err(self.error("bad $-escape: expected '}' after ${name"));
                }
                eval.push(Piece::Variable(name));
            }
            Some(b) if is_simple_varname_byte(b) => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(is_simple_varname_byte) {
                    self.pos += 1;
                }
                eval.push(Piece::Variable(&self.src[start..self.pos]));
            }
            _ => return Err(self.error("bad $-escape (literal $ must be written as $$)")),
        }
        Ok(self.pos)
    }

    /// Paths up to the next `:`, `|` or newline.
    fn paths(&mut self) -> Result<Vec<Eval<'t>>, NinjaError> {
        let mut out = Vec::new();
        loop {
            self.skip_spaces();
            let path = self.eval(true)?;
            if path.is_empty() {
                return Ok(out);
            }
            out.push(path);
        }
    }
}

fn is_varname_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn is_simple_varname_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
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

/// An expansion that would pass a bound.
#[derive(Debug)]
enum Overflow {
    /// One value would pass [`MAX_VALUE_BYTES`] where `$variable` is expanded (empty:
    /// in literal text before any variable).
    Value(String),
    /// All expansions together would pass the budget (bytes).
    Total(usize),
}

impl Overflow {
    /// The message for the expansion of `what` ("variable 'v40'", "a path").
    fn message(&self, what: &str) -> String {
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

/// The parser's state across files.
struct Parser {
    dir: PathBuf,
    scopes: Vec<Scope>,
    produced: FastMap<String, usize>,
    out: BuildFile,
    /// Where rule variables are expanded before they are copied out (one buffer for all).
    scratch: String,
    /// Bytes made by expansions so far.
    expanded: Cell<usize>,
    /// How many they may make: [`EXPANDED_BASE_BYTES`] and [`EXPANDED_PER_BYTE`] for
    /// every byte read.
    budget: usize,
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
            expanded: Cell::new(0),
            budget: EXPANDED_BASE_BYTES,
            includes: 0,
        }
    }

    /// Counts `bytes` of expanded text against the budget.
    fn spend(&self, bytes: usize) -> Result<(), Overflow> {
        let expanded = self.expanded.get().saturating_add(bytes);
        if expanded > self.budget {
            return Err(Overflow::Total(self.budget));
        }
        self.expanded.set(expanded);
        Ok(())
    }

    fn parse(
        &mut self,
        text: &str,
        name: &str,
        scope: usize,
        depth: usize,
    ) -> Result<(), NinjaError> {
        let mut lx = Lexer::new(text, name);
        self.budget = self
            .budget
            .saturating_add(text.len().saturating_mul(EXPANDED_PER_BYTE));
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

    fn lookup_scope(&self, mut scope: usize, name: &str) -> Option<&str> {
        loop {
            if let Some(value) = self.scopes[scope].vars.get(name) {
                return Some(value);
            }
            scope = self.scopes[scope].parent?;
        }
    }

    fn find_rule(&self, mut scope: usize, name: &str) -> Option<Arc<Rule>> {
        loop {
            if let Some(rule) = self.scopes[scope].rules.get(name) {
                return Some(Arc::clone(rule));
            }
            scope = self.scopes[scope].parent?;
        }
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
    /// [`MAX_VALUE_BYTES`] and the budget.
    fn eval_with(
        &self,
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
                    } else if let Some(v) = self.lookup_scope(scope, name) {
                        push_bounded(&mut out, v, name)?;
                    }
                }
            }
        }
        self.spend(out.len())?;
        Ok(out)
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
        let text = super::files::read_regular(&file)
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
        let rule = self
            .find_rule(scope, rule_name)
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
            parser: self,
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

/// The rule variables of one edge, expanded.
struct RuleVars {
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
    fn apply(mut self, edge: &mut Edge) {
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
struct EdgeVars<'t> {
    list: Vec<(&'t str, Cow<'t, str>)>,
    /// Name -> position of its last binding, once there are more than [`SCANNED_VARS`].
    index: FastMap<&'t str, usize>,
}

/// Bindings looked up by a scan (nearly every statement has no more).
const SCANNED_VARS: usize = 16;

impl<'t> EdgeVars<'t> {
    fn push(&mut self, name: &'t str, value: Cow<'t, str>) {
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
struct EdgeEnv<'p> {
    parser: &'p Parser,
    rule: &'p Rule,
    edge_vars: &'p EdgeVars<'p>,
    scope: usize,
    inputs: &'p [String],
    outputs: &'p [String],
}

impl<'p> EdgeEnv<'p> {
    /// Expands every variable of [`EXPANDED`], each into `scratch` first and then copied
    /// out at its exact size.
    fn expand_all(&self, scratch: &mut String) -> Result<RuleVars, String> {
        let mut stack = Vec::new();
        let mut values: [String; EXPANDED.len()] = Default::default();
        for (value, name) in values.iter_mut().zip(EXPANDED) {
            let escape = !matches!(name, "depfile" | "rspfile" | "dyndep");
            scratch.clear();
            stack.clear();
            let what = || format!("rule variable '{name}'");
            self.lookup(name, escape, &mut stack, scratch)
                .and_then(|()| Ok(self.parser.spend(scratch.len())?))
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
        if let Some(value) = self.parser.lookup_scope(self.scope, name) {
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
        assert_eq!(canonicalize_path("/a/../../b"), "/b");
        assert_eq!(canonicalize_path("../../x"), "../../x");
        for path in [
            "../src/a.c",
            "../../a",
            "..//a",
            "../a/../b",
            "../",
            "../.",
            "a/b",
            "/x/../y",
        ] {
            let fast = canonicalize_path(path);
            assert_eq!(fast, canonicalize_slow(path), "{path}");
        }
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
        parser.budget = 0;
        // 1 KiB expanded per line of 10 bytes: past 16 bytes per byte read at once.
        let mut text = format!("x = {}\n", "y".repeat(512));
        for i in 0..100 {
            text.push_str(&format!("a{i} = $x$x\n"));
        }
        let err = parser.parse(&text, "build.ninja", 0, 0).unwrap_err();
        assert!(err.to_string().contains("expanding variable 'a"), "{err}");
        // A real file stays far inside its budget.
        let mut parser = Parser::new(Path::new("."));
        parser.budget = 0;
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
