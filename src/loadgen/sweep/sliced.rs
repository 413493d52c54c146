//! `loadgen sweep --interleave slices`: the sweep's driver when arms take
//! turns in slices ([`crate::loadgen::sliced`]) — which interleaving a sweep gets,
//! the cycles of each cell, their convergence (paired ratios), and what a
//! failed cell leaves in `failures.log`. The matrix, the report and the
//! rounds driver are its siblings.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::args::{Interleave, SweepArgs};
use super::leftovers::Done;
use super::matrix::Cell;
use super::output::{append, convergence_line, write_report, SweepSummary, CONVERGENCE_FILE};
use super::resume;
use crate::loadgen::args::Repeat;
use crate::loadgen::sliced;
use crate::record::RunResult;
use crate::report;
use crate::report::summary::KEY_FIGURES;
use crate::stats;

/// `--interleave` as given, or slices where every arm of every cell supports them.
pub(super) fn choose_interleave(a: &SweepArgs, cells: &[Cell]) -> Result<Interleave> {
    if !(sliced::MIN_SLICE..=Duration::from_secs(10)).contains(&a.slice) {
        bail!("--slice must be between 50 ms and 10 s");
    }
    let unsupported = cells.iter().find_map(|c| {
        c.arms.iter().find_map(|arm| {
            sliced::supports(&a.arm_args(arm, c.scenario))
                .err()
                .map(|why| format!("{} {}: {why}", arm.label, c.scenario))
        })
    });
    Ok(match (a.interleave, unsupported) {
        (Some(Interleave::Slices), Some(why)) => {
            bail!("--interleave slices: slices do not support {why}")
        }
        (Some(i), _) => i,
        // A curve keeps whole runs: each gets the generator's self-check.
        (None, _) if !a.rates.is_empty() => Interleave::Rounds,
        (None, None) => Interleave::Slices,
        (None, Some(_)) => Interleave::Rounds,
    })
}

/// Whether every arm's ratio to the first arm (paired by cycle) has a 95 %
/// interval within `target` for every key figure; and the widest half-width.
fn converged_ratios(per_arm: &[Vec<RunResult>], target: f64) -> (bool, f64) {
    let mut widest: f64 = 0.0;
    // The report's rule: a cycle with steal in any slice does not count.
    let (kept, _) = report::slices::kept(&per_arm.concat());
    let per_arm: Vec<Vec<RunResult>> = per_arm
        .iter()
        .map(|rows| {
            rows.iter()
                .filter(|r| {
                    kept.iter()
                        .any(|k| k.repeat == r.repeat && k.arm_label() == r.arm_label())
                })
                .cloned()
                .collect()
        })
        .collect();
    let Some((base, others)) = per_arm.split_first() else {
        return (true, 0.0);
    };
    for rows in others {
        for fig in KEY_FIGURES {
            let pairs: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| {
                    let b = base.iter().find(|b| b.repeat == r.repeat)?;
                    Some((fig.value(r)?, fig.value(b)?))
                })
                .collect();
            let w = stats::paired_ratio_ci(&pairs).map_or(f64::INFINITY, |ci| ci.rel_half_width());
            widest = widest.max(w);
        }
    }
    (widest <= target, widest)
}

/// Say that `what` failed, on stderr and in failures.log.
fn slice_failure(a: &SweepArgs, what: &str, e: &anyhow::Error) -> Result<()> {
    eprintln!("  {what} failed: {e:#}");
    append(
        &a.out.join("failures.log"),
        &format!("{} {what}: {e:#}\n", crate::loadgen::now_rfc3339()),
    )
}

/// The line a cell starts with: its arms, slices, cycles and time so far.
fn announce_cell(a: &SweepArgs, cell: &Cell, at: (usize, usize), cycles: usize, started: Instant) {
    let s = cell.scenario;
    eprintln!(
        "[{}/{}] {s}: {} in slices of {:?}, {} cycles{} · {:.0} s so far",
        at.0 + 1,
        at.1,
        cell.arms
            .iter()
            .map(|arm| arm.label.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        a.slice,
        cycles,
        if a.repeat == Repeat::Auto {
            " at most"
        } else {
            ""
        },
        started.elapsed().as_secs_f64()
    );
}

/// The sweep with `--interleave slices`: per cell, every arm's server at
/// once ([`crate::loadgen::sliced`]), `--repeat` × (duration / slice) cycles (auto:
/// in blocks of that many, until every ratio to the first arm is within
/// --target-ci); each slice a row. The cycles `done` holds (a resumed sweep)
/// count as run: a cell goes on from the next cycle (its servers started
/// and warmed up afresh), or is complete.
pub(super) fn run(
    a: &SweepArgs,
    exe: &Path,
    cells: &[Cell],
    repeats: (usize, usize),
    done: Done,
) -> Result<SweepSummary> {
    let mut sweep = Sweep {
        a,
        exe,
        repeats,
        per: resume::cycles_per_repeat(a, Interleave::Slices),
        started: Instant::now(),
        summary: SweepSummary {
            completed: 0,
            failed: 0,
            interrupted: false,
        },
    };
    let mut convergence = String::new();
    for (ci, (cell, per_arm)) in cells.iter().zip(done).enumerate() {
        if crate::signals::interrupted() {
            sweep.summary.interrupted = true;
            break;
        }
        let (per_arm, cycles) = sweep.cell((ci, cells.len()), cell, per_arm)?;
        let s = cell.scenario;
        if a.repeat == Repeat::Auto {
            convergence.push_str(&convergence_line(
                s,
                converged_ratios(&per_arm, a.target_ci),
                &format!("{cycles} cycles"),
                "95 % CI of a ratio",
                a.target_ci,
            ));
        }
    }
    if a.repeat == Repeat::Auto && !sweep.summary.interrupted {
        crate::report::write_atomic(&a.out.join(CONVERGENCE_FILE), convergence.as_bytes())?;
    }
    Ok(sweep.summary)
}

/// A sliced sweep under way.
struct Sweep<'a> {
    a: &'a SweepArgs,
    exe: &'a Path,
    /// The fewest and most `--repeat`s a cell gets.
    repeats: (usize, usize),
    /// Cycles per `--repeat`.
    per: usize,
    started: Instant,
    summary: SweepSummary,
}

impl Sweep<'_> {
    /// Whether a cell with `cycles` cycles measured needs no more: all its
    /// cycles run, or (auto) converged at the end of a block.
    fn complete(&self, per_arm: &[Vec<RunResult>], cycles: usize) -> bool {
        let (a, per, (min_rep, max_rep)) = (self.a, self.per, self.repeats);
        cycles >= max_rep * per
            || (a.repeat == Repeat::Auto
                && cycles.is_multiple_of(per)
                && cycles >= min_rep * per
                && converged_ratios(per_arm, a.target_ci).0)
    }

    /// Cell `at.0` of `at.1`: its servers started, its cycles from the first
    /// not yet in `per_arm` on; every arm's rows and the cycles measured.
    fn cell(
        &mut self,
        at: (usize, usize),
        cell: &Cell,
        mut per_arm: Vec<Vec<RunResult>>,
    ) -> Result<(Vec<Vec<RunResult>>, usize)> {
        let (a, per) = (self.a, self.per);
        let s = cell.scenario;
        let mut cycles = per_arm.first().map_or(0, Vec::len);
        if cycles > 0 && self.complete(&per_arm, cycles) {
            return Ok((per_arm, cycles));
        }
        announce_cell(a, cell, at, self.repeats.1 * per, self.started);
        let arms = cell
            .arms
            .iter()
            .map(|arm| (arm.label.clone(), a.arm_args(arm, s)))
            .collect();
        let mut sliced = match sliced::Sliced::start(arms, self.exe, a.warmup, at.0 as u64 + 1) {
            Ok(sl) => sl,
            Err(e) => {
                self.summary.failed += cell.arms.len();
                slice_failure(a, &format!("{s} (slices)"), &e)?;
                return Ok((per_arm, cycles));
            }
        };
        for cycle in cycles + 1..=self.repeats.1 * per {
            if crate::signals::interrupted() {
                self.summary.interrupted = true;
                break;
            }
            match sliced.cycle(cycle, a.slice) {
                Ok(rows) => {
                    // One write for the cycle: a kill leaves it whole or torn.
                    report::csv::append_all(&a.out.join("runs.csv"), &rows)?;
                    for (j, r) in rows.into_iter().enumerate() {
                        per_arm[j].push(r);
                        self.summary.completed += 1;
                    }
                    cycles = cycle;
                }
                Err(e) => {
                    self.summary.failed += cell.arms.len();
                    slice_failure(a, &format!("{s} cycle={cycle}"), &e)?;
                    break;
                }
            }
            if cycle.is_multiple_of(per) {
                write_report(&a.out, &a.baseline)?;
                if self.complete(&per_arm, cycles) {
                    break;
                }
            }
        }
        if let Err(e) = sliced.stop() {
            eprintln!("  stopping the servers: {e:#}");
        }
        Ok((per_arm, cycles))
    }
}
