//! The views of a check's report ([`crate::engine::check::CheckReport`]): the terminal
//! ([`terminal`]), a Markdown summary ([`markdown`]), a self-contained HTML page
//! ([`html`], with the [`step_graph`]) and JUnit XML ([`junit`]). They share the words of
//! [`summary`] and the text of each [`finding`]; the JSON is [`crate::report::json`]'s.

pub(crate) mod finding;
pub(crate) mod html;
pub(crate) mod junit;
pub(crate) mod markdown;
pub(crate) mod step_graph;
pub(crate) mod summary;
pub(crate) mod terminal;
