//! What a sweep leaves in its folder: rows, histograms, the report, the
//! convergence verdicts, the failures log — each rewritten or appended as
//! runs finish, so an interrupted sweep keeps what it measured.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use super::args::SweepArgs;
use super::matrix::{Scenario, SKIPPED_FILE};
use crate::record::{RunOutput, RunResult};
use crate::report;
use crate::report::summary::KEY_FIGURES;
use crate::stats;

/// With `--rates`: the SLO and the client's own sending capacity, `key=value`
/// lines (read back by the report and by plot.py).
pub const CURVE_FILE: &str = "curve.txt";

pub(super) fn hgrm_path(out: &Path, arm: &str, s: Scenario, rep: usize) -> PathBuf {
    let cell = (s.conns, s.idle, s.msg_size, s.read_buf);
    out.join("hgrm")
        .join(report::hgrm::run_file_name(arm, cell, s.rate, rep))
}

pub(super) fn fmt_eta(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// How a sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepSummary {
    /// Runs that produced a row.
    pub completed: usize,
    /// Runs that failed (no row).
    pub failed: usize,
    /// Stopped by SIGINT/SIGTERM.
    pub interrupted: bool,
}

/// Regenerate `REPORT.md`, `REPORT.html` and `figures/` from `runs.csv` in
/// `out`, naming the sweep command recorded in `out/command.txt` (if any).
pub fn write_report(out: &Path, baseline: &str) -> Result<()> {
    write_report_files(&out.join("runs.csv"), &out.join("REPORT.md"), baseline)
}

/// The Markdown report of `csv` at `md_path`; beside it the page (same
/// name, `.html`) and its figures as `.svg` files in [`figures_dir`].
pub fn write_report_files(csv: &Path, md_path: &Path, baseline: &str) -> Result<()> {
    let rows = report::csv::read(csv)?;
    let dir = csv.parent().unwrap_or(Path::new("."));
    let md = render_rows(&rows, dir, baseline);
    let figures = report::html::figures::sweep_figures(&rows, baseline, Some(dir));
    let page = report::html::page(&md, &figures);
    let shown = md_path.display();
    report::write_atomic(md_path, md.as_bytes()).with_context(|| format!("writing {shown}"))?;
    let html = md_path.with_extension("html");
    report::write_atomic(&html, page.as_bytes())
        .with_context(|| format!("writing {}", html.display()))?;
    let fig_dir = figures_dir(md_path);
    if fig_dir.is_dir() {
        // Figures of an earlier version of the report go; only ours are here.
        for e in std::fs::read_dir(&fig_dir)?.flatten() {
            if e.path().extension().is_some_and(|x| x == "svg") {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    for f in &figures {
        report::write_atomic(&fig_dir.join(format!("{}.svg", f.name)), f.svg.as_bytes())?;
    }
    Ok(())
}

/// Where the figures of the report at `md_path` go as files: `figures/`
/// for `REPORT.md`, `figures-X/` for `REPORT-X.md`, `NAME-figures/` otherwise.
pub fn figures_dir(md_path: &Path) -> PathBuf {
    let stem = md_path
        .file_stem()
        .map_or(String::new(), |s| s.to_string_lossy().into_owned());
    let name = match stem.strip_prefix("REPORT") {
        Some("") => "figures".to_string(),
        Some(rest) => format!("figures{rest}"),
        None => format!("{stem}-figures"),
    };
    md_path.with_file_name(name)
}

/// The report of the rows in `csv`, with the sections a sweep keeps beside
/// it (`command.txt`, `convergence.txt`, `skipped.txt` in the same folder).
pub fn render_report(csv: &Path, baseline: &str) -> Result<String> {
    let rows = report::csv::read(csv)?;
    Ok(render_rows(
        &rows,
        csv.parent().unwrap_or(Path::new(".")),
        baseline,
    ))
}

/// [`render_report`] of rows already read from `out/runs.csv`.
fn render_rows(rows: &[RunResult], out: &Path, baseline: &str) -> String {
    let command = std::fs::read_to_string(out.join("command.txt")).ok();
    let mut md = report::markdown::render(rows, baseline, command.as_deref().map(str::trim));
    if let Ok(text) = std::fs::read_to_string(out.join(CONVERGENCE_FILE)) {
        md.push_str("\n## Convergence (`--repeat auto`)\n\n");
        for line in text.lines() {
            let _ = writeln!(md, "- {line}");
        }
    }
    if let Ok(text) = std::fs::read_to_string(out.join(CURVE_FILE)) {
        let value = |key: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(key)?
                    .strip_prefix('=')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        };
        if let Some(slo_us) = value("slo_us") {
            // Disturbed cycles of a sliced curve are left out, as in the tables.
            let (kept, _) = report::slices::kept(rows);
            if let Some(section) =
                report::capacity::render(&kept, baseline, slo_us, value("client_capacity"))
            {
                md.push_str(&section);
            }
        }
    }
    if let Ok(skipped) = std::fs::read_to_string(out.join(SKIPPED_FILE)) {
        md.push_str("\n## Backends skipped\n\n");
        for line in skipped.lines() {
            let _ = writeln!(md, "- {line}");
        }
    }
    md
}

/// A cell's line in `convergence.txt`: its scenario, the verdict after
/// `count` (e.g. "5 rounds"), the widest relative half-width (`what`: the
/// interval's kind) and the target.
pub(super) fn convergence_line(
    s: Scenario,
    (ok, widest): (bool, f64),
    count: &str,
    what: &str,
    target: f64,
) -> String {
    format!(
        "{} active + {} idle, {} B, read buffer {}: {} after {count} (widest {what} ±{:.1} %, target ±{:.1} %)\n",
        s.conns,
        s.idle,
        s.msg_size,
        s.read_buf,
        if ok { "converged" } else { "NOT converged" },
        widest * 100.0,
        target * 100.0
    )
}

/// Cells `--repeat auto` left unconverged, one line each (read back into REPORT.md).
pub(super) const CONVERGENCE_FILE: &str = "convergence.txt";

/// Whether every arm's key figures have a 95 % CI within `target`; the
/// widest relative half-width found otherwise (infinite: too few runs).
pub fn converged(per_arm: &[Vec<RunResult>], target: f64) -> (bool, f64) {
    let mut widest: f64 = 0.0;
    for rows in per_arm {
        for fig in KEY_FIGURES {
            let values: Vec<f64> = rows.iter().filter_map(|r| fig.value(r)).collect();
            if values.is_empty() {
                continue; // an external server: no server CPU
            }
            let w = stats::geomean_ci(&values).map_or(f64::INFINITY, |ci| ci.rel_half_width());
            widest = widest.max(w);
        }
    }
    (widest <= target, widest)
}

pub(super) fn record(
    a: &SweepArgs,
    out: &RunOutput,
    arm: &str,
    s: Scenario,
    rep: usize,
) -> Result<()> {
    // The histogram first: a row in runs.csv always has its .hgrm.
    report::hgrm::write_file(&hgrm_path(&a.out, arm, s, rep), &out.latency)?;
    report::csv::append(&a.out.join("runs.csv"), &out.result)
}

pub(super) fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
