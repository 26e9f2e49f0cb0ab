//! Isolation: everything that builds a step's sandbox and runs the step in it
//! (docs/design.md section 4). From the top of the process chain down: the fork server
//! (`server`) forks the helper (`helper`), which clones init (`init`) into fresh
//! namespaces with its ids mapped (`ids`); init builds the root file system (`rootfs`,
//! from the primitives in `mounts`, with the step's disk in `disk` and the tripwire's
//! mounts in `tripwire_mount`), watches the step's limits (`watch`, `memory`) and forks
//! the step, which sets its own limits (`rlimits`) and execs (`exec_step`). What these
//! processes pass each other is in `protocol`, and how a setup step fails in `failure`.
//!
//! The helper serves the observation (module `observe`) from its poll loop; nothing of
//! the observation reaches back into this module.

mod disk;
mod exec_step;
mod failure;
mod helper;
pub(crate) mod ids;
mod init;
mod memory;
mod mounts;
pub(crate) mod protocol;
mod rlimits;
mod rootfs;
pub(crate) mod server;
mod tripwire_mount;
mod watch;

pub use helper::helper_main;
pub use server::server_main;
