//! Which variations really reached each step: a variation asked for but not applied is
//! never a silent pass (docs/design.md section 5).
//!
//! Some gaps belong to the machine (no second UTF-8 locale is installed, one core, no
//! tmpfs for the work directories), some to a step (it ran statically linked programs,
//! which the clock shim cannot reach, or it failed with the pushed clock). A variation the
//! graph itself pins for a step (`TZ`, `LANG` in its environment) is the graph's choice:
//! left out of the step's variations, and no gap.

use std::collections::{BTreeMap, BTreeSet};

use super::findings::NotApplied;
use crate::engine::variation;
use crate::model::graph::Step;
use crate::model::vocabulary::Variation;

/// The variations this machine cannot apply to any step, with why.
#[derive(Debug, Clone, Default)]
pub struct MachineGaps {
    gaps: BTreeMap<Variation, String>,
}

impl MachineGaps {
    /// Looks at the machine for each variation in `asked`.
    pub fn detect(asked: &BTreeSet<Variation>) -> MachineGaps {
        let mut gaps = BTreeMap::new();
        if asked.contains(&Variation::Locale) && variation::installed_other_locale().is_none() {
            gaps.insert(
                Variation::Locale,
                "no UTF-8 locale besides C.UTF-8 is installed, so programs run in C.UTF-8 in both builds (only LANG differs); generate one (`localedef -i en_US -f UTF-8 en_US.UTF-8` as root, from the `locales` package), or pass --no-vary locale".to_string(),
            );
        }
        if asked.contains(&Variation::Cpus) && available_cpus() <= 1 {
            gaps.insert(
                Variation::Cpus,
                "reprobe may use only one core here, so both builds ran on one core; run on a machine (or with an affinity) of two or more, or pass --no-vary cpus".to_string(),
            );
        }
        if asked.contains(&Variation::FileOrder) && crate::store::tmpfs_work_root().is_none() {
            gaps.insert(
                Variation::FileOrder,
                "no tmpfs at /dev/shm, so work directories list files in the file system's own (hashed) order in both builds; mount one, or pass --no-vary fileorder".to_string(),
            );
        }
        MachineGaps { gaps }
    }

    /// A machine with no gaps (for tests).
    #[cfg(test)]
    pub fn none() -> MachineGaps {
        MachineGaps::default()
    }
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Whether the graph fixes, for `step`, the value a variation would change.
fn pinned(step: &Step, variation: Variation) -> bool {
    let sets = |name: &str| step.env.contains_key(name);
    match variation {
        Variation::Locale => sets("LANG") || sets("LC_ALL"),
        Variation::Timezone => sets("TZ"),
        _ => false,
    }
}

/// The variations `step` really got of those `asked`, and those that did not reach it.
/// `clock_gaps` are the step's own reasons why the pushed clock did not reach it.
pub fn step_coverage(
    step: &Step,
    asked: &BTreeSet<Variation>,
    machine: &MachineGaps,
    clock_gaps: Vec<String>,
) -> (Vec<String>, Vec<NotApplied>) {
    let mut applied = Vec::new();
    let mut not_applied = Vec::new();
    for &variation in asked {
        if pinned(step, variation) {
            continue;
        }
        let gap = match (machine.gaps.get(&variation), variation) {
            (Some(why), _) => Some(why.clone()),
            (None, Variation::Clock) if !clock_gaps.is_empty() => Some(clock_gaps.join("; ")),
            _ => None,
        };
        match gap {
            Some(why) => not_applied.push(NotApplied {
                variation: variation.name().to_string(),
                why,
            }),
            None => applied.push(variation.name().to_string()),
        }
    }
    (applied, not_applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(env: &[(&str, &str)]) -> Step {
        let mut step = Step::shell_for_tests("s", "true");
        step.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        step
    }

    fn all() -> BTreeSet<Variation> {
        Variation::ALL.into_iter().collect()
    }

    #[test]
    fn everything_applies_on_a_machine_without_gaps() {
        let (applied, gaps) = step_coverage(&step(&[]), &all(), &MachineGaps::none(), vec![]);
        assert_eq!(applied.len(), Variation::ALL.len());
        assert!(gaps.is_empty());
    }

    #[test]
    fn a_pinned_value_is_neither_applied_nor_a_gap() {
        let (applied, gaps) = step_coverage(
            &step(&[("TZ", "UTC")]),
            &all(),
            &MachineGaps::none(),
            vec![],
        );
        assert!(!applied.contains(&"timezone".to_string()));
        assert!(gaps.is_empty());
    }

    #[test]
    fn a_static_program_is_a_clock_gap() {
        let why = vec!["it runs statically linked program (/x)".to_string()];
        let (applied, gaps) = step_coverage(&step(&[]), &all(), &MachineGaps::none(), why);
        assert!(!applied.contains(&"clock".to_string()));
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].variation, "clock");
        assert!(gaps[0].why.contains("/x"));
    }

    #[test]
    fn machine_gaps_apply_to_every_step_that_asked() {
        let mut machine = MachineGaps::none();
        machine.gaps.insert(Variation::Locale, "no locale".into());
        let asked: BTreeSet<Variation> = [Variation::Locale, Variation::Clock].into();
        let (applied, gaps) = step_coverage(&step(&[]), &asked, &machine, vec![]);
        assert_eq!(applied, vec!["clock".to_string()]);
        assert_eq!(gaps[0].variation, "locale");
        // Pinned by the graph: the machine's gap does not matter.
        let (_, gaps) = step_coverage(&step(&[("LANG", "C.UTF-8")]), &asked, &machine, vec![]);
        assert!(gaps.is_empty());
    }
}
