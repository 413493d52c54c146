//! What the coordinator and the workers share: the run's phases, live
//! counters, and each worker's plan.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The phases of a run, published by the coordinator once every worker has connected.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// Start of the measured window (end of warm-up).
    pub measure_start: Instant,
    /// End of the measured window: no new messages after it.
    pub measure_end: Instant,
    /// Replies still in flight at this instant count as missing.
    pub drain_end: Instant,
    /// Length of the intervals the window is measured in.
    pub interval: Duration,
}

/// State shared between the coordinator and the workers.
pub struct Shared {
    /// Workers that finished connecting.
    pub connected: AtomicUsize,
    /// Connections established so far (active and idle).
    pub established: AtomicUsize,
    /// Active connections open now (after connecting; falls as errors close them).
    pub open_conns: AtomicUsize,
    /// Set once by the coordinator: the run's phases.
    pub timeline: OnceLock<Timeline>,
    /// Stop now (server died, deadline passed, interrupted).
    pub abort: AtomicBool,
    /// Echoes (chat: deliveries) completed so far, all phases (for progress and liveness).
    pub completed: AtomicU64,
    /// Chat: the clock that lines' send timestamps count from.
    pub epoch: Instant,
    /// Chat: lines sent so far by each sender, all phases.
    pub sent_total: Vec<AtomicU64>,
}

impl Shared {
    /// Shared state for a run with `senders` chat senders (0 for echo).
    pub fn new(senders: usize) -> Shared {
        Shared {
            connected: AtomicUsize::new(0),
            established: AtomicUsize::new(0),
            open_conns: AtomicUsize::new(0),
            timeline: OnceLock::new(),
            abort: AtomicBool::new(false),
            completed: AtomicU64::new(0),
            epoch: Instant::now(),
            sent_total: (0..senders).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// What one worker does.
#[derive(Debug, Clone)]
pub struct WorkerPlan {
    /// Server address.
    pub addr: SocketAddr,
    /// Global ids of this worker's active connections.
    pub conn_ids: Vec<u32>,
    /// Idle connections to open.
    pub idle: usize,
    /// Total active connections of the run (to spread open-loop phases).
    pub total_conns: usize,
    /// Pause between two connects of this worker.
    pub connect_interval: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Message size.
    pub msg_size: usize,
    /// Closed loop: messages in flight per connection.
    pub pipeline: usize,
    /// Open loop: messages per second per connection.
    pub rate_per_conn: Option<f64>,
    /// Replies slower than this are late.
    pub timeout: Duration,
    /// Chat: clients with ids below this send lines; 0 for echo.
    pub senders: usize,
    /// Open loop: how sends are spaced.
    pub arrivals: super::schedule::Arrivals,
    /// Open loop: how a due send is waited for.
    pub pacing: super::schedule::Pacing,
    /// Seed of this worker's random draws (arrivals, samples).
    pub seed: u64,
}
