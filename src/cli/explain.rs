//! `reprobe explain [OLD] [NEW]`: why steps of NEW missed the cache of OLD.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::table::{colour_enabled, paint, Colour, Table};
use super::CommonArgs;
use crate::engine::explain::changes::InputChange;
use crate::engine::explain::content::{plural, BlobSource, ContentDiff, WordOp, WordSegment};
use crate::engine::explain::history::{self, LoadedBuild};
use crate::engine::explain::step_tree::StepTree;
use crate::engine::explain::{
    self, BuildRef, Cascade, CascadeIndex, ExplainOptions, ExplainReport, RootCause,
};
use crate::model::error::Exit;
use crate::model::graph;
use crate::store::Store;

mod pages;

/// Flags of `reprobe explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The older build: a manifest file or a build id (or a unique prefix) in the store
    /// [default: the second-to-last build of the graph]
    pub old: Option<String>,
    /// The newer build [default: the last build of the graph]
    pub new: Option<String>,
    /// The graph file, or a directory holding reprobe.toml, whose builds to compare
    /// [default: ./reprobe.toml]
    #[arg(long, value_name = "GRAPH")]
    pub graph: Option<PathBuf>,
    /// Show the full input tree of STEP in both builds, equal or not.
    #[arg(long, value_name = "STEP")]
    pub step: Option<String>,
    /// Most lines shown of each input file's diff.
    #[arg(long, default_value_t = 40, value_name = "N")]
    pub diff_lines: usize,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Markdown summary.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `reprobe explain`: 0 when explained (whatever changed), 2 on bad input.
pub fn run(mut args: ExplainArgs) -> anyhow::Result<Exit> {
    take_positional_graph(&mut args);
    let graph_file = graph::resolve_graph_path(args.graph.as_deref());
    let store = find_existing_store(&args.common, &graph_file)?;
    let (old, new) = pick_builds(&args, store.as_ref(), &graph_file)?;
    let blobs = BlobSource::new(store.into_iter().collect());
    let options = ExplainOptions {
        step: args.step.clone(),
        max_diff_lines: args.diff_lines.max(1),
    };
    let report = explain::explain(
        &build_ref(&old),
        &old.manifest,
        &build_ref(&new),
        &new.manifest,
        &blobs,
        &options,
    )?;
    write_reports(&args, &report)?;
    print(&args, &report)?;
    Ok(Exit::Ok)
}

fn build_ref(build: &LoadedBuild) -> BuildRef {
    BuildRef::of(&build.manifest, &build.path.display().to_string())
}

/// The store: `--store` (it must exist), else `.reprobe/` beside the graph if present.
/// Never creates one: explain only reads.
pub fn find_existing_store(
    common: &CommonArgs,
    graph_file: &Path,
) -> anyhow::Result<Option<Store>> {
    if let Some(dir) = &common.store {
        if !dir.join("builds").is_dir() {
            bail!(
                "--store {}: not a reprobe store (no builds/ in it)",
                dir.display()
            );
        }
        return Ok(Some(Store::open_explicit(dir)?));
    }
    let dir = default_store_dir(graph_file);
    if dir.join("builds").is_dir() {
        return Ok(Some(Store::open(&dir)?));
    }
    Ok(None)
}

/// `reprobe explain DIR` (or a graph file), as `reprobe build DIR` takes it: a lone
/// positional argument that names a directory or a graph file (and no build) is the
/// graph, not the older build.
fn take_positional_graph(args: &mut ExplainArgs) {
    if args.graph.is_some() || args.new.is_some() {
        return;
    }
    let Some(first) = args.old.as_deref() else {
        return;
    };
    let path = Path::new(first);
    let graph_like = path.is_dir()
        || (path.is_file() && [".toml", ".ninja"].iter().any(|ext| first.ends_with(ext)));
    if graph_like {
        args.graph = args.old.take().map(PathBuf::from);
    }
}

/// Where the graph's store is by default: `.reprobe/` beside the graph file, or, for a
/// Ninja file (`build --ninja`), beside the root its import chooses.
fn default_store_dir(graph_file: &Path) -> PathBuf {
    if graph_file.extension().is_some_and(|e| e == "ninja") {
        let options = crate::sources::ninja::import::ImportOptions::default();
        if let Ok(imported) = crate::sources::ninja::import::import(graph_file, &options) {
            return imported.root.join(".reprobe");
        }
    }
    let root = graph_file.parent().filter(|p| !p.as_os_str().is_empty());
    root.unwrap_or(Path::new(".")).join(".reprobe")
}

/// OLD and NEW from the arguments, or the last builds of the graph.
fn pick_builds(
    args: &ExplainArgs,
    store: Option<&Store>,
    graph_file: &Path,
) -> anyhow::Result<(LoadedBuild, LoadedBuild)> {
    let graph = history::GraphKey::of_file(graph_file);
    let need_store = || {
        store.with_context(|| {
            format!(
                "no store beside {} (.reprobe/ with recorded builds): run `reprobe build` there twice, pass --store DIR, or pass two manifests (reprobe explain OLD.json NEW.json)",
                graph_file.display()
            )
        })
    };
    match (&args.old, &args.new) {
        (Some(old), Some(new)) => {
            Ok((history::resolve(old, store)?, history::resolve(new, store)?))
        }
        (Some(old), None) => {
            let old = history::resolve(old, store)?;
            let mut latest =
                history::latest_builds(need_store()?, &graph, 1, Some(&old.manifest.id))?;
            Ok((old, latest.remove(0)))
        }
        (None, _) => {
            let mut pair = history::latest_builds(need_store()?, &graph, 2, None)?;
            let new = pair.remove(1);
            Ok((pair.remove(0), new))
        }
    }
}

fn write_reports(args: &ExplainArgs, report: &ExplainReport) -> anyhow::Result<()> {
    if let Some(path) = &args.html {
        write_file(path, &pages::html(report))?;
    }
    if let Some(path) = &args.markdown {
        write_file(path, &pages::markdown(report))?;
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("{}: cannot write report", path.display()))
}

fn print(args: &ExplainArgs, report: &ExplainReport) -> anyhow::Result<()> {
    let text = if args.common.json {
        report.to_json()
    } else if args.common.quiet {
        report.summary.iter().map(|l| format!("{l}\n")).collect()
    } else {
        render(report, colour_enabled(), args.common.verbose)
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}

/// Most cascade names listed under a root cause without `-v`.
const FOLDED_NAMES: usize = 10;

/// The terminal view: summary, root causes with their changes and folded cascades,
/// nondeterministic steps, the caching-model table, and the `--step` tree.
pub fn render(report: &ExplainReport, colour: bool, verbose: bool) -> String {
    let mut out = String::new();
    out.push_str(&paint(
        &format!("OLD {} -> NEW {}", report.old.id, report.new.id),
        Colour::Dim,
        colour,
    ));
    out.push('\n');
    for (i, line) in report.summary.iter().enumerate() {
        let hue = if i == 0 { Colour::Bold } else { Colour::Yellow };
        out.push_str(&paint(line, hue, colour));
        out.push('\n');
    }
    let index = report.cascade_index();
    render_roots(report, &index, colour, verbose, &mut out);
    render_nondeterministic(report, &index, colour, &mut out);
    if verbose {
        render_cascades(report, &mut out);
    }
    if !report.is_empty() {
        render_models(report, &mut out);
    }
    if let Some(tree) = &report.step {
        render_tree(tree, colour, &mut out);
    }
    out
}

fn section(title: &str, colour: bool, out: &mut String) {
    out.push('\n');
    out.push_str(&paint(title, Colour::Bold, colour));
    out.push('\n');
}

fn render_roots(
    report: &ExplainReport,
    index: &CascadeIndex,
    colour: bool,
    verbose: bool,
    out: &mut String,
) {
    if report.root_causes.is_empty() {
        return;
    }
    section("root causes (the step's own inputs changed)", colour, out);
    for root in &report.root_causes {
        render_root(index, root, colour, verbose, out);
    }
}

fn render_root(
    index: &CascadeIndex,
    root: &RootCause,
    colour: bool,
    verbose: bool,
    out: &mut String,
) {
    out.push_str(&format!(
        "  {}  ({}, input {} -> {})\n",
        paint(&root.step, Colour::Bold, colour),
        status_word(root.status),
        short(root.old_input_hash.map(|h| h.short())),
        short(root.new_input_hash.map(|h| h.short())),
    ));
    for change in &root.changes {
        for line in change_lines(change, colour) {
            out.push_str(&format!("    {line}\n"));
        }
    }
    if root.output_unchanged {
        out.push_str(
            "    = same output as before: early cutoff, nothing below it rebuilt for this\n",
        );
    }
    out.push_str(&folded(index.of(&root.step), verbose));
}

fn folded(followers: &[&Cascade], verbose: bool) -> String {
    if followers.is_empty() {
        return String::new();
    }
    let shown = if verbose {
        followers.len()
    } else {
        FOLDED_NAMES
    };
    let mut names = followers
        .iter()
        .take(shown)
        .map(|c| c.step.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if followers.len() > shown {
        names.push_str(&format!(
            " and {} more (-v lists them)",
            followers.len() - shown
        ));
    }
    format!(
        "    followed by {}: {names}\n",
        plural(followers.len(), "cascade")
    )
}

fn status_word(status: crate::model::manifest::StepStatus) -> &'static str {
    use crate::model::manifest::StepStatus::*;
    match status {
        Ran => "rebuilt",
        Cached => "cache hit from an earlier build",
        Failed => "failed",
        Skipped => "skipped",
    }
}

fn short(hash: Option<String>) -> String {
    hash.unwrap_or_else(|| "-".into())
}

/// A change as lines for people: one headline line, then any diff.
pub fn change_lines(change: &InputChange, colour: bool) -> Vec<String> {
    use InputChange::*;
    let mut lines = vec![format!(
        "{} {}",
        marker(change),
        change_text(change, colour)
    )];
    if let FileModified {
        content: ContentDiff::Text {
            unified, truncated, ..
        },
        ..
    } = change
    {
        lines.extend(
            unified
                .lines()
                .map(|l| format!("    {}", diff_line(l, colour))),
        );
        if *truncated {
            lines.push("    ... (diff cut; --diff-lines N shows more)".into());
        }
    }
    lines
}

fn marker(change: &InputChange) -> &'static str {
    use InputChange::*;
    match change {
        EnvAdded { .. } | FileAdded { .. } | ToolAdded { .. } | DepAdded { .. } => "+",
        EnvRemoved { .. } | FileRemoved { .. } | ToolRemoved { .. } | DepRemoved { .. } => "-",
        _ => "~",
    }
}

/// The one-line description of a change, with hashes and values.
fn change_text(change: &InputChange, colour: bool) -> String {
    use InputChange::*;
    match change {
        Command { words, .. } => format!("command: {}", words_text(words, colour)),
        EnvAdded { name, value } => format!("env {name}={value}"),
        EnvRemoved { name, value } => format!("env {name} (was {value})"),
        EnvChanged { name, old, new } => format!("env {name}: {old} -> {new}"),
        FileAdded {
            path, sha256, size, ..
        } => format!("input {path} ({size} bytes, {})", sha256.short()),
        FileRemoved {
            path, sha256, size, ..
        } => format!("input {path} ({size} bytes, {})", sha256.short()),
        FileRenamed { from, to, .. } => format!("input renamed: {from} -> {to} (same content)"),
        FileModified {
            path,
            old_sha256,
            new_sha256,
            old_size,
            new_size,
            content,
        } => format!(
            "{path}: {} ({} -> {}, {old_size} -> {new_size} bytes)",
            content.phrase(),
            old_sha256.short(),
            new_sha256.short()
        ),
        ExecutableBit { path, old, new } => format!("{path}: executable {old} -> {new}"),
        ToolAdded { name, path, sha256 } => format!("tool {name}: {path} {}", sha256.short()),
        ToolRemoved { name, path, sha256 } => format!("tool {name}: {path} {}", sha256.short()),
        ToolChanged {
            name,
            old_path,
            new_path,
            old_sha256,
            new_sha256,
        } => format!(
            "tool {name}: {old_path} {} -> {new_path} {}",
            old_sha256.short(),
            new_sha256.short()
        ),
        ToolsReordered { old, new } => {
            format!("tools reordered: {} -> {}", old.join(" "), new.join(" "))
        }
        DepAdded { step } => format!("dep {step} added"),
        DepRemoved { step } => format!("dep {step} removed"),
        DepContent { step, old, new } => {
            format!("dep {step}: output {} -> {}", old.short(), new.short())
        }
        FixedOutput { old, new } => format!(
            "declared output sha256: {} -> {}",
            short(old.map(|h| h.short())),
            short(new.map(|h| h.short()))
        ),
        other => other.headline(),
    }
}

/// A word diff for people: a replaced run as `[old -> new]`, a removed run as
/// `[removed: old]`, an added one as `[added: new]`; coloured on a terminal.
pub fn words_text(words: &[WordSegment], colour: bool) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let next = words.get(i + 1);
        let replaced = w.op == WordOp::Delete && next.is_some_and(|n| n.op == WordOp::Insert);
        parts.push(match w.op {
            WordOp::Equal => w.text.clone(),
            WordOp::Delete if replaced => {
                i += 1;
                let new = next.map_or("", |n| n.text.as_str());
                format!(
                    "[{} -> {}]",
                    paint(&w.text, Colour::Red, colour),
                    paint(new, Colour::Green, colour)
                )
            }
            WordOp::Delete => format!("[removed: {}]", paint(&w.text, Colour::Red, colour)),
            WordOp::Insert => format!("[added: {}]", paint(&w.text, Colour::Green, colour)),
        });
        i += 1;
    }
    parts.join(" ")
}

fn diff_line(line: &str, colour: bool) -> String {
    let hue = match line.as_bytes().first() {
        Some(b'+') if !line.starts_with("+++") => Colour::Green,
        Some(b'-') if !line.starts_with("---") => Colour::Red,
        Some(b'@') => Colour::Dim,
        _ => return line.to_string(),
    };
    paint(line, hue, colour)
}

fn render_nondeterministic(
    report: &ExplainReport,
    index: &CascadeIndex,
    colour: bool,
    out: &mut String,
) {
    if report.nondeterministic.is_empty() {
        return;
    }
    section(
        "nondeterministic (same input hash, different output)",
        colour,
        out,
    );
    for n in &report.nondeterministic {
        out.push_str(&format!(
            "  {}  output {} -> {}\n",
            paint(&n.step, Colour::Bold, colour),
            n.old_content_hash.short(),
            n.new_content_hash.short()
        ));
        out.push_str(&folded(index.of(&n.step), false));
    }
}

fn render_cascades(report: &ExplainReport, out: &mut String) {
    if report.cascades.is_empty() {
        return;
    }
    out.push_str("\ncascades (only a dep's output changed)\n");
    for c in &report.cascades {
        let deps: Vec<String> = c
            .deps_changed
            .iter()
            .filter_map(|d| match d {
                InputChange::DepContent { step, .. } => Some(step.clone()),
                _ => None,
            })
            .collect();
        let cutoff = if c.output_unchanged {
            ", same output: early cutoff"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {}  (deps changed: {}; from {}{cutoff})\n",
            c.step,
            deps.join(", "),
            c.caused_by.join(", ")
        ));
    }
}

fn render_models(report: &ExplainReport, out: &mut String) {
    out.push_str("\ncaching models: what this change rebuilds under each\n");
    let mut table = Table::new(&["MODEL", "USED BY", "REBUILDS", "TIME"]);
    for row in &report.models {
        let star = if row.reprobe { " *" } else { "" };
        table.row(vec![
            format!("{}{star}", row.title),
            row.used_by.to_string(),
            format!("{}/{}", row.steps, row.total_steps),
            seconds(row.time_ms),
        ]);
    }
    out.push_str(&table.render());
    out.push_str(&format!("* {}\n", report.reprobe_model));
    out.push_str(&format!(
        "this build ran {} ({}); recorded durations are those of each step's last run\n",
        plural(report.ran.steps, "step"),
        seconds(report.ran.time_ms)
    ));
}

/// Milliseconds as seconds for people.
pub fn seconds(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

fn render_tree(tree: &StepTree, colour: bool, out: &mut String) {
    section(
        &format!("input tree of {} (what its key covers)", tree.step),
        colour,
        out,
    );
    out.push_str(&format!(
        "  input hash: {} -> {}\n",
        short(tree.old_input_hash.map(|h| h.to_string())),
        short(tree.new_input_hash.map(|h| h.to_string()))
    ));
    for line in &tree.lines {
        let name = format!("{:?}", line.section).to_lowercase();
        let label = if line.key.is_empty() {
            name
        } else {
            format!("{name} {}", line.key)
        };
        let text = match (&line.old, &line.new) {
            _ if line.same => format!("  = {label}: {}", line.new.as_deref().unwrap_or("")),
            (Some(a), Some(b)) => {
                paint(&format!("  ~ {label}: {a} -> {b}"), Colour::Yellow, colour)
            }
            (None, Some(b)) => paint(&format!("  + {label}: {b}"), Colour::Green, colour),
            (Some(a), None) => paint(&format!("  - {label}: {a}"), Colour::Red, colour),
            (None, None) => continue,
        };
        out.push_str(&text);
        out.push('\n');
    }
    out.push_str("  not covered by the key:\n");
    for item in &tree.not_covered {
        out.push_str(&format!("    - {item}\n"));
    }
    for finding in &tree.findings {
        out.push_str(&format!("  sandbox finding: {finding}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::explain::tests::{graph, run_with, simulate};

    /// b's command changes a word and gains an env var; its tree is asked for.
    fn report() -> ExplainReport {
        let mut g = graph();
        g[1].command = "make -O2 b".into();
        let old = simulate(&g, "1");
        g[1].command = "make -O1 b".into();
        g[1].env.insert("DEBUG".into(), "1".into());
        let options = ExplainOptions {
            step: Some("b".into()),
            ..ExplainOptions::default()
        };
        run_with(&old, &simulate(&g, "2"), &options)
    }

    fn without_ansi(text: &str) -> String {
        regex::Regex::new("\x1b\\[[0-9;]*m")
            .expect("regex")
            .replace_all(text, "")
            .into_owned()
    }

    #[test]
    fn colour_on_paints_the_changes_and_colour_off_prints_the_same_text_plain() {
        let report = report();
        let on = render(&report, true, false);
        let off = render(&report, false, false);
        // The replaced word: old in red, new in green; the tree's added env var in green.
        assert!(
            on.contains("[\x1b[31m-O2\x1b[0m -> \x1b[32m-O1\x1b[0m]"),
            "{on}"
        );
        assert!(on.contains("\x1b[32m  + env DEBUG: 1\x1b[0m"), "{on}");
        assert!(!off.contains('\x1b'), "{off}");
        assert!(off.contains("[-O2 -> -O1]") && off.contains("  + env DEBUG: 1"));
        assert_eq!(without_ansi(&on), off);
    }
}
