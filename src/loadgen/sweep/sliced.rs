//! `loadgen sweep --interleave slices`: the sweep's driver when arms take
//! turns in slices ([`crate::loadgen::sliced`]) — which interleaving a sweep gets,
//! the cycles of each cell, their convergence (paired ratios), and what a
//! failed cell leaves in `failures.log`. The matrix, the report and the
//! rounds driver are its siblings.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::args::{Interleave, SweepArgs};
use super::matrix::Cell;
use super::output::{append, write_report, SweepSummary, CONVERGENCE_FILE};
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
            sliced::supports(&a.run_args(arm.backend, c.scenario))
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
/// --target-ci); each slice a row.
pub(super) fn run(
    a: &SweepArgs,
    exe: &Path,
    cells: &[Cell],
    (min_rep, max_rep): (usize, usize),
) -> Result<SweepSummary> {
    let per = (a.duration.as_secs_f64() / a.slice.as_secs_f64())
        .ceil()
        .max(1.0) as usize;
    let mut summary = SweepSummary {
        completed: 0,
        failed: 0,
        interrupted: false,
    };
    let mut convergence = String::new();
    let started = Instant::now();
    for (ci, cell) in cells.iter().enumerate() {
        if crate::signals::interrupted() {
            summary.interrupted = true;
            break;
        }
        let s = cell.scenario;
        announce_cell(a, cell, (ci, cells.len()), max_rep * per, started);
        let arms = cell
            .arms
            .iter()
            .map(|arm| (arm.label.clone(), a.run_args(arm.backend, s)))
            .collect();
        let mut sliced = match sliced::Sliced::start(arms, exe, a.warmup, ci as u64 + 1) {
            Ok(sl) => sl,
            Err(e) => {
                summary.failed += cell.arms.len();
                slice_failure(a, &format!("{s} (slices)"), &e)?;
                continue;
            }
        };
        let mut per_arm: Vec<Vec<RunResult>> = vec![Vec::new(); cell.arms.len()];
        let mut cycles = 0;
        for cycle in 1..=max_rep * per {
            if crate::signals::interrupted() {
                summary.interrupted = true;
                break;
            }
            match sliced.cycle(cycle, a.slice) {
                Ok(rows) => {
                    for (j, r) in rows.into_iter().enumerate() {
                        report::csv::append(&a.out.join("runs.csv"), &r)?;
                        per_arm[j].push(r);
                        summary.completed += 1;
                    }
                    cycles = cycle;
                }
                Err(e) => {
                    summary.failed += cell.arms.len();
                    slice_failure(a, &format!("{s} cycle={cycle}"), &e)?;
                    break;
                }
            }
            if cycle % per == 0 {
                write_report(&a.out, &a.baseline)?;
                if a.repeat == Repeat::Auto
                    && cycle >= min_rep * per
                    && converged_ratios(&per_arm, a.target_ci).0
                {
                    break;
                }
            }
        }
        if let Err(e) = sliced.stop() {
            eprintln!("  stopping the servers: {e:#}");
        }
        if a.repeat == Repeat::Auto {
            let (ok, widest) = converged_ratios(&per_arm, a.target_ci);
            let _ = writeln!(
                convergence,
                "{} active + {} idle, {} B, read buffer {}: {} after {cycles} cycles (widest 95 % CI of a ratio ±{:.1} %, target ±{:.1} %)",
                s.conns,
                s.idle,
                s.msg_size,
                s.read_buf,
                if ok { "converged" } else { "NOT converged" },
                widest * 100.0,
                a.target_ci * 100.0
            );
        }
    }
    if a.repeat == Repeat::Auto {
        std::fs::write(a.out.join(CONVERGENCE_FILE), convergence)?;
    }
    Ok(summary)
}
