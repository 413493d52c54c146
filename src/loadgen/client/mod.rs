//! The load generator's client side: one driver ([`driver`]) with a workload
//! seam ([`driver::Workload`]: [`echo`], [`chat`], and whatever comes next),
//! and the pieces every workload shares, one responsibility per file:
//! coordination with the run ([`coordination`]), the connect phase
//! ([`connect`]), the open-loop schedule ([`schedule`]), pending output
//! ([`sendbuf`]) and what is measured ([`measure`]).

pub mod chat;
pub mod connect;
pub mod coordination;
pub mod driver;
pub mod echo;
pub mod measure;
pub mod schedule;
pub mod sendbuf;

pub use coordination::{Shared, Timeline, WorkerPlan};
pub use measure::{new_histogram, ErrorCounts, WorkerResult};
pub use schedule::OPEN_LOOP_MAX_IN_FLIGHT;

use crate::server::Protocol;

/// Run one worker: connect its shard, then drive it with the workload of
/// `protocol` to the end of the run.
pub fn run(protocol: Protocol, plan: &WorkerPlan, shared: &Shared) -> WorkerResult {
    match protocol {
        Protocol::Echo => driver::run(echo::Echo, plan, shared),
        Protocol::Chat => driver::run(chat::Chat, plan, shared),
    }
}
