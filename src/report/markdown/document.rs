//! The whole `REPORT.md`, in order: the preamble, then per scenario its
//! tables and findings, then the findings across scenarios and the A/A
//! check. Only the order of the sections lives here; each section's words
//! are in its own file, and what the numbers say in
//! [`crate::report::findings`].

use std::fmt::Write;

use super::preamble::write_preamble;
use super::tables::write_tables;
use super::verdicts::{aa_section, scenario_lines, series_lines};
use crate::record::RunResult;
use crate::report::findings::{
    aa_check, find_baseline, scenario_findings, series, series_findings,
};
use crate::report::slices;
use crate::report::summary::{summarize, ArmSummary, ScenarioKey};

/// The whole report.
pub fn render(rows: &[RunResult], baseline: &str, command: Option<&str>) -> String {
    let (kept, left_out) = slices::kept(rows);
    let mut s = String::new();
    let _ = writeln!(s, "# muxbench sweep report\n");
    if kept.is_empty() {
        let _ = writeln!(s, "{}", nothing_kept(rows, left_out));
        return s;
    }
    let rows = &kept[..];
    write_preamble(&mut s, rows, left_out, baseline, command);
    let summaries = summarize(rows);
    for (key, list) in &summaries {
        write_scenario(&mut s, key, list, baseline);
    }
    write_across_scenarios(&mut s, &summaries);
    if let Some(aa) = aa_check(&summaries) {
        let _ = writeln!(s, "{}", aa_section(&aa));
    }
    s
}

/// Why a report has no figures: no rows, or every cycle of slices left out.
fn nothing_kept(rows: &[RunResult], left_out: usize) -> String {
    if rows.is_empty() {
        return "No runs.".into();
    }
    let limit = rows
        .iter()
        .map(RunResult::steal_limit)
        .fold(f64::NAN, f64::min);
    format!(
        "No figures: all {left_out} cycles of slices were left out whole, each for a slice in \
         which the host stole more than {limit} % of the CPU time (`--steal-limit`). The {} \
         slices are in `runs.csv` with their `steal_pct`; measure on a quieter host, or raise \
         `--steal-limit` and compare by ratios.",
        rows.len()
    )
}

/// One scenario: its heading, tables and findings.
fn write_scenario(s: &mut String, key: &ScenarioKey, list: &[ArmSummary], baseline: &str) {
    let _ = writeln!(s, "## {}\n", key.title());
    write_tables(s, list, find_baseline(list, baseline));
    for line in scenario_lines(&scenario_findings(list, baseline), baseline) {
        let _ = writeln!(s, "- {line}");
    }
    let _ = writeln!(s);
}

/// Findings along every series, when there is one.
fn write_across_scenarios(s: &mut String, summaries: &[(ScenarioKey, Vec<ArmSummary>)]) {
    let all_series = series(summaries);
    if all_series.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Findings across scenarios\n");
    let _ = writeln!(
        s,
        "Ratios between two scenarios of one arm pair the runs of the same round.\n"
    );
    for se in &all_series {
        for line in series_lines(se, &series_findings(se)) {
            let _ = writeln!(s, "- {line}");
        }
    }
    let _ = writeln!(s);
}
