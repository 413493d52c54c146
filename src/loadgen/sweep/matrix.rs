//! The sweep's matrix: which scenarios on which arms (`arm.rs`), which cells this machine cannot run, and the settings of
//! one run of a cell.

use std::fmt::Write as _;

use super::args::{Preset, RateArg, SweepArgs};
use super::arm::{arms, Arm, ArmSpec};
use crate::backend::Backend;
use crate::loadgen::args::RunArgs;
use crate::server::uring_features::UringFeatures;

/// One point of the matrix (without the backend).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Active connections.
    pub conns: usize,
    /// Idle connections.
    pub idle: usize,
    /// Message size.
    pub msg_size: usize,
    /// Server read size.
    pub read_buf: usize,
    /// Open loop: offered messages per second (`--rates`); `None`: closed loop.
    pub rate: Option<f64>,
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "conns={} idle={} msg={} read-buf={}",
            self.conns, self.idle, self.msg_size, self.read_buf
        )?;
        match self.rate {
            Some(r) => write!(f, " rate={r}"),
            None => Ok(()),
        }
    }
}

/// A scenario and the arms it runs on.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The scenario.
    pub scenario: Scenario,
    /// Its arms.
    pub arms: Vec<Arm>,
}

fn cross(
    backends: &[ArmSpec],
    conns: &[usize],
    idle: &[usize],
    msg: &[usize],
    rb: &[usize],
) -> Vec<Cell> {
    let mut out = Vec::new();
    for &read_buf in rb {
        for &msg_size in msg {
            for &idle in idle {
                for &conns in conns {
                    out.push(Cell {
                        scenario: Scenario {
                            conns,
                            idle,
                            msg_size,
                            read_buf,
                            rate: None,
                        },
                        arms: arms(backends),
                    });
                }
            }
        }
    }
    out
}

/// The matrix a sweep runs, in order, without repeats; with `--rates`, each
/// scenario at each rate, ascending (a load–latency curve per arm).
pub fn matrix(a: &SweepArgs) -> Vec<Cell> {
    let cells = base_matrix(a);
    let mut rates: Vec<f64> = a
        .rates
        .iter()
        .filter_map(|r| match r {
            RateArg::At(x) => Some(*x),
            RateArg::Auto => None,
        })
        .collect();
    if rates.is_empty() {
        return cells; // closed loop, or `auto` (the rates are found after calibrating)
    }
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    cells
        .into_iter()
        .flat_map(|c| {
            rates.iter().map(move |&r| Cell {
                scenario: Scenario {
                    rate: Some(r),
                    ..c.scenario
                },
                arms: c.arms.clone(),
            })
        })
        .collect()
}

fn base_matrix(a: &SweepArgs) -> Vec<Cell> {
    match a.preset {
        None => cross(&a.backends, &a.conns, &a.idle, &a.msg_size, &a.read_buf),
        Some(Preset::Reference) => {
            // The preset fixes the scenarios; `--backends` (default: all) picks who runs them.
            let b = &a.backends;
            let mut cells = cross(b, &[1, 10, 100, 1000], &[0], &[64], &[16384]);
            // 10 active with 0 idle is already above.
            cells.extend(cross(b, &[10], &[100, 500, 1000, 5000], &[64], &[16384]));
            // The textbook's 4-byte experiment; 16384 at 10 active is above.
            cells.extend(cross(b, &[10], &[0], &[64], &[4]));
            cells
        }
    }
}

/// Backends a sweep skipped and why, one per line (read back into REPORT.md).
pub(super) const SKIPPED_FILE: &str = "skipped.txt";

/// Drop backends this machine cannot run (io_uring disabled or missing) from
/// the matrix, with a warning; returns one line per skipped backend.
pub(super) fn skip_unavailable(cells: &mut [Cell]) -> String {
    let mut lines = String::new();
    let needs: Vec<Backend> = Backend::ALL
        .into_iter()
        .filter(|b| {
            b.needs_io_uring() && cells.iter().any(|c| c.arms.iter().any(|a| a.backend == *b))
        })
        .collect();
    if needs.is_empty() {
        return lines;
    }
    if let Err(e) = crate::sys::uring::available() {
        for b in needs {
            eprintln!("warning: skipping {b}: {e}");
            let _ = writeln!(lines, "{b}: {e}");
        }
        for cell in cells.iter_mut() {
            cell.arms.retain(|a| !a.backend.needs_io_uring());
        }
    }
    lines
}

impl SweepArgs {
    /// The settings of one run of `arm` in scenario `s`.
    pub(crate) fn arm_args(&self, arm: &Arm, s: Scenario) -> RunArgs {
        let mut r = self.run_args(arm.backend, s);
        if !arm.features.is_plain() {
            r.load.uring_features = arm.features;
        }
        r
    }

    /// The settings of one run of `backend` in scenario `s`.
    pub(crate) fn run_args(&self, backend: Backend, s: Scenario) -> RunArgs {
        let mut r = RunArgs::with_defaults(backend);
        r.load = self.load.clone();
        if backend != Backend::Uring {
            // --uring-features is for the sweep's uring arms.
            r.load.uring_features = UringFeatures::default();
        }
        r.conns = s.conns;
        r.idle = s.idle;
        r.msg_size = s.msg_size;
        r.read_buf = s.read_buf;
        r.rate = s.rate;
        r.warmup = self.warmup;
        r.duration = self.duration;
        r.allow_errors = true;
        r.target_ci = self.target_ci;
        r.count_syscalls = self.count_syscalls;
        r.csv = self.out.join("runs.csv");
        r.quiet = true;
        r
    }
}
