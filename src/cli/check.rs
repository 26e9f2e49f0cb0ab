//! `reprobe check`: build twice in varied sandboxes, judge every step, gate CI.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::table::{colour_enabled, paint, Colour, Table};
use super::{open_store, CommonArgs, Interrupt};
use crate::check::{self, CheckContext, CheckOptions, CheckReport, StepFinding, Verdict};
use crate::error::Exit;
use crate::exec::BuildError;
use crate::sandbox::Sandbox;
use crate::variation;

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
    if args.rounds < 2 {
        eprintln!("reprobe: error: --rounds must be at least 2 (one build cannot be compared)");
        return Ok(Exit::BadInput);
    }
    Sandbox::check_support().map_err(anyhow::Error::from)?;
    let cx = CheckContext {
        store: Arc::new(open_store(&args.common, &graph)?),
        sandbox: Arc::new(Sandbox::new().context("cannot start the sandbox")?),
        graph,
    };
    let options = CheckOptions {
        rounds: args.rounds,
        variations,
        jobs: args.common.jobs(),
        bisect: !args.no_bisect,
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
        eprintln!(
            "reprobe: checking {} steps with {} builds; varying: {}",
            cx.graph.steps.len(),
            options.rounds,
            options
                .variations
                .iter()
                .map(|v| v.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let report = match check::check(&cx, &options, interrupt.flag()) {
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

/// The terminal report: a row per step, then the evidence of each finding.
pub fn render_terminal(report: &CheckReport, verbose: bool) -> String {
    let colour = colour_enabled();
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
    let mut out = table.render();
    for finding in report
        .steps
        .iter()
        .filter(|f| f.verdict != Verdict::Reproducible)
    {
        out.push('\n');
        out.push_str(&render_finding(finding, verbose, colour));
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

fn render_finding(finding: &StepFinding, verbose: bool, colour: bool) -> String {
    let mut out = String::new();
    let title = format!("{} — {}", finding.name, finding.verdict.as_str());
    let _ = writeln!(out, "{}", paint(&title, Colour::Bold, colour));
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
    out
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= 60 {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(60).collect::<String>())
    }
}

/// "2 of 7 steps are not reproducible: ..." with root causes first.
pub fn summary_line(report: &CheckReport) -> String {
    let bad = report
        .steps
        .iter()
        .filter(|s| s.verdict != Verdict::Reproducible)
        .count();
    if bad == 0 {
        return format!("all {} steps are reproducible", report.steps.len());
    }
    let roots = report.root_causes();
    let cascades = report
        .steps
        .iter()
        .filter(|s| s.verdict == Verdict::Cascade)
        .count();
    let mut text = format!("{bad} of {} steps are not reproducible", report.steps.len());
    if !roots.is_empty() {
        let _ = write!(text, "; root causes: {}", roots.join(", "));
    }
    // Steps that failed themselves; those that only did not run because a dep failed
    // name it in `cascade_of` and are counted, not listed.
    let failed = |s: &&StepFinding| s.verdict == Verdict::Failed;
    let names = |keep: &dyn Fn(&&StepFinding) -> bool| -> Vec<&str> {
        report
            .steps
            .iter()
            .filter(|s| keep(s))
            .map(|s| s.name.as_str())
            .collect()
    };
    let own_failures = names(&|s| failed(s) && s.cascade_of.is_empty());
    if !own_failures.is_empty() {
        let _ = write!(text, "; failed: {}", own_failures.join(", "));
    }
    for verdict in [Verdict::Network, Verdict::Undeclared] {
        let found = names(&|s| s.verdict == verdict);
        if !found.is_empty() {
            let _ = write!(text, "; {}: {}", verdict.as_str(), found.join(", "));
        }
    }
    if cascades > 0 {
        let _ = write!(
            text,
            "; {cascades} cascade(s) only inherit their differences"
        );
    }
    let not_run = names(&|s| failed(s) && !s.cascade_of.is_empty()).len();
    if not_run > 0 {
        let _ = write!(text, "; {not_run} step(s) not run because a dep failed");
    }
    text
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
    let failures = report
        .steps
        .iter()
        .filter(|s| s.verdict != Verdict::Reproducible)
        .count();
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
        if finding.verdict == Verdict::Reproducible {
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

/// A short Markdown summary fit for a pull-request comment.
pub fn render_markdown(report: &CheckReport) -> String {
    let mut out = String::from("## reprobe check\n\n");
    let _ = writeln!(out, "**{}**\n", summary_line(report));
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
    for finding in report
        .steps
        .iter()
        .filter(|s| s.verdict != Verdict::Reproducible)
    {
        let _ = writeln!(
            out,
            "\n<details><summary><code>{}</code>: {}</summary>\n\n```",
            finding.name,
            finding.verdict.as_str()
        );
        out.push_str(&render_finding(finding, false, false));
        out.push_str("```\n</details>\n");
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
    let _ = writeln!(
        out,
        "<p>Varied: {}. Not varied: {}.</p>",
        escape_xml(&report.variations.join(", ")),
        escape_xml(&report.not_varied.join(", "))
    );
    for note in &report.notes {
        let _ = writeln!(out, "<p>note: {}</p>", escape_xml(note));
    }
    out.push_str("<h2>Step graph</h2>\n");
    out.push_str(&render_step_graph(report));
    out.push_str("<h2>Steps</h2>\n<table><tr><th>step</th><th>verdict</th><th>input hash</th><th>content hashes</th><th>reasons</th></tr>\n");
    for f in &report.steps {
        let hashes: Vec<String> = f.content_hashes.iter().map(|h| h.to_string()).collect();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#step-{0}\">{0}</a></td><td class=\"{1}\">{1}</td><td><code>{2}</code></td><td><code>{3}</code></td><td>{4}</td></tr>",
            escape_xml(&f.name),
            f.verdict.as_str(),
            f.input_hash.map_or(String::new(), |h| h.to_string()),
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
        "<svg class=\"step-graph\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"step graph\">\n"
    );
    for (i, step) in report.steps.iter().enumerate() {
        for dep in &step.deps {
            let Some(&d) = position.get(dep.as_str()) else {
                continue;
            };
            let (x1, y1) = (x(d) + node_width, y(d) + NODE_HEIGHT / 2);
            let (x2, y2) = (x(i), y(i) + NODE_HEIGHT / 2);
            let middle = (x1 + x2) / 2;
            let _ = writeln!(
                out,
                "<path class=\"edge\" data-from=\"{0}\" data-to=\"{1}\" d=\"M{x1} {y1} C{middle} {y1} {middle} {y2} {x2} {y2}\"><title>{0} → {1}</title></path>",
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
    out.push_str("</svg>\n<p>Green: reproducible; amber: cascade; red: nondeterministic, failed, network or undeclared. Hover a box for its verdict; click it for the evidence.</p>\n");
    out
}
