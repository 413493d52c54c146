//! How a run tells its caller how far it is (a progress bar, or nothing).

use std::time::Duration;

/// Live progress for the caller (a progress bar): called about ten times a second.
pub trait Progress {
    /// `elapsed` of `total` run time; `completed` echoes so far (all phases).
    fn update(&mut self, phase: &str, elapsed: Duration, total: Duration, completed: u64);
    /// The run is over.
    fn finish(&mut self);
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {
    fn update(&mut self, _: &str, _: Duration, _: Duration, _: u64) {}
    fn finish(&mut self) {}
}
