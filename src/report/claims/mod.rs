//! Claims: the numbers a page (the README, `docs/*.md`) states about a
//! committed result, computed from that result's `runs.csv` by the same code
//! that writes its `REPORT.md`, so a page cannot drift from its data.
//!
//! A page marks each such number inline (invisible when rendered):
//!
//! ```text
//! select needs <!-- claim results/reference cpu-ratio/c10-i1000-m64-b16384/select -->3.547×✱ (3.108–4.048)<!-- /claim -->
//! ```
//!
//! `loadgen claims DIR` lists every key a folder offers with its value;
//! `loadgen claims --update PAGE…` rewrites the marked values from the
//! committed rows and `--check` fails where a page and its data disagree
//! (`tests/committed_results.rs` runs the check on every page). A marker
//! may name another baseline for its ratios: `<!-- claim FOLDER KEY vs ARM -->`;
//! FOLDER may also be a CSV of rows (`results/models/reactors/one.csv`).
//!
//! Keys (SCN is a scenario's id, e.g. `c10-i1000-m64-b16384`, with `-pD`
//! for pipeline D, `-oR` for an open-loop rate R, `-chat`, `-drain`; FIG is a
//! figure's short name, [`FIGURES`]):
//! - `runs`, `scenarios`, `arms`: counts; `rounds`: runs per arm and
//!   scenario, `3` or `3 to 5`; `minutes`: the wall-clock time the runs span;
//! - `FIG/SCN/ARM`: the arm's estimate with its 95 % interval (as in the
//!   report's tables);
//! - `FIG-ratio/SCN/ARM`: its ratio to the baseline, paired by round, with
//!   the interval and `✱` when it excludes 1;
//! - `FIG-range/SCN/ARM`: the lowest and highest run (`3,996` when all agree);
//! - `FIG-change/SCN..SCN2/ARM`: the arm's figure in SCN2 over SCN, paired
//!   by round.

mod source;
mod splice;

pub use source::{scenario_id, Source, FIGURES};
pub use splice::{check_pages, markers, update_pages, Marker, Mismatch};

#[cfg(test)]
mod tests;
