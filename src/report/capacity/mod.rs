//! Load–latency curves in the report: for each open-loop series (scenarios
//! that differ only in the offered rate), one table of p99 against offered
//! load per arm, and each arm's **capacity at the latency target** — the
//! highest offered rate whose p99 stays under the SLO, at every lower rate
//! too, with the achieved rate at least 95 % of the offered one.
//!
//! Uncertainty: a point's p99 is the geometric mean over repeats with its
//! 95 % t-interval (one run: the order-statistics interval of its p99). The
//! capacity's range runs from the highest rate whose p99 *interval* is wholly
//! under the SLO (and every lower one's) to the highest rate whose interval
//! still reaches under it — between two measured rates the answer is not
//! known more finely than the rates given.
//!
//! The numbers are worked out in `curve.rs` (points, capacities) and
//! `validity.rs` (self-check counts, the generator's clock); `section.rs`
//! writes them as Markdown.

mod curve;
mod section;
mod validity;

pub use curve::{arm_capacities, capacity, curves, ArmCapacity, Capacity, Point};
pub use section::render;
pub use validity::{clock, count_validity, Clock, Validity, CLIENT_LIMIT, LATE_P99_TARGET_US};
