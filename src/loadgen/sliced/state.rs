//! What a sliced comparison holds between slices: every arm's server and
//! connections, and what one slice counts.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::loadgen::args::RunArgs;
use crate::loadgen::child::ServerChild;
use crate::loadgen::client::measure::new_histogram;
use crate::loadgen::client::sendbuf::SendBuf;
use crate::loadgen::machine::Machine;
use crate::loadgen::message::Verifier;
use crate::loadgen::run::AffinityGuard;
use crate::loadgen::sampler::PagePath;
use crate::mux::Epoll;
use crate::server::Protocol;
use crate::sys;

/// Default slice length.
pub const DEFAULT_SLICE: Duration = Duration::from_millis(500);
/// Shortest slice: a server snapshot costs about a millisecond at each edge.
pub const MIN_SLICE: Duration = Duration::from_millis(50);

/// Whether an arm can be run in slices: a server of our own, echo, one loop.
pub fn supports(args: &RunArgs) -> Result<(), String> {
    if args.addr.is_some() || args.backend.is_none() {
        return Err("an external server (slices start every arm's server)".into());
    }
    if args.load.workload != Protocol::Echo {
        return Err("the chat workload (slices drive echo)".into());
    }
    if args.load.reactors.is_some() {
        return Err("--reactors".into());
    }
    if args.count_syscalls {
        return Err("--count-syscalls (its counters are per run)".into());
    }
    Ok(())
}

/// One active connection.
pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) id: u32,
    pub(super) verifier: Verifier,
    pub(super) next_seq: u64,
    /// Send time of each message in flight, oldest first.
    pub(super) in_flight: VecDeque<Instant>,
    pub(super) out: SendBuf,
    pub(super) open: bool,
}

/// One arm: its server, its connections and its settings.
pub(super) struct Arm {
    pub(super) label: String,
    pub(super) args: RunArgs,
    pub(super) server: ServerChild,
    pub(super) _page: PagePath,
    pub(super) conns: Vec<Conn>,
    /// Held open, never used: the idle connections the server watches.
    pub(super) _idle: Vec<TcpStream>,
    /// Token of `conns[0]`.
    pub(super) first_token: usize,
}

/// What one slice measured on the client's side.
pub(super) struct Tally {
    pub(super) requests: u64,
    pub(super) corrupt: u64,
    pub(super) missing: u64,
    pub(super) closed: u64,
    /// Open loop: how late sends left after their intended time, µs.
    pub(super) send_lag: hdrhistogram::Histogram<u64>,
    /// Open loop: messages due in the slice that were never sent.
    pub(super) unsent: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            requests: 0,
            corrupt: 0,
            missing: 0,
            closed: 0,
            send_lag: new_histogram(),
            unsent: 0,
        }
    }
}

/// Every arm's server, up and connected; see the module docs.
pub struct Sliced {
    pub(super) arms: Vec<Arm>,
    pub(super) mux: Epoll,
    /// Token → (arm, connection).
    pub(super) tokens: Vec<(usize, usize)>,
    pub(super) buf: Vec<u8>,
    pub(super) server_cpu: Option<usize>,
    pub(super) client_cpus: String,
    pub(super) machine: Machine,
    pub(super) warmup: Duration,
    pub(super) rng: rand::rngs::SmallRng,
    /// What each cycle's random choices start from (with the cycle number).
    pub(super) seed: u64,
    pub(super) _affinity: Option<AffinityGuard>,
    /// This thread paces open-loop sends: 1 ns of timer slack while it does.
    pub(super) _precise: Option<sys::PreciseTimers>,
}
