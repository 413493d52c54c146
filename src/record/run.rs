//! One run's result: the flat row (one CSV line) and what the writers need
//! beside it. Written by the load generator, read by the report writers and
//! by tests; it imports neither.

use std::fmt;

use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::server::{Protocol, ReadPolicy};

/// How load is offered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadModel {
    /// Each connection sends its next message when an echo completes.
    #[default]
    Closed,
    /// Messages are sent on a schedule (`--rate`), whatever the server does.
    Open,
}

impl fmt::Display for LoadModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoadModel::Closed => "closed",
            LoadModel::Open => "open",
        })
    }
}

/// Warnings that make a run suspect. One CSV cell, the warnings joined with
/// `"; "` (no warning contains that separator), so runs.csv stays one row per run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Warnings(pub Vec<String>);

impl Warnings {
    /// No warning.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The warnings.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }
    /// Whether one of them mentions `needle`.
    pub fn any_contains(&self, needle: &str) -> bool {
        self.0.iter().any(|w| w.contains(needle))
    }
}

const WARNING_SEPARATOR: &str = "; ";

impl Serialize for Warnings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.join(WARNING_SEPARATOR))
    }
}

impl<'de> Deserialize<'de> for Warnings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let joined = String::deserialize(d)?;
        Ok(Warnings(
            joined
                .split(WARNING_SEPARATOR)
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect(),
        ))
    }
}

/// One run. Field order is the CSV column order; `None` is an empty cell
/// (server figures when driving an external server, uncorrected latency in
/// closed loop). Latencies in µs; per-request figures divide by `requests`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
// Columns added later read as their defaults, so older runs.csv files still load.
#[serde(default)]
pub struct RunResult {
    /// When the run ended, RFC 3339 UTC.
    pub timestamp: String,
    /// `echo` or `chat` (the protocol driven). For chat, a "request" is a
    /// delivery — one line reaching one client — in every per-request column.
    pub workload: Protocol,
    /// Backend name, or the external server's label.
    pub backend: String,
    /// Active connections asked for.
    pub conns: usize,
    /// Idle connections asked for.
    pub idle: usize,
    /// Message size, bytes.
    pub msg_size: usize,
    /// `closed` or `open`.
    pub load_model: LoadModel,
    /// Closed loop: messages in flight per connection.
    pub pipeline: usize,
    /// Open loop: target messages/s.
    pub target_rate: Option<f64>,
    /// Server read size, bytes.
    pub read_buf: usize,
    /// Server read policy (level-triggered backends).
    pub read_policy: ReadPolicy,
    /// Server output cap per connection, bytes.
    pub max_pending: usize,
    /// External server address (empty: our own server on loopback).
    pub addr: String,
    /// Warm-up, s.
    pub warmup_s: f64,
    /// Requested measured duration, s.
    pub duration_s: f64,
    /// Reply timeout, s.
    pub timeout_s: f64,
    /// Connections opened per second.
    pub connect_rate: f64,
    /// Connect timeout, s.
    pub connect_timeout_s: f64,
    /// Measured window, s (the measured instants, not the requested duration).
    pub measured_s: f64,
    /// Worker threads.
    pub threads: usize,
    /// CPU the server was pinned to (empty: not pinned).
    pub server_cpu: Option<usize>,
    /// CPUs the workers were pinned to, `;`-separated (empty: not pinned).
    pub client_cpus: String,
    /// Active connections established.
    pub connected: usize,
    /// Idle connections established.
    pub connected_idle: usize,
    /// Chat: clients that send.
    pub senders: Option<usize>,
    /// Chat: lines sent in the measured window.
    pub lines_sent: Option<u64>,
    /// Chat: lines from other programs (hostile clients) seen and ignored.
    pub foreign_lines: Option<u64>,
    /// Echoes (chat: deliveries) completed in the measured window.
    pub requests: u64,
    /// Requests per second.
    pub req_per_s: f64,
    /// Echoed payload, MB/s (10^6 bytes, one direction).
    pub mb_per_s: f64,
    /// Open loop: messages due in the window that were never sent (each
    /// connection's in-flight cap stayed full: the server fell behind).
    pub unsent: Option<u64>,
    /// Open loop: achieved rate below 95% of the target (the server could not keep up).
    pub rate_not_met: Option<bool>,
    /// Open loop: `poisson` or `uniform` sends.
    pub arrivals: Option<String>,
    /// Open loop: the seed of the random draws.
    pub seed: Option<u64>,
    /// Open loop self-check: messages sent per second in the window.
    pub send_rate: Option<f64>,
    /// Open loop self-check: median lateness of sends after their intended time, µs.
    pub send_lag_p50_us: Option<u64>,
    /// Open loop self-check: 99th percentile of that.
    pub send_lag_p99_us: Option<u64>,
    /// Open loop self-check (Poisson): KS statistic of the send gaps against the exponential.
    pub send_fit_d: Option<f64>,
    /// Open loop self-check (Poisson): its p-value.
    pub send_fit_p: Option<f64>,
    /// Open loop: how a due send was waited for (`sleep`, `spin`, `hybrid`).
    pub pacing: Option<String>,
    /// Open loop: the largest timer slack a worker thread ran with, ns (1: precise).
    pub client_timer_slack_ns: Option<u64>,
    /// Open loop self-check: lag-1 autocorrelation of the latencies in completion order.
    pub lat_autocorr: Option<f64>,
    /// Open loop self-check: the stride of the independent subsample (every k-th latency
    /// in completion order, the smallest k at which the lag-1 autocorrelation is not
    /// significant).
    pub lat_stride: Option<usize>,
    /// Open loop self-check: latencies in that subsample.
    pub lat_independent_n: Option<usize>,
    /// Open loop self-check: measured seconds p99's interval would need to reach
    /// --target-ci (only when it did not).
    pub needed_s: Option<f64>,
    /// 95 % interval of p99 from order statistics (of the independent subsample in open
    /// loop), low end, µs.
    pub p99_ci_lo_us: Option<u64>,
    /// Its high end.
    pub p99_ci_hi_us: Option<u64>,
    /// Open loop self-check: `valid`, or what failed (`; `-separated); empty in closed loop.
    pub verdict: String,
    /// Latency minimum.
    pub lat_min_us: u64,
    /// Latency mean.
    pub lat_mean_us: f64,
    /// Median.
    pub lat_p50_us: u64,
    /// 90th percentile.
    pub lat_p90_us: u64,
    /// 99th percentile.
    pub lat_p99_us: u64,
    /// 99.9th percentile.
    pub lat_p999_us: u64,
    /// 99.99th percentile.
    pub lat_p9999_us: u64,
    /// Maximum.
    pub lat_max_us: u64,
    /// Open loop, uncorrected (from the actual send): median.
    pub uncorrected_p50_us: Option<u64>,
    /// Open loop, uncorrected: 99th percentile.
    pub uncorrected_p99_us: Option<u64>,
    /// All errors.
    pub errors: u64,
    /// Echoed bytes that differed.
    pub err_corrupt: u64,
    /// Replies later than the timeout.
    pub err_late: u64,
    /// Replies that never came.
    pub err_missing: u64,
    /// Connections closed or reset by the server.
    pub err_closed_by_server: u64,
    /// Connections that could not be made.
    pub err_connect: u64,
    /// Chat: lines a client received twice.
    pub err_duplicated: u64,
    /// Chat: lines that arrived after a later one of the same sender.
    pub err_reordered: u64,
    /// Connect failures by cause, e.g. `ECONNREFUSED:3;ETIMEDOUT:1`.
    pub connect_failure_causes: String,
    /// Server: bytes it echoed during the window (cross-check of `requests × msg_size`).
    pub server_bytes_out: Option<u64>,
    /// Server: connections it refused (max-conns, select's FD_SETSIZE), whole run.
    pub server_refused: Option<u64>,
    /// Server: connections closed because the peer reset them, whole run.
    pub server_resets: Option<u64>,
    /// Server: times reading a connection paused at the output cap, whole run.
    pub server_read_pauses: Option<u64>,
    /// Server CPU time (user + sys) per request, µs.
    pub server_cpu_us_per_req: Option<f64>,
    /// Server CPU utilisation over the window, percent of one CPU.
    pub server_cpu_pct: Option<f64>,
    /// Server syscalls per request: wait calls + reads + writes (readiness
    /// backends; uring-poll adds any extra `io_uring_enter`); for the
    /// completion backend (`uring`) its `io_uring_enter` calls, since its
    /// receives and sends are requests in the ring, not system calls.
    pub server_syscalls_per_req: Option<f64>,
    /// Server system calls per request as the kernel counted them
    /// (`--count-syscalls`: every system call of every server thread).
    #[serde(default)]
    pub server_syscalls_kernel_per_req: Option<f64>,
    /// Server wait calls (select/poll/epoll_wait) per request.
    pub server_waits_per_req: Option<f64>,
    /// Server reads per request.
    pub server_reads_per_req: Option<f64>,
    /// Server writes per request.
    pub server_writes_per_req: Option<f64>,
    /// Server epoll_ctl calls per request.
    pub server_ctl_per_req: Option<f64>,
    /// io_uring backends: `io_uring_enter` calls per request (empty for the others).
    pub server_enters_per_req: Option<f64>,
    /// io_uring backends: submission queue entries per request (empty for the others).
    pub server_sqes_per_req: Option<f64>,
    /// Events returned per wait call.
    pub server_events_per_wait: Option<f64>,
    /// Events returned per request: the server's wake-ups per message (level
    /// trigger reports a socket again while data remains; edge trigger once).
    pub server_events_per_req: Option<f64>,
    /// Descriptor slots the backend examined per wait call (select: maxfd+1, poll: n, epoll: ready).
    pub server_slots_per_wait: Option<f64>,
    /// Server context switches (voluntary + involuntary) per request.
    pub server_ctx_switches_per_req: Option<f64>,
    /// Server peak RSS, KiB.
    pub server_max_rss_kib: Option<u64>,
    /// Server RSS at the window's end minus its RSS before any connection,
    /// per connection (active and idle), KiB.
    #[serde(default)]
    pub server_rss_per_conn_kib: Option<f64>,
    /// `--reactors`: connections each reactor accepted, `a/b/…` (the balance).
    #[serde(default)]
    pub server_reactor_conns: Option<String>,
    /// Busy time of every CPU (user, system, irq, softirq; all processes) per request, µs:
    /// the one figure that holds the server, the client and the kernel's network work
    /// between them exactly once.
    pub machine_cpu_us_per_req: Option<f64>,
    /// Of that, soft interrupts (TCP receive and transmit processing), µs per request.
    pub machine_softirq_us_per_req: Option<f64>,
    /// Busy time of the server's CPU per request (every context, whoever it ran for), µs.
    pub server_core_us_per_req: Option<f64>,
    /// Of that, soft interrupts, µs per request.
    pub server_core_softirq_us_per_req: Option<f64>,
    /// How arms were interleaved in a sweep: `rounds` (one run per arm per round) or
    /// `slices` (every arm's server up at once, the load moved between them in slices;
    /// `repeat` is then the slice cycle). Empty for a single run.
    pub interleave: String,
    /// Load generator CPU utilisation, percent of its CPUs.
    pub client_cpu_pct: f64,
    /// Load generator CPU time per request, µs.
    pub client_cpu_us_per_req: Option<f64>,
    /// Host CPU steal during the window, percent.
    pub steal_pct: f64,
    /// `--steal-limit`: steal above this left an interval (or a cycle of slices) out;
    /// empty in rows made before the option, which used the default.
    pub steal_limit_pct: Option<f64>,
    /// Interval length, s (`--interval`).
    pub interval_s: f64,
    /// Intervals in the measured window.
    pub intervals: usize,
    /// Of those, left out by the interval rule (steal, probe shift, stall, short).
    pub intervals_excluded: usize,
    /// Kept intervals at which the load generator was at ≥ 90 % of its CPUs.
    pub intervals_client_limited: usize,
    /// Median over kept intervals: req/s (client-limited intervals left out
    /// while at least half remain).
    pub req_per_s_med: Option<f64>,
    /// Interquartile range of that.
    pub req_per_s_iqr: Option<f64>,
    /// Median over kept intervals: 99th percentile latency, µs.
    pub lat_p99_med_us: Option<f64>,
    /// Interquartile range of that.
    pub lat_p99_iqr_us: Option<f64>,
    /// Median over kept intervals: server CPU µs per request.
    pub server_cpu_us_per_req_med: Option<f64>,
    /// Interquartile range of that.
    pub server_cpu_us_per_req_iqr: Option<f64>,
    /// 95 % CI of `req_per_s_med`, low end (bootstrap over ≥ 10 kept intervals).
    pub req_per_s_med_lo: Option<f64>,
    /// Its high end.
    pub req_per_s_med_hi: Option<f64>,
    /// 95 % CI of `server_cpu_us_per_req_med`, low end (bootstrap over ≥ 10 kept intervals).
    pub server_cpu_us_per_req_med_lo: Option<f64>,
    /// Its high end.
    pub server_cpu_us_per_req_med_hi: Option<f64>,
    /// Median over kept intervals: server syscalls per request.
    pub server_syscalls_per_req_med: Option<f64>,
    /// Calibration probe (a fixed compute loop and cheap syscalls), µs: median over intervals.
    pub probe_us: Option<f64>,
    /// Interquartile range of that.
    pub probe_iqr_us: Option<f64>,
    /// Sweep: the repeat (round) this run belongs to, 1-based: runs of one round are paired.
    pub repeat: Option<usize>,
    /// Sweep: the arm, when one backend runs as several (`--backends epoll-et,epoll-et`
    /// gives `epoll-et#1` and `epoll-et#2`), or with io_uring features
    /// (`uring+fixed-files`); empty: the backend is the arm.
    pub arm: String,
    /// `uring`: the io_uring features the server used (`--uring-features`,
    /// `+`-joined); empty: the plain server, or another backend.
    pub uring_features: String,
    /// Warnings that make the run suspect (one CSV cell, `; `-separated; empty: none).
    pub warnings: Warnings,
    /// CPU model.
    pub cpu_model: String,
    /// Online CPUs.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// muxbench version.
    pub version: String,
    /// `--host-label`: which load host made the run.
    #[serde(default)]
    pub host_label: Option<String>,
    /// `loadgen merge`: how many load hosts the row combines (empty: one run).
    #[serde(default)]
    pub load_hosts: Option<usize>,
    /// The measured window's start on the load host's wall clock, Unix seconds.
    #[serde(default)]
    pub window_start_unix: Option<f64>,
    /// The measured window's end, Unix seconds.
    #[serde(default)]
    pub window_end_unix: Option<f64>,
}

/// What an open-loop run's self-check said, in classes the reports count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Closed loop, or a row from before the self-check.
    None,
    /// The measurement is valid.
    Valid,
    /// The server did not keep up: a measurement of saturation.
    Saturated,
    /// The generator kept its schedule, but p99's interval from the
    /// independent subsample was wider than `--target-ci`: a longer run is needed.
    Unconverged,
    /// The generator's measurement failed (arrivals, lateness, convergence).
    Invalid,
}

impl RunResult {
    /// The steal limit this row was measured under (`--steal-limit`, or the
    /// default for rows made before the option).
    pub fn steal_limit(&self) -> f64 {
        self.steal_limit_pct
            .unwrap_or(crate::stats::STEAL_LIMIT_PCT)
    }

    /// The self-check's verdict as a class (the verdict text starts with
    /// `server saturated` for a saturated run).
    pub fn check(&self) -> Check {
        match self.verdict.as_str() {
            "" => Check::None,
            "valid" => Check::Valid,
            v if v.starts_with("server saturated") => Check::Saturated,
            // The generator's own failures come first in a verdict.
            v if v.starts_with("p99 not converged") => Check::Unconverged,
            _ => Check::Invalid,
        }
    }

    /// The arm this run belongs to: `arm`, or the backend when there is one arm per backend.
    pub fn arm_label(&self) -> &str {
        if self.arm.is_empty() {
            &self.backend
        } else {
            &self.arm
        }
    }
}

/// Everything measured in one run, for the writers: the flat result and the
/// histograms behind its latency columns.
pub struct RunOutput {
    /// The flat result.
    pub result: RunResult,
    /// Latency histogram, µs (corrected in open loop).
    pub latency: Histogram<u64>,
    /// Open loop: uncorrected latency, µs.
    pub latency_uncorrected: Option<Histogram<u64>>,
    /// With hostile clients (`loadgen chaos`): what they did and how the server fared.
    pub chaos: Option<ChaosOutcome>,
    /// Latency per interval of the window.
    pub intervals: Vec<Histogram<u64>>,
    /// Interval length.
    pub interval: std::time::Duration,
    /// The intervals' rows (client and server figures, the rule's verdict).
    pub interval_rows: Vec<super::IntervalRow>,
    /// The server's snapshots at the window's edges (own server, or `--server-control`).
    pub server_window: Option<(crate::server::Snapshot, crate::server::Snapshot)>,
}

/// What a run with hostile clients adds to its output.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChaosOutcome {
    /// What the hostile clients did.
    pub stats: ChaosStats,
    /// The server echoed a fresh connection after the window.
    pub answers_fresh_connection: bool,
}

/// What the hostile clients did and saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChaosStats {
    /// Connections reset mid-message.
    pub resets: u64,
    /// Half-close exchanges completed.
    pub half_closes: u64,
    /// Half-close exchanges whose echo was not exactly what was sent (a server bug).
    pub half_close_failures: u64,
    /// Bytes pushed by never-readers.
    pub never_reader_bytes: u64,
    /// Bytes read by slow readers.
    pub slow_read_bytes: u64,
    /// Bytes sent by slowloris clients.
    pub slowloris_bytes: u64,
    /// Connect-and-drop attempts.
    pub connect_drops: u64,
    /// Hostile connects that failed (refused, timed out).
    pub connect_failures: u64,
    /// Chat: over-long lines answered with the error and a close.
    pub long_lines: u64,
    /// Chat: over-long lines not answered that way (a server bug).
    pub long_line_failures: u64,
    /// Chat: garbage lines sent.
    pub garbage_lines: u64,
    /// Chat: half lines left behind.
    pub unterminated: u64,
}
