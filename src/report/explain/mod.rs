//! The views of an explanation ([`crate::engine::explain::ExplainReport`]): the terminal
//! ([`terminal`]), a self-contained HTML page ([`html`]) and a Markdown summary
//! ([`markdown`]), each showing every input change as [`change`] words it. The JSON is
//! [`crate::report::json`]'s.

pub(crate) mod change;
pub(crate) mod html;
pub(crate) mod markdown;
pub(crate) mod terminal;
