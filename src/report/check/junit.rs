//! The JUnit XML report of a check, for CI: one test case per step.

use std::fmt::Write as _;

use super::finding::plain_finding;
use super::summary::reason_summary;
use crate::engine::check::CheckReport;
use crate::report::escape;

/// JUnit XML: one test case per step; anything not reproducible fails.
pub fn render(report: &CheckReport) -> String {
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
            escape::html(&finding.name)
        );
        if finding.is_clean() {
            out.push_str("/>\n");
            continue;
        }
        let message = format!("{}: {}", finding.verdict.as_str(), reason_summary(finding));
        let _ = writeln!(
            out,
            ">\n    <failure message=\"{}\" type=\"{}\">{}</failure>\n  </testcase>",
            escape::html(&message),
            finding.verdict.as_str(),
            escape::html(&plain_finding(finding))
        );
    }
    out.push_str("</testsuite>\n");
    out
}
