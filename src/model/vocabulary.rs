//! The words `check`, `diff` and the reports share: the variations `check` applies
//! between its builds (docs/design.md section 5), the reasons `diff` gives for a
//! difference (docs/design.md section 6), and the one table saying which reason each
//! variation produces.
//!
//! It lives in the model layer because every layer above speaks it: `diff` names
//! reasons and the variation that usually causes them, `engine` applies variations and
//! bisects over them, and the reports print both.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// One thing that differs between the two builds of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variation {
    /// The work directory's path (and its length).
    BuildPath,
    /// The clock: real time, then far in the future (through reprobe's clock shim).
    Clock,
    /// Host and domain name.
    Hostname,
    /// uid, gid, user name, HOME.
    User,
    /// 022, then 002.
    Umask,
    /// `LANG`.
    Locale,
    /// `TZ`: UTC, then a zone far from it.
    Timezone,
    /// Input files created in sorted, then reverse order, so directory listings differ.
    FileOrder,
    /// All cores, then one.
    Cpus,
    /// One extra unrelated environment variable.
    Env,
}

impl Variation {
    /// Every variation, in the order of docs/design.md section 5.
    pub const ALL: [Variation; 10] = [
        Variation::BuildPath,
        Variation::Clock,
        Variation::Hostname,
        Variation::User,
        Variation::Umask,
        Variation::Locale,
        Variation::Timezone,
        Variation::FileOrder,
        Variation::Cpus,
        Variation::Env,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Variation::BuildPath => "build_path",
            Variation::Clock => "clock",
            Variation::Hostname => "hostname",
            Variation::User => "user",
            Variation::Umask => "umask",
            Variation::Locale => "locale",
            Variation::Timezone => "timezone",
            Variation::FileOrder => "fileorder",
            Variation::Cpus => "cpus",
            Variation::Env => "env",
        }
    }

    /// The reason kind this variation produces: the one mapping between the two
    /// vocabularies ([`ReasonKind::variation`] reads it backwards).
    pub fn reason_kind(self) -> ReasonKind {
        match self {
            Variation::BuildPath => ReasonKind::BuildPath,
            Variation::Clock => ReasonKind::Timestamp,
            Variation::Hostname => ReasonKind::Hostname,
            Variation::User => ReasonKind::User,
            Variation::Umask => ReasonKind::Umask,
            Variation::Locale => ReasonKind::Locale,
            Variation::Timezone => ReasonKind::Timezone,
            Variation::FileOrder => ReasonKind::Ordering,
            Variation::Cpus => ReasonKind::Cpus,
            Variation::Env => ReasonKind::Env,
        }
    }
}

impl fmt::Display for Variation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown variation name.
#[derive(Debug, thiserror::Error)]
#[error("unknown variation `{0}`; known: build_path, clock, hostname, user, umask, locale, timezone, fileorder, cpus, env")]
pub struct UnknownVariation(pub String);

impl FromStr for Variation {
    type Err = UnknownVariation;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Variation::ALL
            .into_iter()
            .find(|v| v.name() == s || (s == "build-path" && *v == Variation::BuildPath))
            .ok_or_else(|| UnknownVariation(s.to_string()))
    }
}

/// The reasons of docs/design.md section 6, serialized exactly as written there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ReasonKind {
    /// A date or time (clock).
    #[serde(rename = "timestamp")]
    Timestamp,
    /// The build directory.
    #[serde(rename = "build_path")]
    BuildPath,
    /// The host name.
    #[serde(rename = "hostname")]
    Hostname,
    /// The user name or id.
    #[serde(rename = "user")]
    User,
    /// File modes that differ as a umask would make them.
    #[serde(rename = "umask")]
    Umask,
    /// The locale.
    #[serde(rename = "locale")]
    Locale,
    /// The time zone.
    #[serde(rename = "timezone")]
    Timezone,
    /// Same members or lines in another order.
    #[serde(rename = "ordering")]
    Ordering,
    /// The number of CPUs.
    #[serde(rename = "cpus")]
    Cpus,
    /// The environment.
    #[serde(rename = "env")]
    Env,
    /// Unexplained.
    #[serde(rename = "random")]
    Random,
    /// Archive header fields: mtime, uid, gid, names, mode, gzip header.
    #[serde(rename = "archive-metadata")]
    ArchiveMetadata,
}

impl ReasonKind {
    /// The word of docs/design.md section 6.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonKind::Timestamp => "timestamp",
            ReasonKind::BuildPath => "build_path",
            ReasonKind::Hostname => "hostname",
            ReasonKind::User => "user",
            ReasonKind::Umask => "umask",
            ReasonKind::Locale => "locale",
            ReasonKind::Timezone => "timezone",
            ReasonKind::Ordering => "ordering",
            ReasonKind::Cpus => "cpus",
            ReasonKind::Env => "env",
            ReasonKind::Random => "random",
            ReasonKind::ArchiveMetadata => "archive-metadata",
        }
    }

    /// The variation that usually causes a reason of this kind: the one whose
    /// [`Variation::reason_kind`] it is. `None` for `random` and `archive-metadata`,
    /// which no single variation produces.
    pub fn variation(self) -> Option<Variation> {
        Variation::ALL.into_iter().find(|v| v.reason_kind() == self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reason_kinds_serialize_as_design_words() {
        let words: Vec<String> = [ReasonKind::BuildPath, ReasonKind::ArchiveMetadata]
            .iter()
            .map(|k| serde_json::to_string(k).unwrap())
            .collect();
        assert_eq!(words, ["\"build_path\"", "\"archive-metadata\""]);
        assert_eq!(ReasonKind::ArchiveMetadata.as_str(), "archive-metadata");
    }

    #[test]
    fn each_variation_is_the_usual_cause_of_its_reason_kind() {
        for v in Variation::ALL {
            assert_eq!(v.reason_kind().variation(), Some(v));
        }
        assert_eq!(ReasonKind::Timestamp.variation(), Some(Variation::Clock));
        assert_eq!(ReasonKind::Ordering.variation(), Some(Variation::FileOrder));
        assert_eq!(ReasonKind::Random.variation(), None);
        assert_eq!(ReasonKind::ArchiveMetadata.variation(), None);
    }

    proptest! {
        #[test]
        fn names_round_trip(index in 0usize..10) {
            let v = Variation::ALL[index];
            prop_assert_eq!(v.name().parse::<Variation>().unwrap(), v);
        }
    }
}
