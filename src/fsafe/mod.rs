//! Safe file-system access, the lowest layer: every other module reaches the disk through
//! these when a path may hold a link planted by a step, a project or another user.
//!
//! - [`dir`]: open directory handles and the operations relative to them (the store and
//!   the scratch directories);
//! - [`beneath`]: resolution below a root that never leaves it (outputs, trees);
//! - [`regular`]: reading a file a user names only when it is a regular file.

pub(crate) mod beneath;
pub(crate) mod dir;
pub(crate) mod regular;

pub use dir::*;
