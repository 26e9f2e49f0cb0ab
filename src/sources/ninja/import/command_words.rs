//! Reading a shell command for what it names: the programs it starts (candidates for
//! tools whose bytes are hashed), the words that may be files it reads, and whether it
//! makes a thin archive.

/// Words that start a shell command but are no tool whose bytes matter.
const SHELL_BUILTINS: &[&str] = &[
    ":", "cd", "echo", "printf", "test", "[", "true", "false", "exit", "set", "export", "exec",
    "env", "then", "else", "fi", "do", "done", "if", "for", "while",
];

/// The pieces of a shell command between `&`, `|`, `;`, `(`, `)` and newlines (what
/// `split` on those characters gives, found by a byte scan: they are all ASCII).
pub(super) fn command_segments(command: &str) -> impl Iterator<Item = &str> {
    let separator = |b: &u8| matches!(b, b'&' | b'|' | b';' | b'(' | b')' | b'\n');
    let mut start = 0;
    let ends = command
        .bytes()
        .enumerate()
        .filter(move |(_, b)| separator(b));
    ends.map(|(at, _)| at)
        .chain(std::iter::once(command.len()))
        .map(move |end| {
            let segment = command.get(start..end).unwrap_or_default();
            start = end + 1;
            segment
        })
}

/// Options whose value is a name the command writes or records, not a file it reads:
/// `-o out`, a shared library's `-soname libfoo.so.1` (the name of a symlink another step
/// makes, and which depends on this one), a depfile's `-MF`/`-MT`/`-MQ`.
const NAME_OPTIONS: &[&str] = &["-o", "-soname", "-h", "-install_name", "-MF", "-MT", "-MQ"];

/// The words of a command that may name a file: shell words with their quotes taken off,
/// split at the commas of `-Wl,a,b` and the `=` of `--opt=value`, and the value of a
/// one-letter option written together with it (`-T../link.ld`); never the value of one of
/// [`NAME_OPTIONS`].
pub(super) fn command_path_words(command: &str) -> Vec<&str> {
    let is_separator =
        |c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')' | '<' | '>');
    let pieces = command
        .split(is_separator)
        .map(|word| word.trim_matches(|c| matches!(c, '\'' | '"' | '`')))
        .flat_map(|word| word.split([',', '=']))
        .map(|piece| piece.trim_matches(|c| matches!(c, '\'' | '"')))
        .filter(|piece| !piece.is_empty());
    let mut words = Vec::new();
    let mut names_next = false;
    for piece in pieces {
        if std::mem::replace(&mut names_next, NAME_OPTIONS.contains(&piece)) {
            continue;
        }
        let piece = match piece.strip_prefix('-') {
            Some(option) if option.starts_with('-') => continue,
            Some(option) => match option.get(1..) {
                Some(value) => value,
                None => continue,
            },
            None => piece.strip_prefix('@').unwrap_or(piece),
        };
        let plausible = !piece.is_empty()
            && piece != "."
            && piece != ".."
            && !piece.contains(['$', '*', '?', '\\']);
        if plausible {
            words.push(piece);
        }
    }
    words
}

/// Whether a command creates a thin archive: `ar`/`gcc-ar`/`llvm-ar` with a `T` modifier
/// or `--thin`.
pub(super) fn is_thin_archive_command(command: &str) -> bool {
    if !command.contains("ar") {
        return false;
    }
    let words = command.split_whitespace();
    words.clone().zip(words.skip(1)).any(|(first, flags)| {
        let program = first.rsplit('/').next().unwrap_or(first);
        let is_ar = program == "ar" || program.ends_with("-ar");
        is_ar
            && (flags == "--thin"
                || (!flags.starts_with("--")
                    && flags.trim_start_matches('-').contains('T')
                    && flags
                        .trim_start_matches('-')
                        .chars()
                        .all(|c| c.is_ascii_alphabetic())))
    })
}

/// The first word of every piece of `command` (see [`command_segments`]) that may be a
/// program outside the project: no shell builtin, no variable, quote or redirection, and
/// either a bare name or an absolute path.
pub(super) fn program_words(command: &str) -> impl Iterator<Item = &str> {
    command_segments(command).filter_map(|segment| {
        let word = segment.split_whitespace().next()?;
        let plausible = !SHELL_BUILTINS.contains(&word)
            && !word.contains(['$', '=', '\'', '"', '`', '<', '>'])
            && (word.starts_with('/') || !word.contains('/'));
        plausible.then_some(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_command_writes_or_records_are_no_inputs() {
        let words = command_path_words(
            "/usr/bin/cc -fPIC -shared -Wl,-soname,libfoo.so.1 -o libfoo.so.1.2.3 foo.o -Wl,--version-script,/p/f.map -T../link.ld -Wl,--version-script,\"/p/quoted.map\"",
        );
        assert!(!words.contains(&"libfoo.so.1"), "{words:?}");
        assert!(!words.contains(&"libfoo.so.1.2.3"), "{words:?}");
        for wanted in ["foo.o", "/p/f.map", "../link.ld", "/p/quoted.map"] {
            assert!(words.contains(&wanted), "{wanted}: {words:?}");
        }
    }

    #[test]
    fn command_segments_split_as_str_split_does() {
        for command in ["", "a && b | c;d(e)f\ng", "&&", "x", "cc -c a.c", "ü|é"] {
            let want: Vec<&str> = command.split(['&', '|', ';', '(', ')', '\n']).collect();
            assert_eq!(
                command_segments(command).collect::<Vec<_>>(),
                want,
                "{command}"
            );
        }
    }
}
