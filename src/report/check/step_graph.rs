//! The step graph of a check as inline SVG, each step coloured by its verdict.

use std::fmt::Write as _;

use crate::engine::check::{CheckReport, Verdict};
use crate::report::escape;

/// Geometry of the step graph's drawing, in pixels.
const NODE_HEIGHT: usize = 26;
const ROW_GAP: usize = 14;
const COLUMN_GAP: usize = 60;
const CHAR_WIDTH: usize = 8;
const LONGEST_LABEL: usize = 32;

/// The step graph as inline SVG: one column per depth (a step sits right of its deepest
/// dep), one box per step coloured by its verdict and linked to its finding, one curve
/// per dependency edge (`data-from` the dep, `data-to` the dependent).
pub fn render(report: &CheckReport) -> String {
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
                escape::html(dep),
                escape::html(&step.name)
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
                format!("<a href=\"#step-{}\">", escape::html(&step.name)),
                "</a>",
            )
        };
        let _ = writeln!(
            out,
            "{open}<g class=\"node v-{1}\" data-step=\"{0}\"><title>{0}: {1}</title><rect x=\"{2}\" y=\"{3}\" width=\"{node_width}\" height=\"{NODE_HEIGHT}\" rx=\"4\"/><text x=\"{4}\" y=\"{5}\">{6}</text></g>{close}",
            escape::html(&step.name),
            verdict,
            x(i),
            y(i),
            x(i) + 8,
            y(i) + NODE_HEIGHT / 2 + 4,
            escape::html(&label(&step.name))
        );
    }
    out.push_str(&edges);
    out.push_str("</svg>\n<p>Green: reproducible; amber: cascade; red: nondeterministic, failed, network or undeclared. Hover a box for its verdict; click it for the evidence.</p>\n");
    out
}
