//! The local store (`.reprobe/`): content-addressed blobs, the action cache and build
//! manifests (docs/design.md section 8).
//!
//! Every write goes to a temporary file in the store's own `tmp/` and is renamed into
//! place, so readers never see half an entry and several processes can share one store.
//! A blob is verified against its name whenever it is read back, and an action entry
//! that does not parse is a miss.
//!
//! Durability is batched, as git's `core.fsyncMethod=batch`: blobs and action entries are
//! not fsynced one by one (two fsyncs were a tenth of a trivial step's cost); the executor
//! calls [`Store::sync`] (one `syncfs`) when a build ends, before its manifest is written
//! and fsynced. A power cut in the middle of a build can thus lose that build's newest
//! entries (cache misses, rebuilt next time), never serve a wrong one: what was renamed
//! into place but not flushed reads back short or empty, and fails verification. What
//! `check` stores while re-running single steps (cascades, bisection) is left to the
//! kernel's writeback: losing it loses nothing a later run does not redo.
//!
//! The store never acts through a link. Its root and each of its directories are opened
//! once, `O_DIRECTORY|O_NOFOLLOW`, checked to belong to the effective uid, and every
//! creation, rename, chmod and removal below them is relative to those handles (module
//! [`crate::fsafe`]): a link where a store directory belongs is an error naming it, and
//! a project that commits `.reprobe/tmp -> /` gets that error, not an empty `/`. Only a
//! root given explicitly (`--store`, `REPROBE_STORE`) may itself be a link, followed once
//! when it is opened. Anything that is not a regular file where a blob or an action entry
//! belongs (a FIFO, a directory) is never opened: it is removed, by handle, like a
//! corrupt blob, and its step runs again. A blob removed as corrupt is noted in
//! `removed/HASH`, so that `store verify` knows the past builds naming it are history.
//!
//! Files by concern: `layout` (the directories and where entries live), `open`, `blobs`,
//! `action_cache`, `materialize` (entries recreated outside the store), `atomic_write`,
//! `temp` (temporaries of live and dead processes), `scratch` (the tmpfs work root),
//! `removed` (notes of removed blobs), `handles` (single entries by handle),
//! `store_error`, `messages` (warnings), and the maintenance commands `verify` and `gc`
//! (with `listing`, which walks the store for both).

mod action_cache;
mod atomic_write;
mod blobs;
mod gc;
mod handles;
mod layout;
mod listing;
mod materialize;
mod messages;
mod open;
mod removed;
mod scratch;
mod store_error;
mod temp;
#[cfg(test)]
mod test_support;
mod verify;

pub use action_cache::{ActionEntry, Lookup, ACTION_SCHEMA};
pub use gc::{GcOptions, GcReport};
pub use layout::{Store, STORE_VERSION};
pub use messages::set_verbose;
pub use open::OpenOptions;
pub use store_error::{at, StoreError};
pub use temp::{remove_tree, tmpfs_work_root};
pub use verify::{StoreProblem, StoreProblemKind, VerifyReport};
