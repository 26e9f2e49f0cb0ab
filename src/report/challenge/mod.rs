//! The views of a challenge ([`crate::engine::challenge::ChallengeReport`]): the
//! terminal ([`terminal`]) and a Markdown summary ([`markdown`]). The JSON is
//! [`crate::report::json`]'s.

pub(crate) mod markdown;
pub(crate) mod terminal;
