//! `loadgen sweep --interleave rounds`: one whole run per arm per round, the
//! arm order rotated each round; with `--repeat auto` a cell stops once every
//! arm's key figures are within `--target-ci`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use super::args::{Interleave, SweepArgs};
use super::arm::Arm;
use super::leftovers::Done;
use super::matrix::{Cell, Scenario};
use super::output::{append, converged, fmt_eta, record, write_report, SweepSummary};
use super::output::{convergence_line, CONVERGENCE_FILE};
use crate::loadgen::args::Repeat;
use crate::loadgen::progress::NoProgress;
use crate::record::RunResult;

/// Where the rounds are: what `--repeat auto` judges and what the ETA counts.
struct Rounds<'a> {
    cells: &'a [Cell],
    max_rep: usize,
    started: Instant,
    done: usize,
    /// Of `done`, the runs measured before a resume (not timed here).
    resumed: usize,
    /// This sweep's rows, per cell and arm.
    measured: Vec<Vec<Vec<RunResult>>>,
    /// Cells that converged and run no more.
    settled: Vec<bool>,
}

impl Rounds<'_> {
    /// Runs done plus the runs the unsettled cells have left from round `rep` on.
    fn planned(&self, rep: usize) -> usize {
        self.done
            + self
                .cells
                .iter()
                .zip(&self.settled)
                .filter(|(_, s)| !**s)
                .map(|(c, _)| c.arms.len() * (self.max_rep + 1 - rep))
                .sum::<usize>()
    }
}

/// Run `cells` round by round, `(min_rep, max_rep)` rounds each; the runs
/// `done` already holds (a resumed sweep) are skipped where they fall, so
/// the rest run in the order an uninterrupted sweep runs them, and `--repeat
/// auto` judges a cell on the same rows.
pub(super) fn run(
    a: &SweepArgs,
    exe: &Path,
    cells: &[Cell],
    (min_rep, max_rep): (usize, usize),
    done: Done,
) -> Result<SweepSummary> {
    let mut summary = SweepSummary {
        completed: 0,
        failed: 0,
        interrupted: false,
    };
    let mut p = Rounds {
        cells,
        max_rep,
        started: Instant::now(),
        done: 0,
        resumed: 0,
        measured: done,
        settled: vec![false; cells.len()],
    };
    'sweep: for rep in 1..=max_rep {
        if p.settled.iter().all(|s| *s) {
            break;
        }
        let total_now = p.planned(rep);
        for (ci, cell) in cells.iter().enumerate() {
            if p.settled[ci] {
                continue;
            }
            let n = cell.arms.len();
            for j in 0..n {
                // Rotate the arm order each round.
                let idx = (j + rep - 1) % n;
                if p.measured[ci][idx].iter().any(|r| r.repeat == Some(rep)) {
                    p.done += 1; // measured before the sweep was resumed
                    p.resumed += 1;
                    continue;
                }
                if crate::signals::interrupted() {
                    summary.interrupted = true;
                    break 'sweep;
                }
                eprintln!(
                    "[{}/{total_now}] {} {} repeat {rep}/{} · ETA {}",
                    p.done + 1,
                    cell.arms[idx].label,
                    cell.scenario,
                    match a.repeat {
                        Repeat::Fixed(n) => n.to_string(),
                        Repeat::Auto => format!("≤{max_rep}"),
                    },
                    eta(a, &p, total_now),
                );
                let ran = run_one(a, exe, &cell.arms[idx], cell.scenario, rep, &mut summary)?;
                if let Some(result) = ran {
                    p.measured[ci][idx].push(result);
                }
                if summary.interrupted {
                    break 'sweep;
                }
                p.done += 1;
            }
            if a.repeat == Repeat::Auto && rep >= min_rep {
                let (ok, widest) = converged(&p.measured[ci], a.target_ci);
                if ok {
                    p.settled[ci] = true;
                    eprintln!(
                        "  converged after {rep} rounds (widest 95 % CI ±{:.1} %)",
                        widest * 100.0
                    );
                }
            }
        }
    }
    if a.repeat == Repeat::Auto && !summary.interrupted {
        write_convergence(a, cells, &p.measured)?;
    }
    Ok(summary)
}

/// Time left, from the mean run so far (a bound with `--repeat auto`).
fn eta(a: &SweepArgs, p: &Rounds<'_>, total_now: usize) -> String {
    let timed = p.done - p.resumed;
    if timed == 0 {
        return "?".to_string();
    }
    let left = total_now.saturating_sub(p.done) as u32;
    let bound = if a.repeat == Repeat::Auto { "≤ " } else { "" };
    format!(
        "{bound}{}",
        fmt_eta(p.started.elapsed() / timed as u32 * left)
    )
}

/// One run of `arm` in scenario `s`, round `rep`: its row and histogram
/// written, the report refreshed; a failure is logged and counted, an
/// interruption marked on `summary`.
fn run_one(
    a: &SweepArgs,
    exe: &Path,
    arm: &Arm,
    s: Scenario,
    rep: usize,
    summary: &mut SweepSummary,
) -> Result<Option<RunResult>> {
    let args = a.arm_args(arm, s);
    match crate::loadgen::run(&args, exe, &mut NoProgress) {
        Ok(mut out) => {
            out.result.repeat = Some(rep);
            out.result.interleave = Interleave::Rounds.name().into();
            if arm.label != arm.backend.name() {
                out.result.arm = arm.label.clone();
            }
            record(a, &out, &arm.label, s, rep)?;
            summary.completed += 1;
            write_report(&a.out, &a.baseline)?;
            Ok(Some(out.result))
        }
        Err(e) if crate::signals::interrupted() => {
            eprintln!("  interrupted: {e:#}");
            summary.interrupted = true;
            Ok(None)
        }
        Err(e) => {
            eprintln!("  run failed: {e:#}");
            summary.failed += 1;
            let mut log = String::new();
            let _ = writeln!(
                log,
                "{} {} {s} repeat={rep}: {e:#}",
                crate::loadgen::now_rfc3339(),
                arm.label,
            );
            append(&a.out.join("failures.log"), &log)?;
            Ok(None)
        }
    }
}

/// `convergence.txt`: each cell's verdict after `--repeat auto`.
fn write_convergence(
    a: &SweepArgs,
    cells: &[Cell],
    measured: &[Vec<Vec<RunResult>>],
) -> Result<()> {
    let mut lines = String::new();
    for (cell, measured) in cells.iter().zip(measured) {
        let rounds = measured.iter().map(Vec::len).max().unwrap_or(0);
        lines.push_str(&convergence_line(
            cell.scenario,
            converged(measured, a.target_ci),
            &format!("{rounds} rounds"),
            "95 % CI",
            a.target_ci,
        ));
    }
    crate::report::write_atomic(&a.out.join(CONVERGENCE_FILE), lines.as_bytes())?;
    Ok(())
}
