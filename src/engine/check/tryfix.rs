//! `check --try-fixes`: a fix reprobe can apply itself is tried before it is advised.
//!
//! For each nondeterministic step, every remedy that is an environment setting
//! (`SOURCE_DATE_EPOCH`, `TZ`, `LC_ALL`, `PYTHONHASHSEED`), a umask, or a compiler flag
//! (`-ffile-prefix-map` for gcc and clang commands) and that matches one of its reasons is
//! applied to the step, which is then run again in the first build's sandbox and in the
//! varied one, on the first build's inputs. Equal outputs: the fix is verified. Different
//! ones: it is not enough, and the report says what still differs. Every remedy found
//! is also tried all together, when there is more than one.

use std::sync::Arc;

use super::context::{CheckContext, CheckEvent};
use super::diff_outputs::{diff_outputs, known_values};
use super::findings::{FixTrial, StepFinding};
use super::rounds::{rerun_options, Round};
use crate::diff::{ReasonKind, TimeWindow};
use crate::engine::exec::{self, SandboxProfile};
use crate::model::graph::{Command, Graph, Step, ROOT_PLACEHOLDER};

/// The `SOURCE_DATE_EPOCH` tried: 2023-11-14, any fixed time does.
const FIXED_EPOCH: &str = "1700000000";

/// One change to a step that may make it reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Remedy {
    /// Set an environment variable in the step's environment.
    Env(&'static str, &'static str),
    /// Run the (shell) command under this umask.
    Umask(&'static str),
    /// Map the project's root away in every gcc or clang the command runs.
    PrefixMap,
}

impl Remedy {
    fn describe(&self) -> String {
        match self {
            Remedy::Env(name, value) => format!("{name}={value}"),
            Remedy::Umask(mask) => format!("umask {mask}"),
            Remedy::PrefixMap => "-ffile-prefix-map=$ROOT=. on the compiler".to_string(),
        }
    }

    /// `step` with the remedy applied; `None` when it cannot be applied to it.
    fn apply(&self, step: &Step) -> Option<Step> {
        let mut step = step.clone();
        match self {
            Remedy::Env(name, value) => {
                step.env.insert(name.to_string(), value.to_string());
            }
            Remedy::Umask(mask) => match &step.command {
                Command::Shell(script) => {
                    step.command = Command::Shell(format!("umask {mask}\n{script}"));
                }
                Command::Argv(_) => return None,
            },
            Remedy::PrefixMap => match &step.command {
                Command::Shell(script) => step.command = Command::Shell(add_prefix_map(script)?),
                Command::Argv(_) => return None,
            },
        }
        Some(step)
    }
}

/// The remedies matching a finding's reasons, in a stable order.
fn remedies_for(finding: &StepFinding, step: &Step) -> Vec<Remedy> {
    let has = |kind: ReasonKind| finding.reasons.iter().any(|r| r.kind == kind);
    let mut out = Vec::new();
    if has(ReasonKind::Timestamp) || has(ReasonKind::ArchiveMetadata) {
        out.push(Remedy::Env("SOURCE_DATE_EPOCH", FIXED_EPOCH));
    }
    if has(ReasonKind::Timezone) {
        out.push(Remedy::Env("TZ", "UTC"));
    }
    if has(ReasonKind::Locale) {
        out.push(Remedy::Env("LC_ALL", "C.UTF-8"));
    }
    let hash_seed = finding.reasons.iter().any(|r| {
        r.kind == ReasonKind::Ordering
            && r.remedy
                .as_deref()
                .is_some_and(|m| m.contains("PYTHONHASHSEED"))
    });
    if hash_seed {
        out.push(Remedy::Env("PYTHONHASHSEED", "0"));
    }
    if has(ReasonKind::Umask) && matches!(step.command, Command::Shell(_)) {
        out.push(Remedy::Umask("022"));
    }
    let compiles = matches!(&step.command, Command::Shell(s) if add_prefix_map(s).is_some());
    if has(ReasonKind::BuildPath) && compiles {
        out.push(Remedy::PrefixMap);
    }
    out
}

/// The command with `-ffile-prefix-map=${REPROBE_ROOT}=.` after every gcc, cc, clang (or
/// their C++ forms) it starts; `None` when it starts none.
fn add_prefix_map(command: &str) -> Option<String> {
    static COMPILER: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let compiler = COMPILER.get_or_init(|| {
        regex::Regex::new(
            r"(^|[\s;&|(])((?:\S*/)?(?:cc|gcc|g\+\+|c\+\+|clang|clang\+\+|[\w.-]+-gcc|[\w.-]+-g\+\+))(\s)",
        )
        .expect("a valid pattern")
    });
    if !compiler.is_match(command) {
        return None;
    }
    let flag = format!("-ffile-prefix-map={ROOT_PLACEHOLDER}=.");
    Some(
        compiler
            .replace_all(command, |c: &regex::Captures<'_>| {
                format!("{}{} {flag}{}", &c[1], &c[2], &c[3])
            })
            .into_owned(),
    )
}

/// Runs `step` (a changed copy of graph step `index`) with `profile` on the first
/// build's dep outputs.
fn run_changed(
    cx: &CheckContext,
    rounds: &[Round],
    index: usize,
    step: Step,
    profile: &SandboxProfile,
) -> crate::model::manifest::StepRecord {
    let mut graph: Graph = (*cx.graph).clone();
    graph.steps[index] = step;
    let deps: Vec<&crate::model::manifest::StepRecord> = graph.steps[index]
        .deps
        .iter()
        .filter_map(|d| rounds[0].manifest.step(d))
        .collect();
    exec::run_one(
        Arc::new(graph),
        Arc::clone(&cx.store),
        Arc::clone(&cx.sandbox),
        &rerun_options(profile),
        index,
        &deps,
    )
}

/// Tries `remedies` together on step `index` in both profiles.
fn trial(
    cx: &CheckContext,
    rounds: &[Round],
    index: usize,
    remedies: &[Remedy],
    varied: &SandboxProfile,
) -> FixTrial {
    let describe = remedies
        .iter()
        .map(Remedy::describe)
        .collect::<Vec<_>>()
        .join(" and ");
    let mut step = cx.graph.steps[index].clone();
    for remedy in remedies {
        match remedy.apply(&step) {
            Some(changed) => step = changed,
            None => {
                return FixTrial {
                    remedy: describe,
                    verified: false,
                    still: Some("cannot be applied to this command".into()),
                }
            }
        }
    }
    let first_profile = &rounds[0].profile;
    let why = format!("trying {describe}");
    cx.tell(CheckEvent::Rerun {
        step: &cx.graph.steps[index].name,
        why: &why,
    });
    let started = chrono::Utc::now().timestamp();
    let a = run_changed(cx, rounds, index, step.clone(), first_profile);
    let b = run_changed(cx, rounds, index, step, varied);
    let (Some(ha), Some(hb)) = (a.content_hash, b.content_hash) else {
        let error = a.error.or(b.error).unwrap_or_else(|| "no outputs".into());
        return FixTrial {
            remedy: describe,
            verified: false,
            still: Some(format!("the step failed with it: {error}")),
        };
    };
    if ha == hb {
        return FixTrial {
            remedy: describe,
            verified: true,
            still: None,
        };
    }
    let now = chrono::Utc::now().timestamp() + 1;
    let window = |offset: i64| TimeWindow {
        start: started + offset,
        end: now + offset,
    };
    let known = known_values(
        first_profile,
        window(0),
        varied,
        window(varied.clock_offset_secs),
    );
    let still = match diff_outputs(cx, &a.outputs, &b.outputs, known) {
        Ok(report) => {
            let mut kinds: Vec<&str> = report
                .items
                .iter()
                .flat_map(|i| i.reasons.iter().map(|r| r.kind.as_str()))
                .collect();
            kinds.sort_unstable();
            kinds.dedup();
            let paths: Vec<&str> = report
                .items
                .iter()
                .map(|i| i.path.as_str())
                .take(3)
                .collect();
            format!("{} in {}", kinds.join(", "), paths.join(", "))
        }
        Err(err) => format!("still differs (could not diff: {err})"),
    };
    FixTrial {
        remedy: describe,
        verified: false,
        still: Some(still),
    }
}

/// Every trial for the nondeterministic step `index`: each remedy alone, then all of them
/// together when there are several.
pub(super) fn try_fixes(
    cx: &CheckContext,
    rounds: &[Round],
    index: usize,
    finding: &StepFinding,
    varied: &SandboxProfile,
) -> Vec<FixTrial> {
    let step = &cx.graph.steps[index];
    let remedies = remedies_for(finding, step);
    let mut trials: Vec<FixTrial> = remedies
        .iter()
        .map(|r| trial(cx, rounds, index, std::slice::from_ref(r), varied))
        .collect();
    if remedies.len() > 1 && !trials.iter().any(|t| t.verified) {
        trials.push(trial(cx, rounds, index, &remedies, varied));
    }
    trials
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_map_goes_after_every_compiler_the_command_starts() {
        assert_eq!(
            add_prefix_map("cd build || exit 1\n/usr/bin/cc -o a.o -c ../a.c && gcc -o b b.o").unwrap(),
            "cd build || exit 1\n/usr/bin/cc -ffile-prefix-map=${REPROBE_ROOT}=. -o a.o -c ../a.c && gcc -ffile-prefix-map=${REPROBE_ROOT}=. -o b b.o"
        );
        assert_eq!(
            add_prefix_map("x86_64-linux-gnu-gcc -c a.c").unwrap(),
            "x86_64-linux-gnu-gcc -ffile-prefix-map=${REPROBE_ROOT}=. -c a.c"
        );
        assert!(add_prefix_map("tar cf a.tar src").is_none());
        assert!(add_prefix_map("echo cc-mode").is_none());
    }

    #[test]
    fn remedies_follow_the_reasons() {
        let step = Step::shell_for_tests("s", "gcc -g -c a.c");
        let reason = crate::engine::check::findings::reason_for_tests;
        let mut finding = crate::engine::check::findings::empty_finding_for_tests();
        finding.reasons = vec![reason(ReasonKind::Timestamp), reason(ReasonKind::BuildPath)];
        assert_eq!(
            remedies_for(&finding, &step),
            vec![
                Remedy::Env("SOURCE_DATE_EPOCH", FIXED_EPOCH),
                Remedy::PrefixMap
            ]
        );
        finding.reasons = vec![reason(ReasonKind::Umask), reason(ReasonKind::Timezone)];
        assert_eq!(
            remedies_for(&finding, &step),
            vec![Remedy::Env("TZ", "UTC"), Remedy::Umask("022")]
        );
    }
}
