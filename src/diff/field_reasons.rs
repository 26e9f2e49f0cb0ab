//! Why a metadata field of a member or a container header differs: `umask` for mode
//! bits a umask explains, `user` for the known user names, a time field by the clock or
//! the zone that moved it, and otherwise `archive-metadata`.

use super::classify::remedy;
use super::context::Cx;
use super::items::Reason;
use super::listing::{Meta, Style, TimeField};
use crate::model::vocabulary::{ReasonKind, Variation};

/// One reason for a differing field: `umask` for group/other write bits, `user` for
/// known user names, otherwise `archive-metadata`.
pub(crate) fn field_reason(
    path: &str,
    style: &Style,
    a: &Meta,
    b: &Meta,
    member: Option<(&str, usize)>,
    cx: &Cx,
) -> Reason {
    let (kind, variation) = match a.time {
        Some(time) => time_attribution(time, a.num, b.num, cx),
        None => {
            let kind = field_kind(a, b, cx);
            let variation = match (kind, a.field) {
                (ReasonKind::ArchiveMetadata, "uid" | "gid" | "uname" | "gname") => {
                    Some(Variation::User.name())
                }
                (k, _) => k.variation().map(Variation::name),
            };
            (kind, variation)
        }
    };
    let context = match member {
        Some((name, 0)) => format!("{} of {name}", a.field),
        Some((name, more)) => format!("{} of {name} and {more} more members", a.field),
        None => format!("header {}", a.field),
    };
    Reason {
        kind,
        path: path.to_string(),
        offset: None,
        offset_b: None,
        line: None,
        line_b: None,
        a: a.value.clone(),
        b: b.value.clone(),
        variation: variation.map(str::to_string),
        remedy: Some(match kind {
            ReasonKind::ArchiveMetadata | ReasonKind::Timestamp => style.remedy.to_string(),
            k => remedy(k).unwrap_or_default().to_string(),
        }),
        context: Some(context),
        high_entropy: None,
        note: None,
    }
}

fn field_kind(a: &Meta, b: &Meta, cx: &Cx) -> ReasonKind {
    match a.field {
        "mode" => match (a.num, b.num) {
            (Some(x), Some(y)) if (x ^ y) & !0o022 == 0 => ReasonKind::Umask,
            _ => ReasonKind::ArchiveMetadata,
        },
        "uname" | "gname" => match &cx.opts.known.user {
            Some((ua, ub)) if *ua == a.value && *ub == b.value => ReasonKind::User,
            _ => ReasonKind::ArchiveMetadata,
        },
        _ => ReasonKind::ArchiveMetadata,
    }
}

/// Slack around a build's window for a header time in UTC: a file written just before
/// the step started (an input, a generated source) still counts.
const UTC_SLACK: i64 = 120;
/// Slack for a local time: the zone offsets reach from UTC-12 to UTC+14.
const LOCAL_SLACK: i64 = 14 * 3600 + UTC_SLACK;

/// The reason kind and variation of a differing time field (see [`TimeField`]).
///
/// Without known clock windows (`reprobe diff` with no `--known clock`) a header time is
/// `archive-metadata` with its usual cause, `clock`; with windows, only times inside
/// one are attributed to the clock, and zip times inside one are `timestamp`s.
fn time_attribution(
    time: TimeField,
    a: Option<i64>,
    b: Option<i64>,
    cx: &Cx,
) -> (ReasonKind, Option<&'static str>) {
    let known = &cx.opts.known;
    if let (TimeField::Local, Some(x), Some(y), Some((za, zb))) = (time, a, b, &known.timezone) {
        if zone_shift(za, zb, x, y) {
            return (ReasonKind::Timezone, Some(Variation::Timezone.name()));
        }
    }
    let Some((wa, wb)) = known.clock else {
        return (ReasonKind::ArchiveMetadata, Some(Variation::Clock.name()));
    };
    let slack = match time {
        TimeField::Local => LOCAL_SLACK,
        TimeField::Header | TimeField::Utc => UTC_SLACK,
    };
    let inside = |t: Option<i64>| t.is_some_and(|t| wa.contains(t, slack) || wb.contains(t, slack));
    match (inside(a) || inside(b), time) {
        (false, _) => (ReasonKind::ArchiveMetadata, None),
        (true, TimeField::Header) => (ReasonKind::ArchiveMetadata, Some(Variation::Clock.name())),
        (true, TimeField::Utc | TimeField::Local) => {
            (ReasonKind::Timestamp, Some(Variation::Clock.name()))
        }
    }
}

/// Whether two local times (each counted as if UTC) differ by exactly the difference of
/// the two zones' offsets: the same instant written in zone `za` and in zone `zb`.
fn zone_shift(za: &str, zb: &str, local_a: i64, local_b: i64) -> bool {
    let (Some(off_a), Some(off_b)) = (
        super::zones::utc_offset(za, local_a),
        super::zones::utc_offset(zb, local_b),
    ) else {
        return false;
    };
    off_a != off_b && local_b - local_a == off_b - off_a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_difference_in_group_write_is_umask() {
        let opts = super::super::DiffOptions::default();
        let budget = std::sync::atomic::AtomicU64::new(0);
        let limits = crate::diff::budget::Budget::unlimited();
        let cx = Cx {
            opts: &opts,
            depth: 0,
            expanded: &budget,
            budget: &limits,
            recurse: &crate::diff::RECURSE,
        };
        let kind = field_kind(&Meta::num("mode", 0o644), &Meta::num("mode", 0o664), &cx);
        assert_eq!(kind, ReasonKind::Umask);
        let kind = field_kind(&Meta::num("mode", 0o644), &Meta::num("mode", 0o755), &cx);
        assert_eq!(kind, ReasonKind::ArchiveMetadata);
    }
}
