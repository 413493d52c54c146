//! The result model: what a run (and a reliability scenario) produced, as
//! plain data. The load generator fills it, the writers in [`crate::report`]
//! render it, tests read it back; it depends on neither, so neither depends
//! on the other.

mod interval;
mod reliability;
mod run;

pub use interval::IntervalRow;

pub use reliability::{ReliabilityRow, Scenario, Verdict};
pub use run::{ChaosOutcome, ChaosStats, Check, LoadModel, RunOutput, RunResult, Warnings};
