//! How a `Sandbox` runs its steps, beyond each step's spec: which binary is its helper,
//! whether a fork server starts it, and what is observed. The library reads no
//! environment variable; the command line (module `cli`) reads the ones named here and
//! passes their values in.

use std::path::PathBuf;

use super::observation::Observation;

/// Environment variable that overrides the binary re-executed as the sandbox helper
/// ([`SandboxSettings::exe`]).
///
/// Integration tests of the library run inside the test harness, whose `current_exe` is
/// not reprobe; they point this at `env!("CARGO_BIN_EXE_reprobe")`.
pub const SANDBOX_EXE_ENV: &str = "REPROBE_SANDBOX_EXE";

/// Environment variable overriding what is observed ([`SandboxSettings::observe`]):
/// `all` (network calls, file opens and names looked up in the work directory), `files`
/// (network calls and file opens outside the work directory), `network`, or `off`. Meant
/// for measuring the cost of observation (`benches/observe.sh`) and for debugging.
pub const OBSERVE_ENV: &str = "REPROBE_OBSERVE";

/// Environment variable: `off` observes file opens with seccomp (one round trip per
/// open) instead of the tripwire file system ([`SandboxSettings::opens_by_seccomp`]).
/// For comparisons.
pub const TRIPWIRE_ENV: &str = "REPROBE_TRIPWIRE";

/// Environment variable that turns the fork server off (`off`): every step then
/// re-executes reprobe as its helper ([`SandboxSettings::fork_server`]). For measuring
/// what the server saves, and a way out should it misbehave.
pub const FORK_SERVER_ENV: &str = "REPROBE_FORK_SERVER";

/// What [`OBSERVE_ENV`] asks to observe, overriding a command's own choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObserveLevel {
    /// Unset (or any other value): network calls and opens outside the work directory,
    /// and the names looked up in it when the command asks for them.
    #[default]
    Default,
    /// `off`: nothing.
    Off,
    /// `network`: network calls only.
    Network,
    /// `files`: network calls and opens outside the work directory.
    Files,
    /// `all`: network calls, opens outside the work directory and the names looked up
    /// in it.
    All,
}

impl ObserveLevel {
    /// The level a value of [`OBSERVE_ENV`] names: `off`, `network`, `files` or `all`;
    /// anything else is [`ObserveLevel::Default`].
    pub fn parse(text: &str) -> Self {
        match text {
            "off" => ObserveLevel::Off,
            "network" => ObserveLevel::Network,
            "files" => ObserveLevel::Files,
            "all" => ObserveLevel::All,
            _ => ObserveLevel::Default,
        }
    }
}

/// How a `Sandbox` runs its steps. The default is what reprobe does with none of the
/// environment variables above set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
    /// The reprobe binary that runs as fork server and helper ([`SANDBOX_EXE_ENV`]);
    /// `None`: the running binary.
    pub exe: Option<PathBuf>,
    /// Start a fork server for the helpers; false ([`FORK_SERVER_ENV`] `off`): every
    /// step re-executes reprobe instead.
    pub fork_server: bool,
    /// What is observed, overriding the command's choice ([`OBSERVE_ENV`]).
    pub observe: ObserveLevel,
    /// Observe file opens with seccomp instead of the tripwire file system
    /// ([`TRIPWIRE_ENV`] `off`).
    pub opens_by_seccomp: bool,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            exe: None,
            fork_server: true,
            observe: ObserveLevel::Default,
            opens_by_seccomp: false,
        }
    }
}

impl SandboxSettings {
    /// What a step observes: network calls and file opens outside the work directory
    /// always, names looked up in the work directory when `work_names`; [`Self::observe`]
    /// overrides all three.
    pub fn observation(&self, work_names: bool) -> Observation {
        let (network, files, work_names) = match self.observe {
            ObserveLevel::Off => (false, false, false),
            ObserveLevel::Network => (true, false, false),
            ObserveLevel::Files => (true, true, false),
            ObserveLevel::All => (true, true, true),
            ObserveLevel::Default => (true, true, work_names),
        };
        Observation {
            network,
            files,
            work_names,
            opens_by_seccomp: self.opens_by_seccomp,
            ..Observation::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observe_levels_override_the_commands_choice() {
        let settings = |level: &str| SandboxSettings {
            observe: ObserveLevel::parse(level),
            ..SandboxSettings::default()
        };
        let seen = |o: Observation| (o.network, o.files, o.work_names);
        assert_eq!(seen(settings("").observation(false)), (true, true, false));
        assert_eq!(
            seen(settings("bogus").observation(true)),
            (true, true, true)
        );
        assert_eq!(
            seen(settings("off").observation(true)),
            (false, false, false)
        );
        assert_eq!(
            seen(settings("network").observation(true)),
            (true, false, false)
        );
        assert_eq!(
            seen(settings("files").observation(true)),
            (true, true, false)
        );
        assert_eq!(seen(settings("all").observation(false)), (true, true, true));
    }
}
