//! Bisection: the smallest sets of variations that reproduce the differences the known
//! values do not explain, found by re-running one step under subsets of them (delta
//! debugging); what differs with no variation at all is inherent.

use std::collections::{BTreeMap, BTreeSet};

use super::context::{CheckContext, CheckEvent, CheckOptions};
use super::diff_outputs::{attributed_by_evidence, diff_outputs, known_values};
use super::findings::StepFinding;
use super::rounds::{rerun_on_first_inputs, Round};
use crate::diff::{self, Reason, ReasonKind, TimeWindow};
use crate::engine::exec::SandboxProfile;
use crate::engine::variation;
use crate::model::vocabulary::Variation;

/// Identifies one unexplained difference across runs: its item, kind and context.
type ReasonKey = (String, ReasonKind, Option<String>);

fn key_of(reason: &Reason) -> ReasonKey {
    (reason.path.clone(), reason.kind, reason.context.clone())
}

/// Re-runs of one step under subsets of the variations, remembered by subset.
struct Bisector<'a> {
    cx: &'a CheckContext,
    rounds: &'a [Round],
    index: usize,
    runs: usize,
    seen: BTreeMap<BTreeSet<Variation>, BTreeSet<ReasonKey>>,
}

impl Bisector<'_> {
    /// The unexplained differences between the first build and a re-run under `set`.
    fn unexplained(&mut self, set: &BTreeSet<Variation>) -> BTreeSet<ReasonKey> {
        if let Some(found) = self.seen.get(set) {
            return found.clone();
        }
        self.runs += 1;
        let why = format!("bisecting the variations, re-run {}", self.runs);
        self.cx.tell(CheckEvent::Rerun {
            step: &self.cx.graph.steps[self.index].name,
            why: &why,
        });
        let first = &self.rounds[0];
        let record = &first.manifest.steps[self.index];
        let mut profile = variation::varied_profile(&first.profile, set);
        // A step that failed with the pushed clock is bisected with the real one.
        profile.push_clock = self.rounds.iter().all(|r| !r.unfaked.contains(&self.index));
        let started = chrono::Utc::now().timestamp();
        let rerun = rerun_on_first_inputs(self.cx, self.rounds, self.index, &profile);
        let window = TimeWindow {
            start: started + profile.clock_offset_secs,
            end: chrono::Utc::now().timestamp() + 1 + profile.clock_offset_secs,
        };
        let found = if rerun.content_hash.is_none() || rerun.content_hash == record.content_hash {
            BTreeSet::new()
        } else {
            let known = known_values(&first.profile, first.window, &profile, window);
            diff_outputs(self.cx, &record.outputs, &rerun.outputs, known)
                .map(|report| {
                    report
                        .items
                        .iter()
                        .flat_map(|i| &i.reasons)
                        .filter(|r| !attributed_by_evidence(r))
                        .map(key_of)
                        .collect()
                })
                .unwrap_or_default()
        };
        self.seen.insert(set.clone(), found.clone());
        found
    }

    fn reproduces(&mut self, set: &BTreeSet<Variation>, targets: &BTreeSet<ReasonKey>) -> bool {
        !self.unexplained(set).is_disjoint(targets)
    }
}

/// Finds, for the differences the known values do not explain, the smallest sets of
/// variations that reproduce them, by re-running only this step (its inputs come from
/// the store) with subsets of the variations. Independent causes are found one after
/// the other; what differs with no variation at all is inherent (`random`).
pub(super) fn bisect(
    cx: &CheckContext,
    options: &CheckOptions,
    rounds: &[Round],
    index: usize,
    finding: &mut StepFinding,
    _varied: &SandboxProfile,
) {
    let mut bisector = Bisector {
        cx,
        rounds,
        index,
        runs: 0,
        seen: BTreeMap::new(),
    };
    let mut remaining: BTreeSet<ReasonKey> = finding
        .reasons
        .iter()
        .filter(|r| !attributed_by_evidence(r))
        .map(key_of)
        .collect();
    let mut attribution: BTreeMap<ReasonKey, Vec<Variation>> = BTreeMap::new();
    let inherent: BTreeSet<ReasonKey> = bisector
        .unexplained(&BTreeSet::new())
        .intersection(&remaining)
        .cloned()
        .collect();
    remaining.retain(|k| !inherent.contains(k));
    let all: BTreeSet<Variation> = options.variations.clone();
    while !remaining.is_empty() && !all.is_empty() && bisector.reproduces(&all, &remaining) {
        let targets = remaining.clone();
        let minimal = minimize(all.clone(), &mut |set| bisector.reproduces(set, &targets));
        let explained: Vec<ReasonKey> = bisector
            .unexplained(&minimal)
            .intersection(&remaining)
            .cloned()
            .collect();
        if explained.is_empty() {
            break;
        }
        for key in explained {
            remaining.remove(&key);
            attribution.insert(key, minimal.iter().copied().collect());
        }
    }
    apply_attribution(finding, &inherent, &attribution);
    let mut note = format!("bisection: {} re-runs of this step", bisector.runs);
    if let Some(with) = &finding.varies_with {
        if !with.is_empty() {
            note.push_str(&format!("; varies with: {}", with.join(", ")));
        }
    }
    if !remaining.is_empty() {
        note.push_str(&format!(
            "; {} difference(s) did not reproduce (rare or racy: try --rounds)",
            remaining.len()
        ));
    }
    finding.notes.push(note);
}

/// Writes bisection results into the reasons and the finding's summary.
fn apply_attribution(
    finding: &mut StepFinding,
    inherent: &BTreeSet<ReasonKey>,
    attribution: &BTreeMap<ReasonKey, Vec<Variation>>,
) {
    let mut varies_with: BTreeSet<Variation> = BTreeSet::new();
    for reason in finding
        .reasons
        .iter_mut()
        .filter(|r| !attributed_by_evidence(r))
    {
        let key = key_of(reason);
        if inherent.contains(&key) {
            reason.variation = None;
            continue;
        }
        let Some(set) = attribution.get(&key) else {
            continue;
        };
        varies_with.extend(set.iter().copied());
        if let [only] = set[..] {
            if reason.kind == ReasonKind::Random {
                reason.kind = only.reason_kind();
                reason.remedy = diff::classify::remedy(reason.kind).map(str::to_string);
                // Explained now: the entropy guess was about an unexplained span.
                reason.high_entropy = None;
                reason.note = None;
            }
        }
        let names: Vec<&str> = set.iter().map(|v| v.name()).collect();
        reason.variation = Some(names.join("+"));
    }
    if !inherent.is_empty() {
        finding.inherent = true;
        finding.notes.push(
            "some differences appear with no variation at all: inherent nondeterminism (random)"
                .into(),
        );
    }
    if !varies_with.is_empty() || finding.inherent {
        finding.varies_with = Some(varies_with.iter().map(|v| v.name().to_string()).collect());
    }
}

/// Delta debugging over a set that is known to reproduce: halves first, then one by one.
fn minimize(
    mut set: BTreeSet<Variation>,
    reproduces: &mut dyn FnMut(&BTreeSet<Variation>) -> bool,
) -> BTreeSet<Variation> {
    loop {
        if set.len() <= 1 {
            return set;
        }
        let items: Vec<Variation> = set.iter().copied().collect();
        let (left, right) = items.split_at(items.len() / 2);
        let left: BTreeSet<Variation> = left.iter().copied().collect();
        let right: BTreeSet<Variation> = right.iter().copied().collect();
        if reproduces(&left) {
            set = left;
            continue;
        }
        if reproduces(&right) {
            set = right;
            continue;
        }
        for variation in items {
            let mut smaller = set.clone();
            smaller.remove(&variation);
            if !smaller.is_empty() && reproduces(&smaller) {
                set = smaller;
            }
        }
        return set;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimize_finds_a_single_culprit() {
        let all: BTreeSet<Variation> = Variation::ALL.into_iter().collect();
        let mut calls = 0;
        let found = minimize(all, &mut |s| {
            calls += 1;
            s.contains(&Variation::Umask)
        });
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            vec![Variation::Umask]
        );
        assert!(calls <= 8, "{calls} runs");
    }

    #[test]
    fn minimize_finds_a_pair_needed_together() {
        let all: BTreeSet<Variation> = Variation::ALL.into_iter().collect();
        let found = minimize(all, &mut |s| {
            s.contains(&Variation::Hostname) && s.contains(&Variation::Cpus)
        });
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            vec![Variation::Hostname, Variation::Cpus]
        );
    }
}
