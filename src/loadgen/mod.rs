//! The load generator: starts the server as a child process (or drives an
//! external one), opens the connections, runs warm-up and the measured window
//! on a rayon pool of event-loop workers, and turns the measurements plus the
//! server's counter deltas into a [`RunResult`].
//!
//! Phases: connect (paced at `--connect-rate`) → wait until the server has
//! accepted every connection → warm-up → measured window → drain (replies
//! still in flight, at most `--timeout`) → close. The server is snapshotted at
//! both ends of the measured window, so warm-up is excluded from its figures
//! as from the client's. The run has a deadline at every step: a server that
//! dies or stops answering ends it within seconds, with a message.

mod args;
pub mod chaos;
mod child;
pub mod client;
pub mod command;
mod coordinate;
pub mod doctor;
pub mod independence;
pub mod intervals;
mod machine;
pub mod merge;
pub mod message;
pub mod netlab;
mod progress;
pub mod reliability;
pub mod result;
mod run;
pub mod sampler;
pub mod selfcheck;
mod setup;
pub mod sliced;
pub mod sweep;

pub use crate::record::{ChaosOutcome, RunOutput, RunResult};
pub use args::{Repeat, RunArgs, AUTO_MIN_REPEAT};
pub use child::ServerChild;
pub use machine::{CpuTimes, Machine};
pub use result::now_rfc3339;

pub use progress::{NoProgress, Progress};
pub use run::run;
pub use setup::check;
