//! Where graphs come from besides a hand-written `reprobe.toml`: a Ninja build file
//! ([`ninja`]) or one whole build command ([`wholecmd`]). Both produce a
//! [`crate::model::graph::Graph`].

pub mod ninja;
pub(crate) mod wholecmd;
