//! The fix tables: how to make each kind of difference go away, said in a reason's
//! `remedy`. Formats give more precise remedies for their own headers (`Style::remedy`),
//! and `check` for the tools of a step.

use crate::model::vocabulary::ReasonKind;

/// The remedy of an `ordering` inside one line: the same words in another order, as a
/// printed hash set gives.
pub const WORD_ORDER_REMEDY: &str =
    "sort it, or set PYTHONHASHSEED (Python set/dict order of strings)";

/// A generic remedy for a reason kind; formats give more precise ones for archives.
pub fn remedy(kind: ReasonKind) -> Option<&'static str> {
    Some(match kind {
        ReasonKind::Timestamp => {
            "use SOURCE_DATE_EPOCH instead of the current time (gcc honours it for __DATE__/__TIME__; -Werror=date-time finds them)"
        }
        ReasonKind::BuildPath => {
            "map the build directory away: -ffile-prefix-map=$PWD=. (C/C++), --remap-path-prefix (Rust)"
        }
        ReasonKind::Hostname => "do not embed the host name",
        ReasonKind::User => "do not embed the user name or id (tar: --owner=0 --group=0 --numeric-owner)",
        ReasonKind::Umask => "set file modes explicitly (install -m, chmod) instead of inheriting the umask",
        ReasonKind::Locale => "run the step with LC_ALL=C.UTF-8",
        ReasonKind::Timezone => "use UTC (TZ=UTC) when formatting times",
        ReasonKind::Ordering => "sort: LC_ALL=C sort, tar --sort=name, sorted directory walks",
        ReasonKind::Cpus => "make parallel work merge its results in a fixed order",
        ReasonKind::Env => "do not read unrelated environment variables",
        ReasonKind::ArchiveMetadata => {
            "normalise archive headers (tar --sort=name --mtime=@$SOURCE_DATE_EPOCH --clamp-mtime --owner=0 --group=0 --numeric-owner, gzip -n, ar D, zip -X)"
        }
        ReasonKind::Random => return None,
    })
}
