//! The variations `check` applies between its builds (docs/design.md section 5), and the
//! sandbox profiles they produce. The variations themselves are words of the shared
//! vocabulary ([`crate::model::vocabulary::Variation`]).
//!
//! The first build always runs with the base profile; the second with every chosen
//! variation applied. Bisection builds profiles for subsets of them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::engine::exec::SandboxProfile;
use crate::model::vocabulary::{UnknownVariation, Variation};
use crate::sandbox::SandboxUser;

/// Parses a comma-separated list of variation names.
pub(crate) fn parse_list(text: &str) -> Result<BTreeSet<Variation>, UnknownVariation> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// The variations chosen by `--vary` (only these) and `--no-vary` (all but these).
pub(crate) fn choose(
    vary: Option<&str>,
    no_vary: Option<&str>,
) -> Result<BTreeSet<Variation>, UnknownVariation> {
    let mut chosen = match vary {
        Some(list) => parse_list(list)?,
        None => Variation::ALL.into_iter().collect(),
    };
    if let Some(list) = no_vary {
        for v in parse_list(list)? {
            chosen.remove(&v);
        }
    }
    Ok(chosen)
}

/// The zone used for the second build's `TZ` (UTC+14), or a POSIX spelling of it when
/// tzdata is not installed.
pub fn far_timezone() -> String {
    if Path::new("/usr/share/zoneinfo/Pacific/Kiritimati").exists() {
        "Pacific/Kiritimati".to_string()
    } else {
        "<+14>-14".to_string()
    }
}

/// Another UTF-8 locale than `C.UTF-8`: an installed one if there is one, else a
/// different `LANG` value (programs then still run in `C.UTF-8`, and `check` reports the
/// locale variation as not applied).
pub fn other_locale() -> String {
    installed_other_locale().unwrap_or_else(|| "en_US.UTF-8".to_string())
}

/// An installed UTF-8 locale other than `C.UTF-8`, as a `LANG` value (`en_US.UTF-8`):
/// compiled ones in `/usr/lib/locale`, in its directories or its `locale-archive`, as
/// `locale -a` lists them (asked once per process: bisection builds many profiles).
pub(crate) fn installed_other_locale() -> Option<String> {
    static FOUND: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    FOUND.get_or_init(list_other_locale).clone()
}

fn list_other_locale() -> Option<String> {
    let listed = std::process::Command::new("locale")
        .arg("-a")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&listed.stdout);
    let name = text.lines().map(str::trim).find(|name| {
        let lower = name.to_ascii_lowercase();
        (lower.ends_with(".utf8") || lower.ends_with(".utf-8"))
            && !lower.starts_with("c.")
            && !name.contains('@')
    })?;
    let language = name.split('.').next()?;
    Some(format!("{language}.UTF-8"))
}

/// The second build's profile: `base` with each variation in `set` applied.
pub(crate) fn varied_profile(base: &SandboxProfile, set: &BTreeSet<Variation>) -> SandboxProfile {
    let mut profile = base.clone();
    for variation in set {
        match variation {
            Variation::BuildPath => profile.build_dir = "/reprobe/build-variant-two".into(),
            Variation::Clock => {
                profile.clock_offset_secs = crate::sandbox::clock::CLOCK_OFFSET_SECS
            }
            Variation::Hostname => {
                profile.hostname = "other-builder-host".into();
                profile.domainname = "variant.example".into();
            }
            Variation::User => {
                profile.user = SandboxUser {
                    uid: 2001,
                    gid: 2002,
                    name: "otherbuilder".into(),
                    group: "othergroup".into(),
                    home: PathBuf::from("/home/otherbuilder"),
                }
            }
            Variation::Umask => profile.umask = 0o002,
            Variation::Locale => profile.locale = other_locale(),
            Variation::Timezone => profile.timezone = far_timezone(),
            Variation::FileOrder => profile.reverse_file_order = true,
            Variation::Cpus => profile.cpus = Some(1),
            Variation::Env => {
                profile.extra_env.insert(
                    "REPROBE_UNRELATED_VARIABLE".into(),
                    "set-by-the-env-variation".into(),
                );
            }
        }
    }
    profile
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_vary_keeps_every_other_variation() {
        let chosen = choose(None, Some("clock,cpus")).unwrap();
        assert_eq!(chosen.len(), Variation::ALL.len() - 2);
        assert!(!chosen.contains(&Variation::Clock) && chosen.contains(&Variation::Umask));
    }

    #[test]
    fn vary_selects_only_the_named_ones() {
        let chosen = choose(Some("umask, hostname"), None).unwrap();
        assert_eq!(
            chosen.into_iter().collect::<Vec<_>>(),
            vec![Variation::Hostname, Variation::Umask]
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(choose(Some("moon_phase"), None)
            .unwrap_err()
            .to_string()
            .contains("moon_phase"));
    }

    #[test]
    fn the_varied_profile_differs_in_every_value() {
        let base = SandboxProfile::default();
        let varied = varied_profile(&base, &Variation::ALL.into_iter().collect());
        assert_ne!(base.build_dir.len(), varied.build_dir.len());
        assert_ne!(base.hostname, varied.hostname);
        assert_ne!(base.user.name, varied.user.name);
        assert_ne!(base.user.uid, varied.user.uid);
        assert_ne!(base.umask, varied.umask);
        assert_ne!(base.locale, varied.locale);
        assert_ne!(base.timezone, varied.timezone);
        assert_ne!(base.cpus, varied.cpus);
        assert!(varied.reverse_file_order);
        assert!(!varied.extra_env.is_empty());
    }
}
