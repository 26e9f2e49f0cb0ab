//! The terminal view of a challenge: the summary, one row per compared step, then the
//! differing files of each disagreement.

use crate::engine::challenge::{ChallengeReport, Disagreement};
use crate::report::table::{paint, Colour, Table};

/// The terminal view: one row per compared step, then each disagreement's files.
pub fn render(report: &ChallengeReport, colour: bool, verbose: bool) -> String {
    let mut out = String::new();
    for (i, line) in report.summary.iter().enumerate() {
        let hue = match i {
            0 => Colour::Bold,
            _ if line.contains("DISAGREE") => Colour::Red,
            _ => Colour::Yellow,
        };
        out.push_str(&paint(line, hue, colour));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&steps_table(report, colour, verbose));
    for d in &report.disagree {
        render_disagreement(d, colour, &mut out);
    }
    out
}

fn steps_table(report: &ChallengeReport, colour: bool, verbose: bool) -> String {
    let mut table = Table::new(&["STEP", "VERDICT", "INPUT HASH", "MANIFESTS"]);
    for d in &report.disagree {
        let who: Vec<String> = d
            .outputs
            .iter()
            .map(|o| format!("{}: {}", o.content_hash.short(), o.manifests.join(" ")))
            .collect();
        table.row(vec![
            d.step.clone(),
            paint("DISAGREE", Colour::Red, colour),
            d.input_hash.short(),
            who.join(" | "),
        ]);
    }
    for a in &report.agree {
        table.row(vec![
            a.step.clone(),
            paint("agree", Colour::Green, colour),
            a.input_hash.short(),
            a.manifests.join(" "),
        ]);
    }
    if verbose {
        for o in &report.only_in {
            table.row(vec![
                o.step.clone(),
                paint("only in one", Colour::Dim, colour),
                o.input_hash.short(),
                o.manifest.clone(),
            ]);
        }
    }
    table.render()
}

fn render_disagreement(d: &Disagreement, colour: bool, out: &mut String) {
    out.push_str(&format!(
        "\n{}: same inputs, different outputs\n",
        paint(&d.step, Colour::Bold, colour)
    ));
    for c in &d.comparisons {
        out.push_str(&format!("  {} vs {}\n", c.a.short(), c.b.short()));
        for f in &c.files {
            let reasons = if f.reasons.is_empty() {
                String::new()
            } else {
                format!("  reasons: {}", f.reasons.join(", "))
            };
            out.push_str(&format!(
                "    {} ({}){reasons}\n",
                f.path,
                f.change.as_str()
            ));
        }
        if let Some(note) = &c.note {
            out.push_str(&format!("    note: {note}\n"));
        }
    }
}
