//! The terminal view: a summary table, then the evidence of each item. Colour only when
//! asked for (the caller checks for a terminal and `NO_COLOR`).

use std::io::{self, Write};

use super::{reason_words, Report};
use crate::diff::{DiffItem, Reason};

/// Lines of a unified diff shown per item without `-v`.
const SHORT_DIFF: usize = 40;
/// Metadata fields shown per item without `-v`.
const SHORT_FIELDS: usize = 10;
/// Byte ranges shown per item without `-v`.
const SHORT_RANGES: usize = 2;

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Writes the terminal view of a `diff` report.
pub fn render(report: &Report, w: &mut dyn Write, colour: bool, verbose: bool) -> io::Result<()> {
    let paint = Paint { on: colour };
    let items = report.diff_items();
    if items.is_empty() {
        return writeln!(w, "{}", paint.wrap("32", "identical"));
    }
    table(items, w, &paint)?;
    for item in items {
        writeln!(w)?;
        item_details(item, w, &paint, verbose)?;
    }
    writeln!(w)?;
    writeln!(w, "{} differing item(s)", items.len())
}

fn table(items: &[DiffItem], w: &mut dyn Write, paint: &Paint) -> io::Result<()> {
    let width = items
        .iter()
        .map(|i| i.path.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 70);
    writeln!(
        w,
        "{}",
        paint.wrap(
            "1",
            &format!(
                "{:<width$}  {:<9}  {:<8}  REASONS",
                "PATH", "KIND", "CHANGE"
            )
        )
    )?;
    for item in items {
        let path = cut(&item.path, width);
        writeln!(
            w,
            "{:<width$}  {:<9}  {:<8}  {}",
            path,
            item.kind.as_str(),
            item.change.as_str(),
            paint.wrap("33", &reason_words(item))
        )?;
    }
    Ok(())
}

fn cut(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        s.to_string()
    } else {
        format!("…{}", s.chars().skip(n - width + 1).collect::<String>())
    }
}

fn item_details(
    item: &DiffItem,
    w: &mut dyn Write,
    paint: &Paint,
    verbose: bool,
) -> io::Result<()> {
    let title = format!(
        "== {} ({}, {})",
        item.path,
        item.kind.as_str(),
        item.change.as_str()
    );
    writeln!(w, "{}", paint.wrap("1;36", &title))?;
    for r in &item.reasons {
        writeln!(w, "  {}", reason_line(r, paint))?;
    }
    let ev = &item.evidence;
    let fields = if verbose {
        ev.metadata.len()
    } else {
        SHORT_FIELDS
    };
    for f in ev.metadata.iter().take(fields) {
        let member = f
            .member
            .as_deref()
            .map(|m| format!("{m}: "))
            .unwrap_or_default();
        writeln!(
            w,
            "  {member}{}: {} -> {}",
            f.field,
            paint.wrap("31", &f.a),
            paint.wrap("32", &f.b)
        )?;
    }
    if ev.metadata.len() > fields {
        writeln!(
            w,
            "  … {} more fields (-v shows all)",
            ev.metadata.len() - fields
        )?;
    }
    if let Some(diff) = &ev.unified_diff {
        unified(diff, w, paint, verbose)?;
    }
    let ranges = if verbose {
        ev.byte_ranges.len()
    } else {
        SHORT_RANGES
    };
    for r in ev.byte_ranges.iter().take(ranges) {
        writeln!(
            w,
            "  bytes a@0x{:x}+{} / b@0x{:x}+{}:",
            r.offset_a, r.len_a, r.offset_b, r.len_b
        )?;
        for line in r.hex_a.lines() {
            writeln!(w, "  {} {line}", paint.wrap("31", "a"))?;
        }
        for line in r.hex_b.lines() {
            writeln!(w, "  {} {line}", paint.wrap("32", "b"))?;
        }
    }
    for note in &ev.notes {
        writeln!(w, "  note: {note}")?;
    }
    Ok(())
}

fn reason_line(r: &Reason, paint: &Paint) -> String {
    let mut s = paint.wrap("33", r.kind.as_str());
    let mut place = Vec::new();
    if let Some(c) = &r.context {
        place.push(c.clone());
    }
    if let Some(l) = r.line {
        place.push(format!("line {l}"));
    }
    if let Some(o) = r.offset {
        place.push(format!("offset 0x{o:x}"));
    }
    if !place.is_empty() {
        s.push_str(&format!(" [{}]", place.join(", ")));
    }
    s.push_str(&format!(
        ": {} -> {}",
        paint.wrap("31", &r.a),
        paint.wrap("32", &r.b)
    ));
    if let Some(v) = &r.variation {
        s.push_str(&format!("  (variation {v})"));
    }
    if let Some(note) = &r.note {
        s.push_str(&format!("  ({note})"));
    }
    s
}

fn unified(diff: &str, w: &mut dyn Write, paint: &Paint, verbose: bool) -> io::Result<()> {
    let total = diff.lines().count();
    let shown = if verbose { total } else { SHORT_DIFF };
    for line in diff.lines().take(shown) {
        let coloured = match line.as_bytes().first() {
            Some(b'-') if !line.starts_with("---") => paint.wrap("31", line),
            Some(b'+') if !line.starts_with("+++") => paint.wrap("32", line),
            Some(b'@') => paint.wrap("36", line),
            _ => line.to_string(),
        };
        writeln!(w, "  {coloured}")?;
    }
    if total > shown {
        writeln!(w, "  … {} more diff lines (-v shows all)", total - shown)?;
    }
    Ok(())
}
