//! Plain-text forms of values that the views of several commands show the same way: a
//! long value cut to fit, a duration, a process's argv on one line.

/// Longest value shown whole by [`shorten`], in characters.
const SHORT_VALUE: usize = 60;

/// The text, cut to its first 60 characters and `…` when longer.
pub(crate) fn shorten(text: &str) -> String {
    if text.chars().count() <= SHORT_VALUE {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(SHORT_VALUE).collect::<String>())
    }
}

/// Milliseconds as seconds for people.
pub fn seconds(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

/// A process's argv on one line: arguments joined by spaces, control characters (the
/// newlines of a `python3 -c` script) escaped.
pub fn printable_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            arg.chars()
                .flat_map(|c| {
                    let escaped: Vec<char> = if c.is_control() {
                        c.escape_default().collect()
                    } else {
                        vec![c]
                    };
                    escaped
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_argv_is_printed_on_one_line() {
        let argv = vec![
            "python3".to_string(),
            "-c".into(),
            "import os\nprint(1)\t".into(),
        ];
        assert_eq!(printable_argv(&argv), "python3 -c import os\\nprint(1)\\t");
    }
}
