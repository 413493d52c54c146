//! `loadgen sweep`: a matrix of runs into one folder — `runs.csv` (one row per
//! run), one `.hgrm` per run, and `REPORT.md`, rewritten after every run so an
//! interruption or a crash keeps what finished.
//!
//! Within each repeat (round) every scenario runs once on every arm, arms
//! interleaved (and their order rotated from one round to the next), so drift
//! on a shared machine hits all arms alike, and the runs of one round are
//! paired in the report's ratios. An arm is a backend; a backend named twice
//! (`--backends epoll-et,epoll-et`) runs as two arms, `epoll-et#1` and
//! `epoll-et#2` — the A/A check that the method does not invent differences.
//!
//! `--repeat auto` repeats each cell until the 95 % confidence interval of
//! its key figures (server CPU µs per request, req/s) is within
//! `--target-ci` on every arm, or `--max-repeat` rounds were run; cells that
//! did not converge are listed in REPORT.md, never hidden.
//!
//! With `--interleave slices` (the default for closed-loop echo) the arms
//! take turns in slices instead of rounds: `sweep/sliced.rs` drives it.
//!
//! The folder records the sweep's plan; run again on it, a sweep resumes
//! (`sweep/resume.rs`): only the runs missing run, in the same order.

mod args;
mod arm;
mod leftovers;
mod matrix;
mod output;
mod rates;
mod resume;
mod rounds;
mod run;
mod sliced;
#[cfg(test)]
mod tests;

pub use args::{Interleave, Preset, RateArg, SweepArgs};
pub use arm::{arms, parse_arm_spec, Arm, ArmSpec};
pub use leftovers::{SET_ASIDE_FILE, TORN_FILE};
pub use matrix::{matrix, Cell, Scenario};
pub use output::CURVE_FILE;
pub use output::{
    converged, figures_dir, render_report, write_report, write_report_files, SweepSummary,
};
pub use resume::PLAN_FILE;
pub use run::run;
