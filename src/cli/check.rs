//! `reprobe check`: build twice in varied sandboxes, judge every step, gate CI.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::table::{colour_enabled, paint, Colour, Table};
use super::{open_or_create_store, CommonArgs, Interrupt};
use crate::engine::check::{
    self, groups, CheckContext, CheckOptions, CheckReport, StepFinding, Verdict,
};
use crate::engine::exec::BuildError;
use crate::engine::variation;
use crate::model::error::Exit;
use crate::sandbox::Sandbox;

/// Flags of `reprobe check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The graph file, or a directory holding reprobe.toml [default: ./reprobe.toml]
    pub graph: Option<PathBuf>,
    /// How many builds (at least 2): the first plain, the others with the variations.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub rounds: usize,
    /// Apply only these variations (comma-separated): build_path, clock, hostname, user,
    /// umask, locale, timezone, fileorder, cpus, env.
    #[arg(long, value_name = "LIST")]
    pub vary: Option<String>,
    /// Apply every variation but these (comma-separated); the report lists what was off.
    #[arg(long, value_name = "LIST")]
    pub no_vary: Option<String>,
    /// Do not re-run steps to bisect differences the known values do not explain.
    #[arg(long)]
    pub no_bisect: bool,
    /// Try the fixes reprobe can apply itself (SOURCE_DATE_EPOCH, TZ, LC_ALL,
    /// PYTHONHASHSEED, umask, -ffile-prefix-map for gcc/clang) on each nondeterministic
    /// step, in both builds' sandboxes, and report which made it reproducible.
    #[arg(long)]
    pub try_fixes: bool,
    /// Keep every build's outputs in DIR/build-N/STEP/ for inspection.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Markdown summary (for a pull-request comment).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write a JUnit XML report: one test case per step, non-reproducible ones failing.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub source: super::import::GraphSource,
    #[command(flatten)]
    pub limits: super::build::LimitArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `reprobe check`.
pub fn run(args: CheckArgs) -> anyhow::Result<Exit> {
    let graph = match args
        .source
        .load(args.graph.as_deref(), args.common.quiet || args.common.json)
    {
        Ok(graph) => Arc::new(graph),
        Err(err) => {
            super::print_error(&err);
            return Ok(Exit::BadInput);
        }
    };
    let variations = match variation::choose(args.vary.as_deref(), args.no_vary.as_deref()) {
        Ok(v) => v,
        Err(err) => {
            eprintln!("reprobe: error: --vary/--no-vary: {err}");
            return Ok(Exit::BadInput);
        }
    };
    if variations.is_empty() {
        eprintln!(
            "reprobe: error: --vary/--no-vary leave no variation: every build would run in the same sandbox, so `check` could only find a step that differs by itself; it never passes such a run as reproducible. Leave at least one variation on (`--rounds N` alone builds N times with every variation, which also finds steps that differ by themselves)"
        );
        return Ok(Exit::BadInput);
    }
    if args.rounds < 2 {
        eprintln!("reprobe: error: --rounds must be at least 2 (one build cannot be compared)");
        return Ok(Exit::BadInput);
    }
    if let Err(err) = check_report_paths(&args) {
        super::print_error(&err);
        return Ok(Exit::BadInput);
    }
    Sandbox::check_support().map_err(anyhow::Error::from)?;
    let status = Arc::new(super::progress::StatusLine::new(
        args.common.quiet || args.common.json,
    ));
    let progress = check_progress(Arc::clone(&status), graph.steps.len(), args.rounds);
    let cx = CheckContext {
        progress,
        store: Arc::new(open_or_create_store(&args.common, &graph)?),
        sandbox: Arc::new(Sandbox::new().context("cannot start the sandbox")?),
        graph,
    };
    let options = CheckOptions {
        rounds: args.rounds,
        variations,
        jobs: args.common.jobs(),
        bisect: !args.no_bisect,
        try_fixes: args.try_fixes,
        keep: args.keep.clone(),
        limits: args.limits.defaults(),
    };
    if args.common.verbose && !args.common.quiet {
        eprintln!(
            "reprobe: {}",
            super::build::describe_limits(&options.limits)
        );
        eprintln!("reprobe: {}", super::build::describe_observation(true));
    }
    let interrupt = Interrupt::install()?;
    if !args.common.quiet && !args.common.json {
        let steps = cx.graph.steps.len();
        eprintln!(
            "reprobe: checking {steps} {} with {} builds; varying: {}",
            if steps == 1 { "step" } else { "steps" },
            options.rounds,
            options
                .variations
                .iter()
                .map(|v| v.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let result = check::check(&cx, &options, interrupt.flag());
    status.clear();
    let report = match result {
        Ok(report) => report,
        Err(BuildError::Interrupted) => interrupt.exit(),
        Err(err) => return Err(err.into()),
    };
    write_reports(&args, &report)?;
    if args.common.json {
        println!("{}", report.to_json());
    } else if !args.common.quiet {
        print!("{}", render_terminal(&report, args.common.verbose));
    }
    Ok(report.exit())
}

/// Fails before any build when a report could not be written: a missing directory or an
/// unwritable one would otherwise lose the verdict after the whole check ran.
fn check_report_paths(args: &CheckArgs) -> anyhow::Result<()> {
    for path in [&args.html, &args.markdown, &args.junit]
        .into_iter()
        .flatten()
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => std::path::Path::new("."),
        };
        if !dir.is_dir() {
            anyhow::bail!(
                "cannot write the report {}: the directory {} does not exist; create it or choose another path",
                path.display(),
                dir.display()
            );
        }
        let probe = tempfile::NamedTempFile::new_in(dir).with_context(|| {
            format!(
                "cannot write the report {}: the directory {} is not writable",
                path.display(),
                dir.display()
            )
        })?;
        drop(probe);
    }
    Ok(())
}

fn write_reports(args: &CheckArgs, report: &CheckReport) -> anyhow::Result<()> {
    let outputs = [
        (&args.html, render_html(report)),
        (&args.markdown, render_markdown(report)),
        (&args.junit, render_junit(report)),
    ];
    for (path, text) in outputs {
        if let Some(path) = path {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

/// What the builds of a check have done, for its status line.
#[derive(Default)]
struct CheckState {
    /// Per build: steps finished and the steps running now.
    builds: Vec<(usize, Vec<String>)>,
}

/// The progress listener of `check`: "build 1 [3/44] build 2 [2/44] running: a, b", then
/// "judging [5/44] step", then what a re-run is for. `None` when nothing would be drawn.
fn check_progress(
    status: Arc<super::progress::StatusLine>,
    total: usize,
    rounds: usize,
) -> Option<Box<check::CheckProgress>> {
    if !status.enabled() {
        return None;
    }
    let state = std::sync::Mutex::new(CheckState {
        builds: vec![(0, Vec::new()); rounds.max(2)],
    });
    Some(Box::new(move |event| {
        let text = match event {
            check::CheckEvent::Build { round, event } => {
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                let Some((done, running)) = state.builds.get_mut(round - 1) else {
                    return;
                };
                match event {
                    crate::engine::exec::BuildEvent::Started { step } => running.push(step.clone()),
                    crate::engine::exec::BuildEvent::Finished {
                        record, done: n, ..
                    } => {
                        running.retain(|s| *s != record.name);
                        *done = *n;
                    }
                }
                let mut text = String::new();
                let mut all_running = Vec::new();
                for (i, (done, running)) in state.builds.iter().enumerate() {
                    text.push_str(&format!("build {} [{done}/{total}] ", i + 1));
                    all_running.extend(running.iter().cloned());
                }
                all_running.sort();
                all_running.dedup();
                if !all_running.is_empty() {
                    text.push_str(&format!(
                        "running: {}",
                        super::progress::running_list(&all_running)
                    ));
                }
                text
            }
            check::CheckEvent::Judging { step, done, total } => {
                format!("judging [{done}/{total}] {step}")
            }
            check::CheckEvent::Rerun { step, why } => format!("{step}: {why}"),
        };
        status.show(&text);
    }))
}

fn verdict_colour(verdict: Verdict) -> Colour {
    match verdict {
        Verdict::Reproducible => Colour::Green,
        Verdict::Cascade => Colour::Yellow,
        _ => Colour::Red,
    }
}

fn reason_summary(finding: &StepFinding) -> String {
    let mut kinds: Vec<String> = Vec::new();
    for reason in &finding.reasons {
        let word = reason.kind.as_str().to_string();
        if !kinds.contains(&word) {
            kinds.push(word);
        }
    }
    if finding.verdict == Verdict::Cascade {
        return format!("inherits from {}", finding.cascade_of.join(", "));
    }
    if finding.verdict == Verdict::Reproducible && !finding.not_applied.is_empty() {
        let names: Vec<&str> = finding
            .not_applied
            .iter()
            .map(|n| n.variation.as_str())
            .collect();
        return format!("not tested: {}", names.join(", "));
    }
    if let Some(error) = &finding.error {
        return error
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect();
    }
    kinds.join(", ")
}

/// Step names the summary line lists per verdict (the JSON report has them all).
const SUMMARY_NAMES: usize = 4;
/// Graphs with at most this many steps get the table of every step without `-v`.
const TABLE_MAX_STEPS: usize = 20;
/// Step names listed in a group without `-v`.
const GROUP_NAMES: usize = 6;

/// The terminal report: the table of steps (small graphs, or `-v`), then each cause once
/// with the steps it concerns and its evidence and fix, then the summary.
pub fn render_terminal(report: &CheckReport, verbose: bool) -> String {
    let colour = colour_enabled();
    let mut out = String::new();
    if verbose || report.steps.len() <= TABLE_MAX_STEPS {
        out.push_str(&render_table(report, colour));
    }
    for group in groups::group(report) {
        out.push('\n');
        out.push_str(&render_group(&group, verbose, colour));
    }
    for (variation, why, steps) in groups::not_applied(report) {
        out.push('\n');
        let shown = if verbose { usize::MAX } else { GROUP_NAMES };
        let title = format!(
            "{} — reproducible, but {variation} did not reach {}",
            groups::name_list(&steps, shown),
            if steps.len() == 1 { "it" } else { "them" }
        );
        let _ = writeln!(out, "{}", paint(&title, Colour::Bold, colour));
        let _ = writeln!(out, "  not applied: {variation}: {why}");
    }
    out.push('\n');
    out.push_str(&summary_line(report));
    out.push('\n');
    if !report.not_varied.is_empty() {
        let _ = writeln!(out, "not varied: {}", report.not_varied.join(", "));
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

fn render_table(report: &CheckReport, colour: bool) -> String {
    let mut table = Table::new(&["STEP", "VERDICT", "INPUT HASH", "CONTENT HASHES", "REASONS"]);
    for finding in &report.steps {
        let hashes: Vec<String> = finding.content_hashes.iter().map(|h| h.short()).collect();
        table.row(vec![
            finding.name.clone(),
            paint(
                finding.verdict.as_str(),
                verdict_colour(finding.verdict),
                colour,
            ),
            finding.input_hash.map_or("-".into(), |h| h.short()),
            if hashes.is_empty() {
                "-".into()
            } else {
                hashes.join(" ")
            },
            reason_summary(finding),
        ]);
    }
    table.render()
}

/// One cause: a single step as its own block; several as one block naming them, with
/// the first one's evidence (`-v`: every step's block).
fn render_group(group: &groups::Group<'_>, verbose: bool, colour: bool) -> String {
    if group.steps.len() == 1 || (verbose && group.verdict != Verdict::Cascade) {
        return group
            .steps
            .iter()
            .map(|f| render_finding(f, verbose, colour))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let names: Vec<&str> = group.steps.iter().map(|f| f.name.as_str()).collect();
    let shown = if verbose { usize::MAX } else { GROUP_NAMES };
    let mut out = String::new();
    if group.verdict == Verdict::Cascade {
        let upstream = group.upstream();
        let title = format!(
            "{} cascades — only inherit differences from {}",
            names.len(),
            groups::name_list(&upstream, shown)
        );
        let _ = writeln!(out, "{}", paint(&title, Colour::Bold, colour));
        let _ = writeln!(out, "  steps: {}", groups::name_list(&names, shown));
        return out;
    }
    let title = format!(
        "{} steps — {}: {}",
        names.len(),
        group.verdict.as_str(),
        group.cause
    );
    let _ = writeln!(out, "{}", paint(&title, Colour::Bold, colour));
    let _ = writeln!(out, "  steps: {}", groups::name_list(&names, shown));
    let first = group.first();
    let _ = writeln!(out, "  evidence of {} (-v shows every step's):", first.name);
    out.push_str(&finding_body(first, false, colour));
    out
}

fn render_finding(finding: &StepFinding, verbose: bool, colour: bool) -> String {
    let mut out = String::new();
    let title = format!("{} — {}", finding.name, finding.verdict.as_str());
    let _ = writeln!(out, "{}", paint(&title, Colour::Bold, colour));
    out.push_str(&finding_body(finding, verbose, colour));
    out
}

/// A finding's evidence, without its title: the error, the reasons (the first three of
/// each file without `verbose`), the fixes, network attempts, undeclared reads, notes.
fn finding_body(finding: &StepFinding, verbose: bool, colour: bool) -> String {
    let mut out = String::new();
    if let Some(error) = &finding.error {
        let _ = writeln!(out, "  {error}");
    }
    if let Some(tail) = &finding.stderr_tail {
        for line in tail.lines() {
            let _ = writeln!(out, "  | {line}");
        }
    }
    if let Some(with) = &finding.varies_with {
        let text = if with.is_empty() {
            "nothing: it differs with no variation at all (random)".to_string()
        } else {
            with.join(", ")
        };
        let _ = writeln!(out, "  varies with: {text}");
    }
    let limit = if verbose { usize::MAX } else { 3 };
    let mut per_path: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut hidden = 0;
    let mut remedies: Vec<&str> = Vec::new();
    for reason in &finding.reasons {
        let shown = per_path.entry(reason.path.as_str()).or_default();
        *shown += 1;
        if *shown > limit {
            hidden += 1;
            continue;
        }
        let location = match (reason.offset, reason.line) {
            (_, Some(line)) => format!(" line {line}"),
            (Some(offset), None) => format!(" offset {offset}"),
            _ => String::new(),
        };
        let context = reason
            .context
            .as_deref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let variation = reason
            .variation
            .as_deref()
            .map(|v| format!(" (varies with {v})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {}{location}{context}: {:?} -> {:?}{variation}",
            paint(reason.kind.as_str(), Colour::Yellow, colour),
            reason.path,
            shorten(&reason.a),
            shorten(&reason.b)
        );
        if let Some(remedy) = reason.remedy.as_deref() {
            if !remedies.contains(&remedy) {
                remedies.push(remedy);
            }
        }
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "  ... {hidden} more (-v shows all; the HTML report has everything)"
        );
    }
    for remedy in remedies {
        let _ = writeln!(out, "  fix: {remedy}");
    }
    for trial in &finding.fix_trials {
        if trial.verified {
            let _ = writeln!(
                out,
                "  verified: with {} the step is reproducible",
                trial.remedy
            );
        } else {
            let _ = writeln!(
                out,
                "  not enough: with {} it still differs: {}",
                trial.remedy,
                trial.still.as_deref().unwrap_or_default()
            );
        }
    }
    for attempt in &finding.network {
        let name = attempt
            .dns_name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  network: pid {} `{}` -> {} {}:{}{name}",
            attempt.pid,
            super::build::printable_argv(&attempt.argv),
            attempt.family,
            attempt.address,
            attempt.port
        );
    }
    if finding.network_omitted > 0 {
        let _ = writeln!(
            out,
            "  network: {} more distinct attempts, counted but not listed",
            finding.network_omitted
        );
    }
    for path in &finding.undeclared {
        let _ = writeln!(out, "  undeclared read: {path}");
    }
    for note in &finding.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    out.push_str(&render_not_applied(finding));
    out
}

/// "  not applied: clock: ..." lines.
fn render_not_applied(finding: &StepFinding) -> String {
    let mut out = String::new();
    for gap in &finding.not_applied {
        let _ = writeln!(out, "  not applied: {}: {}", gap.variation, gap.why);
    }
    out
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= 60 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(60).collect::<String>())
    }
}

/// One line saying what each step is, root causes first: "5 steps: 1 nondeterministic
/// (root cause: stamp), 3 cascades (only inherit its differences), 1 reproducible".
/// Each verdict says what it means: a failed step was never judged, an undeclared one
/// reads files it does not declare (its outputs may well be identical).
pub fn summary_line(report: &CheckReport) -> String {
    let steps = &report.steps;
    let total = steps.len();
    let noun = |n: usize| if n == 1 { "step" } else { "steps" };
    let names = |keep: &dyn Fn(&StepFinding) -> bool| -> Vec<&str> {
        steps
            .iter()
            .filter(|s| keep(s))
            .map(|s| s.name.as_str())
            .collect()
    };
    if steps.iter().all(StepFinding::is_clean) {
        return match total {
            1 => "the step is reproducible".to_string(),
            n => format!("all {n} steps are reproducible"),
        };
    }
    let mut parts = Vec::new();
    let roots = report.root_causes();
    if !roots.is_empty() {
        parts.push(format!(
            "{} nondeterministic (root {}: {})",
            roots.len(),
            if roots.len() == 1 { "cause" } else { "causes" },
            groups::name_list(&roots, SUMMARY_NAMES)
        ));
    }
    let cascades = names(&|s| s.verdict == Verdict::Cascade).len();
    if cascades > 0 {
        parts.push(format!(
            "{cascades} {} (only inherit differences from upstream)",
            if cascades == 1 { "cascade" } else { "cascades" }
        ));
    }
    // Steps that failed themselves; those that only did not run because a dep failed
    // name it in `cascade_of` and are counted, not listed.
    let own_failures = names(&|s| s.verdict == Verdict::Failed && s.cascade_of.is_empty());
    if !own_failures.is_empty() {
        parts.push(format!(
            "{} failed, so not judged: {}",
            own_failures.len(),
            groups::name_list(&own_failures, SUMMARY_NAMES)
        ));
    }
    let not_run = names(&|s| s.verdict == Verdict::Failed && !s.cascade_of.is_empty()).len();
    if not_run > 0 {
        parts.push(format!("{not_run} not run because a dep failed"));
    }
    let network = names(&|s| s.verdict == Verdict::Network);
    if !network.is_empty() {
        parts.push(format!(
            "{} tried to reach the network: {}",
            network.len(),
            groups::name_list(&network, SUMMARY_NAMES)
        ));
    }
    let undeclared = names(&|s| s.verdict == Verdict::Undeclared);
    if !undeclared.is_empty() {
        parts.push(format!(
            "{} read undeclared files: {}",
            undeclared.len(),
            groups::name_list(&undeclared, SUMMARY_NAMES)
        ));
    }
    let reproducible = names(&|s| s.verdict == Verdict::Reproducible).len();
    let untested = names(&|s| s.verdict == Verdict::Reproducible && !s.not_applied.is_empty());
    if reproducible > 0 {
        let mut part = format!("{reproducible} reproducible");
        if !untested.is_empty() {
            let mut missing: Vec<&str> = steps
                .iter()
                .flat_map(|s| s.not_applied.iter().map(|n| n.variation.as_str()))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            part.push_str(&format!(
                " ({} of them not tested against {}: {})",
                untested.len(),
                missing.join(", "),
                groups::name_list(&untested, SUMMARY_NAMES)
            ));
        }
        parts.push(part);
    }
    format!("{total} {}: {}", noun(total), parts.join("; "))
}

/// Escapes text for XML and HTML.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn plain_finding(finding: &StepFinding) -> String {
    render_finding(finding, true, false)
}

/// JUnit XML: one test case per step; anything not reproducible fails.
pub fn render_junit(report: &CheckReport) -> String {
    let failures = report.steps.iter().filter(|s| !s.is_clean()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"reprobe check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
        report.steps.len()
    );
    for finding in &report.steps {
        let _ = write!(
            out,
            "  <testcase classname=\"reprobe.check\" name=\"{}\"",
            escape_xml(&finding.name)
        );
        if finding.is_clean() {
            out.push_str("/>\n");
            continue;
        }
        let message = format!("{}: {}", finding.verdict.as_str(), reason_summary(finding));
        let _ = writeln!(
            out,
            ">\n    <failure message=\"{}\" type=\"{}\">{}</failure>\n  </testcase>",
            escape_xml(&message),
            finding.verdict.as_str(),
            escape_xml(&plain_finding(finding))
        );
    }
    out.push_str("</testsuite>\n");
    out
}

/// A short Markdown summary fit for a pull-request comment: the summary, the table of
/// steps for small graphs, then each cause once (folded), with the steps it concerns.
pub fn render_markdown(report: &CheckReport) -> String {
    let mut out = String::from("## reprobe check\n\n");
    let _ = writeln!(out, "**{}**\n", summary_line(report));
    if report.steps.len() <= TABLE_MAX_STEPS {
        out.push_str("| step | verdict | reasons |\n| --- | --- | --- |\n");
        for finding in &report.steps {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                finding.name,
                finding.verdict.as_str(),
                reason_summary(finding).replace('|', "\\|")
            );
        }
    }
    for group in groups::group(report) {
        let names: Vec<&str> = group.steps.iter().map(|f| f.name.as_str()).collect();
        let title = match (group.steps.len(), group.verdict) {
            (1, verdict) => format!("<code>{}</code>: {}", names[0], verdict.as_str()),
            (n, Verdict::Cascade) => format!("{n} cascades"),
            (n, verdict) => format!("{n} steps — {}: {}", verdict.as_str(), group.cause),
        };
        let _ = writeln!(out, "\n<details><summary>{title}</summary>\n");
        if group.steps.len() > 1 {
            let _ = writeln!(out, "Steps: {}\n", names.join(", "));
        }
        out.push_str("```\n");
        if group.verdict == Verdict::Cascade && group.steps.len() > 1 {
            let upstream = group.upstream();
            let _ = writeln!(out, "only inherit differences from {}", upstream.join(", "));
        } else {
            out.push_str(&finding_body(group.first(), false, false));
        }
        out.push_str("```\n</details>\n");
    }
    for (variation, why, steps) in groups::not_applied(report) {
        let _ = writeln!(
            out,
            "\nNot tested against {variation} ({}): {why}",
            steps.join(", ")
        );
    }
    if !report.not_varied.is_empty() {
        let _ = writeln!(out, "\nNot varied: {}", report.not_varied.join(", "));
    }
    out
}

/// A self-contained HTML page (no external assets): the summary, the step graph coloured
/// by verdict, the table of steps, then every finding with its full evidence: all
/// reasons, and the diff report's own page (side-by-side text, byte ranges, metadata
/// fields) embedded for each step's outputs.
pub fn render_html(report: &CheckReport) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>reprobe check</title>\n<style>\
body{font-family:system-ui,sans-serif;margin:2em;max-width:110em}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
.reproducible{color:#070}.cascade{color:#a60}.nondeterministic,.failed,.network,.undeclared{color:#b00}\
pre{background:#f6f6f6;padding:.6em;overflow:auto}code{font-family:ui-monospace,monospace}\
svg .edge{fill:none;stroke:#888;stroke-width:1.2}svg text{font:12px ui-monospace,monospace}\
svg rect{stroke-width:1.5}svg .node rect{fill:#fde0e0;stroke:#b00}\
svg .v-reproducible rect{fill:#e3f5e3;stroke:#070}svg .v-cascade rect{fill:#fff0d0;stroke:#a60}\
iframe.evidence{width:100%;height:32em;border:1px solid #ccc;resize:vertical}\
</style></head><body>\n<h1>reprobe check</h1>\n",
    );
    let _ = writeln!(
        out,
        "<p><strong>{}</strong></p>",
        escape_xml(&summary_line(report))
    );
    let _ = write!(
        out,
        "<p>Varied: {}.",
        escape_xml(&report.variations.join(", "))
    );
    if !report.not_varied.is_empty() {
        let _ = write!(
            out,
            " Not varied: {}.",
            escape_xml(&report.not_varied.join(", "))
        );
    }
    out.push_str("</p>\n");
    let causes = groups::group(report);
    if !causes.is_empty() {
        out.push_str("<h2>Causes</h2>\n<ul>\n");
        for group in &causes {
            let links: Vec<String> = group
                .steps
                .iter()
                .map(|f| format!("<a href=\"#step-{0}\">{0}</a>", escape_xml(&f.name)))
                .collect();
            let cause = if group.cause.is_empty() {
                String::new()
            } else {
                format!(": {}", escape_xml(&group.cause))
            };
            let _ = writeln!(
                out,
                "<li><span class=\"{0}\">{0}</span>{cause} ({1} {2}): {3}</li>",
                group.verdict.as_str(),
                group.steps.len(),
                if group.steps.len() == 1 {
                    "step"
                } else {
                    "steps"
                },
                links.join(", ")
            );
        }
        out.push_str("</ul>\n");
    }
    for note in &report.notes {
        let _ = writeln!(out, "<p>note: {}</p>", escape_xml(note));
    }
    out.push_str("<h2>Step graph</h2>\n");
    out.push_str(&render_step_graph(report));
    out.push_str("<h2>Steps</h2>\n<table><tr><th>step</th><th>verdict</th><th>input hash</th><th>content hashes</th><th>reasons</th></tr>\n");
    for f in &report.steps {
        // Short hashes, the whole one on hover: 64 hex digits per column made the table
        // wider than a window.
        let short = |h: String| format!("<code title=\"{h}\">{}</code>", &h[..h.len().min(12)]);
        let hashes: Vec<String> = f
            .content_hashes
            .iter()
            .map(|h| short(h.to_string()))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#step-{0}\">{0}</a></td><td class=\"{1}\">{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
            escape_xml(&f.name),
            f.verdict.as_str(),
            f.input_hash.map_or(String::new(), |h| short(h.to_string())),
            hashes.join("<br>"),
            escape_xml(&reason_summary(f))
        );
    }
    out.push_str("</table>\n");
    for f in report
        .steps
        .iter()
        .filter(|s| s.verdict != Verdict::Reproducible)
    {
        let _ = writeln!(
            out,
            "<h2 id=\"step-{0}\">{0} <span class=\"{1}\">{1}</span></h2>",
            escape_xml(&f.name),
            f.verdict.as_str()
        );
        let _ = writeln!(out, "<pre>{}</pre>", escape_xml(&plain_finding(f)));
        if let Some(diff) = f.diff.as_ref().filter(|d| !d.is_identical()) {
            out.push_str(&embedded_diff(diff));
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// The diff report's own HTML page for one step's outputs (build 1 against the build
/// that differed), embedded whole with `srcdoc`, so its side-by-side rendering is reused
/// as it is and its styles and anchors stay its own. The frame grows to fit its page.
fn embedded_diff(diff: &crate::diff::DiffReport) -> String {
    let page =
        crate::report::html::render(&crate::report::Report::for_diff("build 1", "build 2", diff));
    format!(
        "<iframe class=\"evidence\" title=\"evidence\" srcdoc=\"{}\" onload=\"try{{this.style.height=(this.contentDocument.documentElement.scrollHeight+20)+'px'}}catch(e){{}}\"></iframe>\n",
        escape_xml(&page)
    )
}

/// Geometry of the step graph's drawing, in pixels.
const NODE_HEIGHT: usize = 26;
const ROW_GAP: usize = 14;
const COLUMN_GAP: usize = 60;
const CHAR_WIDTH: usize = 8;
const LONGEST_LABEL: usize = 32;

/// The step graph as inline SVG: one column per depth (a step sits right of its deepest
/// dep), one box per step coloured by its verdict and linked to its finding, one curve
/// per dependency edge (`data-from` the dep, `data-to` the dependent).
pub fn render_step_graph(report: &CheckReport) -> String {
    let position: std::collections::BTreeMap<&str, usize> = report
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    // Steps are in topological order, so every dep's depth is known before its dependents.
    let mut depth = vec![0usize; report.steps.len()];
    let mut rows_used: Vec<usize> = Vec::new();
    let mut row = vec![0usize; report.steps.len()];
    for (i, step) in report.steps.iter().enumerate() {
        depth[i] = step
            .deps
            .iter()
            .filter_map(|d| position.get(d.as_str()))
            .map(|&p| depth[p] + 1)
            .max()
            .unwrap_or(0);
        if rows_used.len() <= depth[i] {
            rows_used.resize(depth[i] + 1, 0);
        }
        row[i] = rows_used[depth[i]];
        rows_used[depth[i]] += 1;
    }
    let label = |name: &str| -> String {
        if name.chars().count() <= LONGEST_LABEL {
            name.to_string()
        } else {
            format!(
                "{}…",
                name.chars().take(LONGEST_LABEL - 1).collect::<String>()
            )
        }
    };
    let longest = report
        .steps
        .iter()
        .map(|s| label(&s.name).chars().count())
        .max()
        .unwrap_or(1);
    let node_width = longest * CHAR_WIDTH + 16;
    let x = |i: usize| 10 + depth[i] * (node_width + COLUMN_GAP);
    let y = |i: usize| 10 + row[i] * (NODE_HEIGHT + ROW_GAP);
    let width = 20 + rows_used.len() * (node_width + COLUMN_GAP);
    let height = 20 + rows_used.iter().max().copied().unwrap_or(1) * (NODE_HEIGHT + ROW_GAP);
    let mut out = format!(
        "<svg class=\"step-graph\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"step graph\">\n<defs><marker id=\"arrow\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L8 4L0 8z\" fill=\"#888\"/></marker></defs>\n"
    );
    // Edges are drawn after the boxes, so that one passing a box stays visible, and end
    // in an arrowhead at the dependent step.
    let mut edges = String::new();
    for (i, step) in report.steps.iter().enumerate() {
        for dep in &step.deps {
            let Some(&d) = position.get(dep.as_str()) else {
                continue;
            };
            let (x1, y1) = (x(d) + node_width, y(d) + NODE_HEIGHT / 2);
            let (x2, y2) = (x(i), y(i) + NODE_HEIGHT / 2);
            let middle = (x1 + x2) / 2;
            let _ = writeln!(
                edges,
                "<path class=\"edge\" marker-end=\"url(#arrow)\" data-from=\"{0}\" data-to=\"{1}\" d=\"M{x1} {y1} C{middle} {y1} {middle} {y2} {x2} {y2}\"><title>{0} → {1}</title></path>",
                escape_xml(dep),
                escape_xml(&step.name)
            );
        }
    }
    for (i, step) in report.steps.iter().enumerate() {
        let verdict = step.verdict.as_str();
        // Only steps with findings have a section to link to.
        let (open, close) = if step.verdict == Verdict::Reproducible {
            (String::new(), "")
        } else {
            (
                format!("<a href=\"#step-{}\">", escape_xml(&step.name)),
                "</a>",
            )
        };
        let _ = writeln!(
            out,
            "{open}<g class=\"node v-{1}\" data-step=\"{0}\"><title>{0}: {1}</title><rect x=\"{2}\" y=\"{3}\" width=\"{node_width}\" height=\"{NODE_HEIGHT}\" rx=\"4\"/><text x=\"{4}\" y=\"{5}\">{6}</text></g>{close}",
            escape_xml(&step.name),
            verdict,
            x(i),
            y(i),
            x(i) + 8,
            y(i) + NODE_HEIGHT / 2 + 4,
            escape_xml(&label(&step.name))
        );
    }
    out.push_str(&edges);
    out.push_str("</svg>\n<p>Green: reproducible; amber: cascade; red: nondeterministic, failed, network or undeclared. Hover a box for its verdict; click it for the evidence.</p>\n");
    out
}
