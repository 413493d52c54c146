//! The findings of `REPORT.md` in words: per scenario, each figure's ratios
//! to the baseline (significant ones first); per series, how each arm's
//! figures change from the first scenario to the last, and where it refused
//! connections; and the A/A check. What is significant is decided in
//! [`crate::report::findings`]; this file only says it.

use std::fmt::Write;

use super::format::{fmt_num, fmt_ratio, fmt_ratio_ci};
use crate::report::findings::{
    AaCheck, Comparison, Refusal, ScenarioFindings, Series, SeriesFindings,
};

/// "select 4.00×✱ (3.61–4.43)" parts, significant first, or the plain ratio
/// when there is no interval; each named by `name`.
fn ratio_parts(
    comparisons: &[Comparison],
    name: impl Fn(&Comparison) -> String,
) -> (Vec<String>, Vec<String>) {
    let (mut sig, mut not) = (Vec::new(), Vec::new());
    for c in comparisons {
        match (c.ci, c.plain) {
            (Some(ci), _) if c.significant() => {
                sig.push(format!("{} {}", name(c), fmt_ratio_ci(&ci)))
            }
            (Some(ci), _) => not.push(format!("{} {}", name(c), fmt_ratio_ci(&ci))),
            (None, Some(r)) => not.push(format!(
                "{} {}× (one run: no interval)",
                name(c),
                fmt_ratio(r)
            )),
            (None, None) => {}
        }
    }
    (sig, not)
}

/// `head` followed by the significant parts, then the others, each group
/// introduced by its words; `None` when there are no parts.
fn verdict_line(
    head: String,
    (sig, not): (Vec<String>, Vec<String>),
    (sig_words, not_words): (&str, &str),
) -> Option<String> {
    if sig.is_empty() && not.is_empty() {
        return None;
    }
    let mut line = head;
    if !sig.is_empty() {
        let _ = write!(line, " {sig_words} {}", sig.join(", "));
    }
    if !not.is_empty() {
        let sep = if sig.is_empty() { "" } else { ";" };
        let _ = write!(line, "{sep} {not_words} {}", not.join(", "));
    }
    line.push('.');
    Some(line)
}

/// Findings for one scenario, one line each.
pub fn scenario_lines(found: &ScenarioFindings<'_>, baseline: &str) -> Vec<String> {
    let Some(base) = found.base else {
        return vec![format!(
            "The baseline {baseline} has no runs here; ratios and significance are omitted."
        )];
    };
    let mut lines: Vec<String> = found
        .figures
        .iter()
        .filter_map(|(f, comparisons)| {
            verdict_line(
                format!("{} relative to {}:", f.label(), base.arm),
                ratio_parts(comparisons, |c| c.arm.clone()),
                ("significant for", "no significant difference for"),
            )
        })
        .collect();
    if found.flagged > 0 {
        lines.push(format!(
            "{} of {} runs were flagged by the load generator (⚠ column); read their \
             throughput and latency with care, their per-request server costs stand.",
            found.flagged, found.runs
        ));
    }
    lines
}

/// What stays fixed along a series, in words.
fn fixed(s: &Series<'_>) -> String {
    let (_, k, _) = s.points[0];
    match s.dim {
        "active connections" => format!("{} idle, read buffer {}", k.idle, k.read_buf),
        "idle connections" => format!("{} active, read buffer {}", k.conns, k.read_buf),
        _ => format!("{} active, {} idle", k.conns, k.idle),
    }
}

fn refusal_line(r: &Refusal) -> String {
    let at: Vec<String> =
        r.at.iter()
            .map(|(v, n)| format!("{} at {v}", fmt_num(*n)))
            .collect();
    format!(
        "{} refused connections along this series (per run: {}); its figures there \
         cover only the connections it kept.",
        r.arm,
        at.join(", ")
    )
}

/// Findings for one series, one line each.
pub fn series_lines(s: &Series<'_>, found: &SeriesFindings) -> Vec<String> {
    let lo_v = s.points[0].0;
    let hi_v = s.points.last().expect("two points").0;
    let fixed = fixed(s);
    let figures = found.figures.iter().filter_map(|(f, comparisons)| {
        verdict_line(
            format!("From {lo_v} to {hi_v} {} ({fixed}), {}:", s.dim, f.label()),
            ratio_parts(comparisons, |c| {
                format!("{} ({} → {})", c.arm, fmt_num(c.from), fmt_num(c.to))
            }),
            ("changes significantly for", "no significant change for"),
        )
    });
    figures
        .chain(found.refusals.iter().map(refusal_line))
        .collect()
}

/// The A/A section.
pub fn aa_section(check: &AaCheck) -> String {
    let (tested, hits) = (check.tested, check.significant.len());
    let mut s = format!(
        "## A/A check\n\nArms of the same backend compared ({} per-cell comparisons of server CPU \
         per request and req/s): **{} significant** ({:.0} %; at a 5 % level about {:.1} are \
         expected by chance).\n",
        tested,
        hits,
        100.0 * hits as f64 / tested as f64,
        0.05 * tested as f64
    );
    for hit in &check.significant {
        let _ = writeln!(
            s,
            "\n- {} vs {} {} in {}: {}",
            hit.arm,
            hit.first,
            hit.figure.label(),
            hit.scenario,
            fmt_ratio_ci(&hit.ci)
        );
    }
    s
}
