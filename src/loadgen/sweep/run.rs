//! A sweep from start to end: check every run before the first starts,
//! prepare the folder and the rates, then hand the cells to the chosen
//! interleaving (slices, or rounds).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::args::{Interleave, RateArg, SweepArgs};
use super::matrix::{matrix, skip_unavailable, Cell, SKIPPED_FILE};
use super::output::{write_report, SweepSummary, CONVERGENCE_FILE, CURVE_FILE};
use super::rates::{discover_rates, write_curve_file};
use super::resume::{self, Start};
use super::{rounds, sliced};
use crate::backend::Backend;
use crate::limits;
use crate::loadgen::args::{Repeat, AUTO_MIN_REPEAT};

/// Run the sweep. `exe` is the loadgen executable (the server is `exe serve`).
pub fn run(a: &SweepArgs, exe: &Path, command: &str) -> Result<SweepSummary> {
    let repeats = repeat_bounds(a)?;
    let (cells, interleave, done) = match resume::open(a, repeats.1)? {
        Start::Fresh => {
            let settings = resume::settings(a)?;
            let cells = prepare(a, exe, command, repeats.1)?;
            let interleave = sliced::choose_interleave(a, &cells)?;
            resume::write_plan(&a.out, settings, interleave, &cells)?;
            let done = super::leftovers::nothing_done(&cells);
            (cells, interleave, done)
        }
        Start::Resume {
            cells,
            interleave,
            done,
        } => {
            check_plan(a, &cells, repeats.1)?;
            let rows: usize = done.iter().flatten().map(Vec::len).sum();
            eprintln!(
                "resuming the sweep in {}: {rows} row(s) of its plan are there already",
                a.out.display()
            );
            (cells, interleave, done)
        }
    };
    eprintln!(
        "arms interleaved in {}",
        match interleave {
            Interleave::Slices =>
                format!("slices of {:?} (every arm's server up at once)", a.slice),
            Interleave::Rounds => "rounds (one run per arm per round)".into(),
        }
    );
    let summary = match interleave {
        Interleave::Slices => sliced::run(a, exe, &cells, repeats, done)?,
        Interleave::Rounds => rounds::run(a, exe, &cells, repeats, done)?,
    };
    if a.out.join("runs.csv").exists() {
        write_report(&a.out, &a.baseline)?;
    }
    Ok(summary)
}

/// The fewest and most rounds a cell gets.
fn repeat_bounds(a: &SweepArgs) -> Result<(usize, usize)> {
    Ok(match a.repeat {
        Repeat::Fixed(0) => bail!("--repeat must be at least 1 (or auto)"),
        Repeat::Fixed(n) => (n, n),
        Repeat::Auto => {
            if !(AUTO_MIN_REPEAT..=1000).contains(&a.max_repeat) {
                bail!("--max-repeat must be between {AUTO_MIN_REPEAT} and 1000");
            }
            (AUTO_MIN_REPEAT, a.max_repeat)
        }
    })
}

/// The cells to run, every run checked and the folder ready: `command.txt`,
/// the curve's calibration (and rates found, with `--rates auto`), the
/// cells this machine cannot run in `skipped.txt`.
fn prepare(a: &SweepArgs, exe: &Path, command: &str, max_rep: usize) -> Result<Vec<Cell>> {
    if a.slo.is_zero() || a.slo > Duration::from_secs(3600) {
        bail!("--slo must be more than 0 and at most 1 h");
    }
    let auto_rates = a.rates.contains(&RateArg::Auto);
    if auto_rates && a.rates.len() > 1 {
        bail!("--rates auto stands alone (give either rates or auto)");
    }
    let mut cells = matrix(a);
    let skipped = skip_unavailable(&mut cells);
    check_plan(a, &cells, max_rep)?;
    std::fs::create_dir_all(a.out.join("hgrm"))
        .with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::write(a.out.join("command.txt"), format!("{command}\n"))?;
    if a.rates.is_empty() {
        let _ = std::fs::remove_file(a.out.join(CURVE_FILE));
    } else if let Some(first) = cells.first() {
        let capacity = write_curve_file(a, exe, first)?;
        if auto_rates {
            cells = discover_rates(a, exe, cells, capacity)?;
            let runs: usize = cells.iter().map(|c| c.arms.len()).sum::<usize>() * max_rep;
            let planned = (a.warmup + a.duration).as_secs_f64() * runs as f64;
            if planned > limits::MAX_DURATION.as_secs_f64() {
                bail!(
                    "the rates found make {runs} runs, {planned:.0} s of measuring, more than a \
                     day: give fewer repeats or a shorter --duration"
                );
            }
        }
    }
    let skipped_path = a.out.join(SKIPPED_FILE);
    if skipped.is_empty() {
        let _ = std::fs::remove_file(&skipped_path);
    } else {
        std::fs::write(&skipped_path, skipped)?;
    }
    let _ = std::fs::remove_file(a.out.join(CONVERGENCE_FILE));
    Ok(cells)
}

/// Every run checked before the first starts (a bad cell found after an hour
/// of sweeping would be an hour lost), the whole plan within a day, and the
/// kernel's system-call count tried once here rather than found missing in
/// every run.
fn check_plan(a: &SweepArgs, cells: &[Cell], max_rep: usize) -> Result<()> {
    let Some(total) = cells
        .iter()
        .map(|c| c.arms.len())
        .sum::<usize>()
        .checked_mul(max_rep)
    else {
        bail!("--repeat {max_rep} is too large");
    };
    if total == 0 {
        bail!("the matrix is empty");
    }
    let any_uring = cells
        .iter()
        .any(|c| c.arms.iter().any(|arm| arm.backend == Backend::Uring));
    if !a.load.uring_features.is_plain() && !any_uring {
        bail!("--uring-features is for uring arms, and --backends has none");
    }
    if a.count_syscalls {
        crate::sys::SyscallCounter::attach(std::process::id()).context(
            "--count-syscalls: cannot count system calls from the kernel (needs tracefs at \
             /sys/kernel/tracing and root, CAP_PERFMON or kernel.perf_event_paranoid <= 1)",
        )?;
    }
    let planned = (a.warmup + a.duration).as_secs_f64() * total as f64;
    if planned > limits::MAX_DURATION.as_secs_f64() {
        bail!(
            "{total} runs of --warmup + --duration plan {planned:.0} s of measuring, longer than \
             the bound of one day ({} s): split the sweep",
            limits::MAX_DURATION.as_secs()
        );
    }
    for cell in cells {
        for arm in &cell.arms {
            let s = cell.scenario;
            crate::loadgen::check(&a.arm_args(arm, s))
                .with_context(|| format!("{} {s}", arm.label))?;
        }
    }
    Ok(())
}
