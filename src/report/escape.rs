//! The one escaper per output format: every HTML page, the JUnit XML and every Markdown
//! summary escape text here, so that a value shows the same in all of them.

use std::fmt::Write as _;

/// Escapes text for HTML and XML (element content and quoted attribute values): `&`,
/// `<`, `>`, `"` and `'` (as `&#39;`) become references, and so do control characters
/// other than newline and tab.
pub(crate) fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Makes text safe inside a Markdown table cell and inline code: `|` is escaped, a
/// backtick becomes `'` and a newline a space.
pub(crate) fn markdown(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('`', "'")
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_quotes_and_control_characters() {
        assert_eq!(
            html("<a href=\"x\">it's & \u{1}</a>\n"),
            "&lt;a href=&quot;x&quot;&gt;it&#39;s &amp; &#x1;&lt;/a&gt;\n"
        );
    }

    #[test]
    fn markdown_keeps_a_cell_on_one_line() {
        assert_eq!(markdown("a|b `c`\nd"), "a\\|b 'c' d");
    }
}
