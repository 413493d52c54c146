//! One interval of a run's measured window: the client's and the server's
//! figures over the same stretch of time, and whether the interval rule
//! left it out (see `loadgen::intervals`).

use serde::{Deserialize, Serialize};

/// One interval. Field order is the `--intervals` CSV column order; `None` is
/// an empty cell (server figures of an external server).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalRow {
    /// 0-based position in the window.
    pub index: usize,
    /// Start, seconds after the window began.
    pub start_s: f64,
    /// Length, s (the last one may be shorter).
    pub length_s: f64,
    /// Echoes (chat: deliveries) of messages intended in this interval.
    pub requests: u64,
    /// Requests per second.
    pub req_per_s: f64,
    /// Median latency, µs.
    pub lat_p50_us: u64,
    /// 99th percentile, µs.
    pub lat_p99_us: u64,
    /// Maximum, µs.
    pub lat_max_us: u64,
    /// Load generator CPU, percent of its CPUs.
    pub client_cpu_pct: f64,
    /// Host CPU steal, percent.
    pub steal_pct: f64,
    /// The calibration probe's time, µs (same work every interval).
    pub probe_us: f64,
    /// Server CPU, percent of one CPU.
    pub server_cpu_pct: Option<f64>,
    /// Server CPU µs per request.
    pub server_cpu_us_per_req: Option<f64>,
    /// Server system calls per request (as the run's column).
    pub server_syscalls_per_req: Option<f64>,
    /// Server events (wake-ups) per request.
    pub server_events_per_req: Option<f64>,
    /// Bytes the server sent.
    pub server_bytes_out: Option<u64>,
    /// Every CPU's busy time (all processes and contexts) per request, µs.
    #[serde(default)]
    pub machine_cpu_us_per_req: Option<f64>,
    /// Of that, soft interrupts, µs per request.
    #[serde(default)]
    pub machine_softirq_us_per_req: Option<f64>,
    /// The server CPU's busy time (every context) per request, µs.
    #[serde(default)]
    pub server_core_us_per_req: Option<f64>,
    /// The load generator was at its CPU limit: this interval's throughput
    /// measures the client, not the server.
    pub client_limited: bool,
    /// Why the interval was left out of the run's interval figures
    /// (`steal`, `probe`, `stall`, `short`, `;`-joined); empty: kept.
    pub excluded: String,
}

impl IntervalRow {
    /// Kept by the interval rule.
    pub fn kept(&self) -> bool {
        self.excluded.is_empty()
    }
}
