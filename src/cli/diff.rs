//! `reprobe diff A B`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::diff::{diff_paths, DiffError, DiffOptions, KnownValues, TimeWindow};
use crate::model::error::Exit;
use crate::report::diff::{html, markdown, terminal, Report};

/// Flags of `reprobe diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// First file, directory or archive.
    pub a: PathBuf,
    /// Second file, directory or archive.
    pub b: PathBuf,
    /// Print the `reprobe/report/1` JSON report on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML report with side-by-side diffs to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write a short Markdown summary to FILE.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// A value known to differ, as NAME=A,B: build_path, hostname, user, timezone,
    /// locale, or clock=START..END,START..END (unix seconds or RFC 3339). Repeatable.
    #[arg(long, value_name = "NAME=A,B")]
    pub known: Vec<String>,
    /// Deepest nesting of archives that is opened.
    #[arg(long, default_value_t = 8)]
    pub max_depth: usize,
    /// Most bytes that decompression may produce in total (default 4 GiB).
    #[arg(long, default_value_t = 4 << 30, value_name = "BYTES")]
    pub max_expanded_bytes: u64,
    /// Largest expansion ratio of one compressed stream or zip entry.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_ratio: u64,
    /// Most bytes of content held in memory at once, as bytes or with K, M, G (binary
    /// units). Larger content is compared as two streams, in place, and explained in
    /// windows around its first differences; what was not compared is noted
    /// "not compared: budget (memory)".
    #[arg(long, default_value = "256M", value_name = "SIZE", value_parser = crate::diff::budget::parse_size)]
    pub max_memory: u64,
    /// Longest decompression and explanation may take, in seconds; one item's
    /// explanation may take a third of it. Items left when time runs out are still
    /// compared byte for byte and found to differ, but not explained: "not compared:
    /// budget (time)".
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub max_time: u64,
    /// Show all evidence, not only the start of each item's.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print nothing: the exit code says whether A and B differ (reports and `--json`
    /// are still written when asked for).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `reprobe diff`: 0 when identical, 1 when different, 2 on bad input.
pub fn run(args: DiffArgs) -> anyhow::Result<Exit> {
    let known = parse_known(&args.known)?;
    let opts = DiffOptions {
        known,
        max_depth: args.max_depth,
        max_expanded_bytes: args.max_expanded_bytes,
        max_ratio: args.max_ratio,
        max_memory: args.max_memory,
        max_time: std::time::Duration::from_secs(args.max_time),
        ..DiffOptions::default()
    };
    let diff = match diff_paths(&args.a, &args.b, &opts) {
        Ok(d) => d,
        Err(err @ (DiffError::NotFound { .. } | DiffError::Io { .. })) => bail!(err),
    };
    let report = Report::for_diff(&show(&args.a), &show(&args.b), &diff);
    if let Some(path) = &args.html {
        write_file(path, &html::render(&report))?;
    }
    if let Some(path) = &args.markdown {
        write_file(path, &markdown::render(&report))?;
    }
    if args.json || !args.quiet {
        match print(&report, args.json, args.verbose) {
            Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => return Err(err.into()),
            _ => {}
        }
    }
    Ok(if diff.is_identical() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

/// Prints the report on stdout: JSON or the terminal view.
fn print(report: &Report, json: bool, verbose: bool) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        out.write_all(report.to_json().as_bytes())?;
    } else {
        terminal::render(report, &mut out, super::colour_enabled(), verbose)?;
    }
    out.flush()
}

fn show(p: &Path) -> String {
    crate::diff::escape_bytes(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("{}: cannot write report", path.display()))
}

/// Parses `--known NAME=A,B` flags into [`KnownValues`].
pub fn parse_known(flags: &[String]) -> anyhow::Result<KnownValues> {
    let mut known = KnownValues::default();
    for flag in flags {
        let Some((name, values)) = flag.split_once('=') else {
            bail!("--known {flag}: expected NAME=A,B");
        };
        let Some((a, b)) = values.split_once(',') else {
            bail!("--known {flag}: expected two values separated by a comma");
        };
        let pair = Some((a.to_string(), b.to_string()));
        match name {
            "build_path" => known.build_path = pair,
            "hostname" => known.hostname = pair,
            "user" => known.user = pair,
            "timezone" => known.timezone = pair,
            "locale" => known.locale = pair,
            "clock" => known.clock = Some((window(a, flag)?, window(b, flag)?)),
            other => bail!(
                "--known {flag}: unknown name {other:?} (build_path, hostname, user, timezone, locale, clock)"
            ),
        }
    }
    Ok(known)
}

fn window(s: &str, flag: &str) -> anyhow::Result<TimeWindow> {
    let Some((start, end)) = s.split_once("..") else {
        bail!("--known {flag}: a clock window is START..END");
    };
    let (start, end) = (instant(start, flag)?, instant(end, flag)?);
    if end < start {
        bail!("--known {flag}: window ends before it starts");
    }
    Ok(TimeWindow { start, end })
}

fn instant(s: &str, flag: &str) -> anyhow::Result<i64> {
    if let Ok(n) = s.trim().parse::<i64>() {
        return Ok(n);
    }
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp())
        .with_context(|| format!("--known {flag}: {s:?} is neither unix seconds nor RFC 3339"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_flags_parse() {
        let k = parse_known(&[
            "build_path=/a/x,/b/yy".into(),
            "clock=10..20,1970-01-01T00:01:00Z..100".into(),
        ])
        .unwrap();
        assert_eq!(k.build_path, Some(("/a/x".into(), "/b/yy".into())));
        let (wa, wb) = k.clock.unwrap();
        assert_eq!((wa.start, wa.end, wb.start, wb.end), (10, 20, 60, 100));
    }

    #[test]
    fn bad_known_flags_are_errors() {
        assert!(parse_known(&["nope=a,b".into()]).is_err());
        assert!(parse_known(&["user=a".into()]).is_err());
        assert!(parse_known(&["clock=1..2".into()]).is_err());
    }
}
