//! The result of one run: one flat, documented struct (one CSV row), computed
//! from the workers' merged measurements and the server's counter deltas over
//! the measured window.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::machine::Machine;
use super::worker::WorkerResult;
use super::RunArgs;
use crate::server::Snapshot;

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
    pub workload: String,
    /// Backend name, or the external server's label.
    pub backend: String,
    /// Active connections asked for.
    pub conns: usize,
    /// Idle connections asked for.
    pub idle: usize,
    /// Message size, bytes.
    pub msg_size: usize,
    /// `closed` or `open`.
    pub load_model: String,
    /// Closed loop: messages in flight per connection.
    pub pipeline: usize,
    /// Open loop: target messages/s.
    pub target_rate: Option<f64>,
    /// Server read size, bytes.
    pub read_buf: usize,
    /// Server read policy (level-triggered backends).
    pub read_policy: String,
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
    /// Load generator CPU utilisation, percent of its CPUs.
    pub client_cpu_pct: f64,
    /// Load generator CPU time per request, µs.
    pub client_cpu_us_per_req: Option<f64>,
    /// Host CPU steal during the window, percent.
    pub steal_pct: f64,
    /// Warnings that make the run suspect, `;`-separated (empty: none).
    pub warnings: String,
    /// CPU model.
    pub cpu_model: String,
    /// Online CPUs.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// muxbench version.
    pub version: String,
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
    pub chaos: Option<super::ChaosOutcome>,
    /// Latency per second of the window.
    pub intervals: Vec<Histogram<u64>>,
}

/// Inputs besides the workers' result.
pub struct Measured<'a> {
    /// Settings.
    pub args: &'a RunArgs,
    /// Worker threads.
    pub threads: usize,
    /// Server CPU (if pinned).
    pub server_cpu: Option<usize>,
    /// Client CPUs (if pinned).
    pub client_cpus: Option<Vec<usize>>,
    /// Measured window, s.
    pub measured_s: f64,
    /// Server snapshots at the window's start and end (own server only).
    pub server: Option<(Snapshot, Snapshot)>,
    /// Load generator CPU µs over the window.
    pub client_cpu_us: u64,
    /// CPUs available to the load generator.
    pub client_cpu_count: usize,
    /// Steal percent over the window.
    pub steal_pct: f64,
    /// Warnings raised while running.
    pub warnings: Vec<String>,
}

/// The server's costs over the measured window: end snapshot minus start.
struct ServerDelta {
    cpu_us: u64,
    waits: u64,
    reads: u64,
    writes: u64,
    ctl_calls: u64,
    enters: u64,
    sqes: u64,
    /// Receives and sends are ring requests, not system calls (`uring`).
    completion: bool,
    events: u64,
    slots_scanned: u64,
    ctx_switches: u64,
    max_rss_kib: u64,
    refused: u64,
    bytes_out: u64,
}

impl ServerDelta {
    /// System calls the server made for its work (see `server_syscalls_per_req`).
    fn syscalls(&self) -> u64 {
        if self.completion {
            self.enters
        } else {
            self.waits + self.reads + self.writes + self.enters.saturating_sub(self.waits)
        }
    }

    fn between(a: &Snapshot, b: &Snapshot) -> ServerDelta {
        let cpu = |s: &Snapshot| s.rusage.user_us + s.rusage.sys_us;
        let ctx =
            |s: &Snapshot| s.rusage.voluntary_ctx_switches + s.rusage.involuntary_ctx_switches;
        ServerDelta {
            cpu_us: cpu(b).saturating_sub(cpu(a)),
            waits: b.mux.wait_calls.saturating_sub(a.mux.wait_calls),
            reads: b.counters.reads.saturating_sub(a.counters.reads),
            writes: b.counters.writes.saturating_sub(a.counters.writes),
            ctl_calls: b.mux.ctl_calls.saturating_sub(a.mux.ctl_calls),
            enters: b.mux.enters.saturating_sub(a.mux.enters),
            sqes: b.mux.sqes.saturating_sub(a.mux.sqes),
            completion: b
                .backend
                .parse::<crate::backend::Backend>()
                .is_ok_and(|be| be.model() == crate::backend::Model::Completion),
            events: b.mux.events.saturating_sub(a.mux.events),
            slots_scanned: b.mux.slots_scanned.saturating_sub(a.mux.slots_scanned),
            ctx_switches: ctx(b).saturating_sub(ctx(a)),
            max_rss_kib: b.rusage.max_rss_kib,
            // Refusals happen while connecting, before the window: report them all.
            refused: b.counters.refused,
            bytes_out: b.counters.bytes_out.saturating_sub(a.counters.bytes_out),
        }
    }
}

/// `n / d`, or `None` (an empty cell) when nothing was counted.
fn per(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Combine everything into the flat result.
pub fn build(m: Measured<'_>, w: WorkerResult, machine: &Machine) -> RunOutput {
    let args = m.args;
    let h = &w.latency;
    let reqs = w.requests;
    let q = |p: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(p)
        }
    };
    let req_per_s = reqs as f64 / m.measured_s.max(1e-9);
    let mut warnings = m.warnings;
    let rate_not_met = args.rate.map(|r| req_per_s < 0.95 * r);
    if rate_not_met == Some(true) {
        warnings.push(format!(
            "target rate not met: {req_per_s:.0} of {:.0} msg/s (the server or the client could not keep up)",
            args.rate.unwrap_or_default()
        ));
    }
    let client_cpu_pct =
        100.0 * m.client_cpu_us as f64 / (m.measured_s.max(1e-9) * 1e6 * m.client_cpu_count as f64);
    if client_cpu_pct >= 90.0 {
        warnings.push(format!(
            "load generator at {client_cpu_pct:.0}% of its CPUs: the client may be the bottleneck"
        ));
    }
    if m.steal_pct > 5.0 {
        warnings.push(format!("host CPU steal {:.1}% during the run", m.steal_pct));
    }
    if w.errors.total() > 0 {
        warnings.push(format!("{} errors", w.errors.total()));
    }
    if let Some(refused) = m.server.as_ref().map(|(_, b)| b.counters.refused) {
        if refused > 0 {
            warnings.push(format!(
                "the server refused {refused} connections (over --max-conns, or select beyond FD_SETSIZE)"
            ));
        }
    }

    let server = m.server.as_ref().map(|(a, b)| ServerDelta::between(a, b));
    let s = |f: &dyn Fn(&ServerDelta) -> Option<f64>| server.as_ref().and_then(f);
    let causes = w
        .connect_failures
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(";");
    let result = RunResult {
        timestamp: now_rfc3339(),
        workload: args.workload.protocol_name().into(),
        senders: (args.workload == super::Workload::Chat).then(|| args.senders_or_default()),
        lines_sent: (args.workload == super::Workload::Chat).then_some(w.sent),
        foreign_lines: (args.workload == super::Workload::Chat).then_some(w.foreign_lines),
        backend: args.target_name(),
        conns: args.conns,
        idle: args.idle,
        msg_size: args.msg_size,
        load_model: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .into(),
        pipeline: args.pipeline,
        target_rate: args.rate,
        read_buf: args.read_buf,
        read_policy: format!("{:?}", args.read_policy).to_lowercase(),
        max_pending: args.max_pending,
        addr: args.addr.map(|a| a.to_string()).unwrap_or_default(),
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        timeout_s: args.timeout.as_secs_f64(),
        connect_rate: args.connect_rate,
        connect_timeout_s: args.connect_timeout.as_secs_f64(),
        measured_s: m.measured_s,
        threads: m.threads,
        server_cpu: m.server_cpu,
        client_cpus: m
            .client_cpus
            .as_ref()
            .map(|c| {
                c.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(";")
            })
            .unwrap_or_default(),
        connected: w.connected_active,
        connected_idle: w.connected_idle,
        requests: reqs,
        req_per_s,
        mb_per_s: req_per_s * args.msg_size as f64 / 1e6,
        unsent: args.rate.map(|_| w.unsent),
        rate_not_met,
        lat_min_us: if h.is_empty() { 0 } else { h.min() },
        lat_mean_us: if h.is_empty() { 0.0 } else { h.mean() },
        lat_p50_us: q(0.5),
        lat_p90_us: q(0.9),
        lat_p99_us: q(0.99),
        lat_p999_us: q(0.999),
        lat_p9999_us: q(0.9999),
        lat_max_us: if h.is_empty() { 0 } else { h.max() },
        uncorrected_p50_us: args
            .rate
            .map(|_| w.latency_uncorrected.value_at_quantile(0.5)),
        uncorrected_p99_us: args
            .rate
            .map(|_| w.latency_uncorrected.value_at_quantile(0.99)),
        errors: w.errors.total(),
        err_corrupt: w.errors.corrupt,
        err_late: w.errors.late,
        err_missing: w.errors.missing,
        err_closed_by_server: w.errors.closed_by_server,
        err_connect: w.errors.connect_failed,
        err_duplicated: w.errors.duplicated,
        err_reordered: w.errors.reordered,
        connect_failure_causes: causes,
        server_bytes_out: server.as_ref().map(|s| s.bytes_out),
        server_refused: server.as_ref().map(|s| s.refused),
        server_resets: m.server.as_ref().map(|(_, b)| b.counters.resets),
        server_read_pauses: m.server.as_ref().map(|(_, b)| b.counters.read_pauses),
        server_cpu_us_per_req: s(&|s| per(s.cpu_us, reqs)),
        server_cpu_pct: s(&|s| Some(100.0 * s.cpu_us as f64 / (m.measured_s.max(1e-9) * 1e6))),
        server_syscalls_per_req: s(&|s| per(s.syscalls(), reqs)),
        server_waits_per_req: s(&|s| per(s.waits, reqs)),
        server_reads_per_req: s(&|s| per(s.reads, reqs)),
        server_writes_per_req: s(&|s| per(s.writes, reqs)),
        server_ctl_per_req: s(&|s| per(s.ctl_calls, reqs)),
        server_enters_per_req: s(&|s| (s.enters > 0).then(|| s.enters as f64 / reqs.max(1) as f64)),
        server_sqes_per_req: s(&|s| (s.sqes > 0).then(|| s.sqes as f64 / reqs.max(1) as f64)),
        server_events_per_wait: s(&|s| per(s.events, s.waits)),
        server_events_per_req: s(&|s| per(s.events, reqs)),
        server_slots_per_wait: s(&|s| per(s.slots_scanned, s.waits)),
        server_ctx_switches_per_req: s(&|s| per(s.ctx_switches, reqs)),
        server_max_rss_kib: server.as_ref().map(|s| s.max_rss_kib),
        client_cpu_pct,
        client_cpu_us_per_req: per(m.client_cpu_us, reqs),
        steal_pct: m.steal_pct,
        warnings: warnings.join("; "),
        cpu_model: machine.cpu_model.clone(),
        cores: machine.cores,
        kernel: machine.kernel.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    RunOutput {
        result,
        latency: w.latency,
        latency_uncorrected: args.rate.map(|_| w.latency_uncorrected),
        intervals: w.intervals,
        chaos: None,
    }
}

/// The current time as RFC 3339 UTC (seconds), without a date crate.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
