//! What a worker measures: latency histograms (whole window, per second, and
//! uncorrected in open loop), counts, and errors by kind; merged across workers.

use std::collections::BTreeMap;
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::loadgen::independence::Thinned;
use serde::{Deserialize, Serialize};

/// Largest latency recorded, µs (one hour); larger values are clamped.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A latency histogram in µs.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// A latency histogram for one interval, µs: two significant digits (1 %
/// resolution) keep a window of thousands of intervals in memory.
pub fn new_interval_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("valid histogram bounds")
}

/// Errors counted by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Echoed bytes that differ from what was sent.
    pub corrupt: u64,
    /// Replies that arrived later than `--timeout`.
    pub late: u64,
    /// Replies that never arrived (connection closed, or still missing at the end).
    pub missing: u64,
    /// Connections the server closed or reset during the run.
    pub closed_by_server: u64,
    /// Connections that could not be established.
    pub connect_failed: u64,
    /// Chat: a line received twice by one client.
    pub duplicated: u64,
    /// Chat: a line received after a later one from the same sender.
    pub reordered: u64,
}

impl ErrorCounts {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.corrupt
            + self.late
            + self.missing
            + self.closed_by_server
            + self.connect_failed
            + self.duplicated
            + self.reordered
    }
    fn add(&mut self, o: &ErrorCounts) {
        self.corrupt += o.corrupt;
        self.late += o.late;
        self.missing += o.missing;
        self.closed_by_server += o.closed_by_server;
        self.connect_failed += o.connect_failed;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
    }
}

/// What a worker measured; merged across workers with [`WorkerResult::merge`].
#[derive(Debug, Clone)]
pub struct WorkerResult {
    /// Latency, µs; in open loop from the intended send time (corrected).
    pub latency: Histogram<u64>,
    /// Open loop: latency from the actual send time (uncorrected).
    pub latency_uncorrected: Histogram<u64>,
    /// Latency per interval of the measured window.
    pub intervals: Vec<Histogram<u64>>,
    /// Echoes completed inside the measured window.
    pub requests: u64,
    /// Messages sent inside the measured window (by intended send time).
    pub sent: u64,
    /// Open loop: messages due inside the window that were never sent (the
    /// connection's in-flight cap was reached and stayed reached).
    pub unsent: u64,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Connect failures by cause.
    pub connect_failures: BTreeMap<String, u64>,
    /// Active connections established.
    pub connected_active: usize,
    /// Idle connections established.
    pub connected_idle: usize,
    /// Chat: lines from other programs (hostile clients) seen and ignored.
    pub foreign_lines: u64,
    /// Open loop: what the generator's self-check reads.
    pub check: CheckSamples,
    /// The largest timer slack a worker thread ran with, ns (read by the
    /// worker itself: what its timed waits were allowed to overshoot).
    pub timer_slack_ns: u64,
}

/// Most send gaps a worker keeps for the fit test (a uniform random sample:
/// reservoir sampling).
pub const MAX_GAPS: usize = 5000;
/// Most latency samples a worker keeps, in completion order, for the
/// independence check (2 MiB; beyond it the series is thinned evenly).
pub const MAX_LAT_SAMPLES: usize = 1 << 18;

/// Open loop: samples for the generator to check itself.
#[derive(Debug, Clone)]
pub struct CheckSamples {
    /// Messages sent during the window (by actual send time).
    pub sent: u64,
    /// Times a message came due in the window on a connection whose in-flight
    /// window was full: the server, not the generator, held it back.
    pub held: u64,
    /// How late each message sent in the window left after its intended time, µs.
    pub send_lag: Histogram<u64>,
    /// Gaps between two sends of one connection, in units of the mean gap
    /// (exponential with mean 1 for Poisson arrivals).
    pub gaps: Vec<f64>,
    /// Gaps seen (the reservoir keeps at most [`MAX_GAPS`]).
    pub gaps_seen: u64,
    /// Latency samples in completion order, one series per worker, µs
    /// (every one, or every k-th once a series reached its cap).
    pub latencies: Vec<Thinned>,
}

impl Default for CheckSamples {
    fn default() -> Self {
        CheckSamples {
            sent: 0,
            held: 0,
            send_lag: new_histogram(),
            gaps: Vec::new(),
            gaps_seen: 0,
            latencies: vec![Thinned::new(MAX_LAT_SAMPLES)],
        }
    }
}

impl CheckSamples {
    /// Offer a gap to the reservoir.
    pub fn add_gap(&mut self, gap: f64, rng: &mut impl rand::Rng) {
        self.gaps_seen += 1;
        if self.gaps.len() < MAX_GAPS {
            self.gaps.push(gap);
        } else {
            let j = rng.gen_range(0..self.gaps_seen);
            if (j as usize) < MAX_GAPS {
                self.gaps[j as usize] = gap;
            }
        }
    }

    /// Add a latency sample to this worker's series.
    pub fn add_latency(&mut self, us: u64) {
        let series = self.latencies.last_mut().expect("one series per worker");
        series.push(us as f64);
    }

    fn merge(&mut self, other: CheckSamples) {
        self.sent += other.sent;
        self.held += other.held;
        self.send_lag.add(&other.send_lag).expect("same bounds");
        self.gaps.extend(other.gaps);
        self.gaps_seen += other.gaps_seen;
        self.latencies.extend(other.latencies);
    }
}

impl Default for WorkerResult {
    fn default() -> Self {
        WorkerResult {
            latency: new_histogram(),
            latency_uncorrected: new_histogram(),
            intervals: Vec::new(),
            requests: 0,
            sent: 0,
            unsent: 0,
            errors: ErrorCounts::default(),
            connect_failures: BTreeMap::new(),
            connected_active: 0,
            connected_idle: 0,
            foreign_lines: 0,
            check: CheckSamples::default(),
            timer_slack_ns: 0,
        }
    }
}

impl WorkerResult {
    /// Combine two workers' results (histograms merged with `add`).
    pub fn merge(mut self, other: WorkerResult) -> WorkerResult {
        self.latency.add(&other.latency).expect("same bounds");
        self.latency_uncorrected
            .add(&other.latency_uncorrected)
            .expect("same bounds");
        if self.intervals.len() < other.intervals.len() {
            self.intervals
                .resize_with(other.intervals.len(), new_interval_histogram);
        }
        for (a, b) in self.intervals.iter_mut().zip(&other.intervals) {
            a.add(b).expect("same bounds");
        }
        self.requests += other.requests;
        self.sent += other.sent;
        self.unsent += other.unsent;
        self.errors.add(&other.errors);
        for (k, v) in other.connect_failures {
            *self.connect_failures.entry(k).or_default() += v;
        }
        self.connected_active += other.connected_active;
        self.connected_idle += other.connected_idle;
        self.foreign_lines += other.foreign_lines;
        self.check.merge(other.check);
        self.timer_slack_ns = self.timer_slack_ns.max(other.timer_slack_ns);
        self
    }
}

/// Latency in µs between two instants, clamped to the histogram's range.
pub fn us_between(from: Instant, to: Instant) -> u64 {
    (to.saturating_duration_since(from).as_micros() as u64).clamp(1, MAX_LATENCY_US)
}
