//! Observation: what a step tries that it should not, seen from outside the step
//! (docs/design.md sections 4 and 6). The supervisor (`supervisor`) runs in the helper's
//! poll loop: it takes the step's seccomp listener (`fd_passing`), answers its
//! notifications (`seccomp_notify`, for the calls the filter in `seccomp_filter` sends),
//! reads the step's memory and `/proc` (`process`), decodes addresses and DNS queries
//! (`wire`, with a stand-in resolver in `resolver`) and notes statically linked programs
//! (`execs`). Opens are normally recorded by the tripwire file system (`tripwire`, over
//! the FUSE protocol in `fuse`, laid out by `layout`). Which paths are findings is the
//! path policy (`paths`, with `packages` for `/etc` files a package installed).
//!
//! The isolation (module `isolate`) installs the filter, mounts the tripwire and runs
//! the supervisor; nothing here reaches back into it.

mod execs;
mod fd_passing;
mod fuse;
pub(crate) mod layout;
mod packages;
pub(crate) mod paths;
mod process;
mod resolver;
pub(crate) mod seccomp_filter;
mod seccomp_notify;
pub(crate) mod supervisor;
mod tripwire;
mod wire;

pub use paths::ETC_ALLOWED;
