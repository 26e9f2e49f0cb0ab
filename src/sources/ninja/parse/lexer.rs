//! The byte cursor over one Ninja file ([`Lexer`]): statements, identifiers, paths and
//! `$`-escaped values, read as [`Eval`]s (literal text and `$variable` references borrowed
//! from the file's text) for the parser to evaluate. Errors carry the file and the line.

use std::borrow::Cow;
use std::sync::Arc;

use crate::model::graph::{clip, MAX_MESSAGE, MAX_SHOWN};
use crate::sources::ninja::build_file::NinjaError;

/// A piece of an unevaluated string, borrowed from the file's text: every literal is a
/// slice of it (an escaped `$$`, `$ ` or `$:` is the slice of its second byte), so
/// reading a statement copies nothing.
#[derive(Debug, Clone, Copy)]
pub(super) enum Piece<'t> {
    Literal(&'t str),
    Variable(&'t str),
}

/// An unevaluated string: literal text and `$variable` references. The first piece is
/// held inline: most paths and values are one literal, which then needs no allocation.
#[derive(Debug, Clone, Default)]
pub(super) struct Eval<'t> {
    first: Option<Piece<'t>>,
    rest: Vec<Piece<'t>>,
}

impl<'t> Eval<'t> {
    pub(super) fn is_empty(&self) -> bool {
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

    pub(super) fn pieces(&self) -> impl Iterator<Item = Piece<'t>> + '_ {
        self.first.into_iter().chain(self.rest.iter().copied())
    }

    /// The text, when it is one literal (no variable to look up).
    pub(super) fn as_literal(&self) -> Option<&'t str> {
        match (self.first, self.rest.is_empty()) {
            (Some(Piece::Literal(text)), true) => Some(text),
            _ => None,
        }
    }
}

/// The byte cursor over one file.
pub(super) struct Lexer<'t> {
    src: &'t str,
    bytes: &'t [u8],
    pub(super) pos: usize,
    pub(super) line: usize,
    file: &'t str,
    /// The same, shared by the locations of the file's edges.
    pub(super) shared_file: Arc<str>,
}

impl<'t> Lexer<'t> {
    pub(super) fn new(src: &'t str, file: &'t str) -> Lexer<'t> {
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
    pub(super) fn error_at(&self, line: usize, message: impl Into<String>) -> NinjaError {
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

    pub(super) fn error(&self, message: impl Into<String>) -> NinjaError {
        self.error_at(self.line, message)
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(super) fn peek_at(&self, offset: usize) -> Option<u8> {
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
    pub(super) fn next_statement(&mut self) -> Result<bool, NinjaError> {
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
    pub(super) fn binding_follows(&mut self) -> bool {
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
    pub(super) fn skip_spaces(&mut self) {
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

    pub(super) fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// An identifier (`[A-Za-z0-9_.-]+`), or `None` when there is none at the cursor.
    pub(super) fn ident(&mut self) -> Option<&'t str> {
        let start = self.pos;
        while self.peek().is_some_and(is_varname_byte) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.src[start..self.pos])
    }

    pub(super) fn expect_ident(&mut self, what: &str) -> Result<&'t str, NinjaError> {
        self.skip_spaces();
        self.ident()
            .ok_or_else(|| self.error(format!("expected {what}, got {}", self.describe_next())))
    }

    pub(super) fn describe_next(&self) -> String {
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

    pub(super) fn expect_newline(&mut self) -> Result<(), NinjaError> {
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
    pub(super) fn eval(&mut self, path: bool) -> Result<Eval<'t>, NinjaError> {
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
    pub(super) fn paths(&mut self) -> Result<Vec<Eval<'t>>, NinjaError> {
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
