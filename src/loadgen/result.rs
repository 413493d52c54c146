//! The result of one run: one flat, documented struct (one CSV row), computed
//! from the workers' merged measurements and the server's counter deltas over
//! the measured window.

use super::client::measure::ErrorCounts;
use super::client::WorkerResult;
use super::intervals::Robust;
use super::machine::Machine;
use super::selfcheck::SelfCheck;
use super::RunArgs;
use crate::record::{LoadModel, RunOutput, RunResult, Warnings};
use crate::server::{Protocol, Snapshot};

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
    /// The server's system calls over the window, from the kernel (`--count-syscalls`).
    pub server_kernel_syscalls: Option<u64>,
    /// The window's edges on the wall clock, Unix seconds.
    pub wall: (f64, f64),
    /// The server's RSS before any connection, KiB (own server only).
    pub server_rss_base_kib: Option<u64>,
    /// Load generator CPU µs over the window.
    pub client_cpu_us: u64,
    /// CPUs available to the load generator.
    pub client_cpu_count: usize,
    /// Steal percent over the window.
    pub steal_pct: f64,
    /// Interval samples: at the window's start and each interval's end.
    pub samples: Vec<super::sampler::Sample>,
    /// Start of the measured window.
    pub measure_start: std::time::Instant,
    /// Interval length.
    pub interval: std::time::Duration,
    /// Every CPU's busy time at the window's edges.
    pub busy: (super::machine::CpuTimes, super::machine::CpuTimes),
    /// Warnings raised while running.
    pub warnings: Vec<String>,
}

/// The server's costs over the measured window: end snapshot minus start.
struct ServerDelta {
    cpu_us: u64,
    counters: crate::server::Counters,
    mux: crate::mux::MuxStats,
    /// What the backend counts itself (the rest is unknown, not zero).
    counted: crate::backend::Counted,
    /// System calls, if the backend counts them ([`crate::backend::Backend::syscalls`]).
    syscalls: Option<u64>,
    ctx_switches: u64,
    max_rss_kib: u64,
    rss_kib: u64,
    refused: u64,
    bytes_out: u64,
}

impl ServerDelta {
    fn between(a: &Snapshot, b: &Snapshot) -> ServerDelta {
        let cpu = |s: &Snapshot| s.rusage.user_us + s.rusage.sys_us;
        let ctx =
            |s: &Snapshot| s.rusage.voluntary_ctx_switches + s.rusage.involuntary_ctx_switches;
        let counters = b.counters.since(&a.counters);
        let mux = b.mux.since(&a.mux);
        let backend = b.backend.parse::<crate::backend::Backend>().ok();
        ServerDelta {
            cpu_us: cpu(b).saturating_sub(cpu(a)),
            counted: backend.map_or(
                crate::backend::Counted {
                    syscalls: false,
                    mux: false,
                },
                |be| be.counted(),
            ),
            syscalls: backend.and_then(|be| counters.syscalls(be, &mux)),
            counters,
            mux,
            ctx_switches: ctx(b).saturating_sub(ctx(a)),
            max_rss_kib: b.rusage.max_rss_kib,
            rss_kib: b.rss_kib,
            // Refusals happen while connecting, before the window: report them all.
            refused: b.counters.refused,
            bytes_out: b.counters.bytes_out.saturating_sub(a.counters.bytes_out),
        }
    }

    /// A multiplexer's count, or unknown.
    fn mux(&self, n: u64) -> Option<u64> {
        self.counted.mux.then_some(n)
    }

    /// A read / write count that is a system call count, or unknown.
    fn io(&self, n: u64) -> Option<u64> {
        self.counted.syscalls.then_some(n)
    }
}

/// Set a row's server columns from the server's snapshots at the window's
/// edges, for `reqs` requests over `measured_s` seconds (a run; or the hosts
/// of `loadgen merge` together).
pub fn apply_server_window(
    r: &mut RunResult,
    a: &Snapshot,
    b: &Snapshot,
    reqs: u64,
    measured_s: f64,
) {
    let s = ServerDelta::between(a, b);
    r.server_bytes_out = Some(s.bytes_out);
    r.server_refused = Some(s.refused);
    r.server_resets = Some(b.counters.resets);
    r.server_read_pauses = Some(b.counters.read_pauses);
    r.server_cpu_us_per_req = per(s.cpu_us, reqs);
    r.server_cpu_pct = Some(100.0 * s.cpu_us as f64 / (measured_s.max(1e-9) * 1e6));
    r.server_syscalls_per_req = s.syscalls.and_then(|n| per(n, reqs));
    r.server_waits_per_req = s.mux(s.mux.wait_calls).and_then(|n| per(n, reqs));
    r.server_reads_per_req = s.io(s.counters.reads).and_then(|n| per(n, reqs));
    r.server_writes_per_req = s.io(s.counters.writes).and_then(|n| per(n, reqs));
    r.server_ctl_per_req = s.mux(s.mux.ctl_calls).and_then(|n| per(n, reqs));
    r.server_enters_per_req = (s.mux.enters > 0).then(|| s.mux.enters as f64 / reqs.max(1) as f64);
    r.server_sqes_per_req = (s.mux.sqes > 0).then(|| s.mux.sqes as f64 / reqs.max(1) as f64);
    r.server_events_per_wait = s.mux(s.mux.events).and_then(|n| per(n, s.mux.wait_calls));
    r.server_events_per_req = s.mux(s.mux.events).and_then(|n| per(n, reqs));
    r.server_slots_per_wait = s
        .mux(s.mux.slots_scanned)
        .and_then(|n| per(n, s.mux.wait_calls));
    r.server_ctx_switches_per_req = per(s.ctx_switches, reqs);
    r.server_max_rss_kib = Some(s.max_rss_kib);
    r.server_reactor_conns = (!b.reactors.is_empty()).then(|| {
        b.reactors
            .iter()
            .map(|c| c.accepts.to_string())
            .collect::<Vec<_>>()
            .join("/")
    });
}

/// Set a row's latency columns from its histogram (µs; zeros when empty).
pub fn apply_latency(r: &mut RunResult, h: &hdrhistogram::Histogram<u64>) {
    let q = |p: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(p)
        }
    };
    r.lat_min_us = if h.is_empty() { 0 } else { h.min() };
    r.lat_mean_us = if h.is_empty() { 0.0 } else { h.mean() };
    r.lat_p50_us = q(0.5);
    r.lat_p90_us = q(0.9);
    r.lat_p99_us = q(0.99);
    r.lat_p999_us = q(0.999);
    r.lat_p9999_us = q(0.9999);
    r.lat_max_us = if h.is_empty() { 0 } else { h.max() };
}

/// Set a row's machine columns: every CPU's busy time between two readings,
/// and the server CPU's, per request (`None` when nothing was read).
pub fn apply_machine(
    r: &mut RunResult,
    a: &super::machine::CpuTimes,
    b: &super::machine::CpuTimes,
    server_cpu: Option<usize>,
    reqs: u64,
) {
    let all = a.machine_busy_until(b);
    if reqs == 0 || all.total() == 0.0 {
        return;
    }
    let n = reqs as f64;
    r.machine_cpu_us_per_req = Some(all.total() / n);
    r.machine_softirq_us_per_req = Some(all.softirq / n);
    if let Some(core) = server_cpu.and_then(|_| a.core_busy_until(b)) {
        r.server_core_us_per_req = Some(core.total() / n);
        r.server_core_softirq_us_per_req = Some(core.softirq / n);
    }
}

/// CPUs as a row records them: `1;3`, empty when not pinned.
pub fn cpu_list(cpus: Option<&[usize]>) -> String {
    cpus.map(|c| {
        c.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(";")
    })
    .unwrap_or_default()
}

/// `n / d`, or `None` (an empty cell) when nothing was counted.
fn per(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The run's intervals with the rule applied, and its robust figures; a
/// warning when the rule left some out.
fn interval_figures(
    m: &Measured<'_>,
    w: &WorkerResult,
    warnings: &mut Vec<String>,
) -> (Vec<crate::record::IntervalRow>, super::intervals::Robust) {
    let args = m.args;
    let rows = super::intervals::rows(&super::intervals::Inputs {
        samples: &m.samples,
        histograms: &w.intervals,
        measure_start: m.measure_start,
        interval: m.interval,
        client_cpu_count: m.client_cpu_count,
        // An external server's backend is the one its snapshots name.
        backend: args
            .backend
            .or_else(|| m.server.as_ref().and_then(|(_, b)| b.backend.parse().ok())),
        steal_limit_pct: args.load.steal_limit,
    });
    let robust = super::intervals::robust(&rows);
    if robust.excluded > 0 {
        warnings.push(format!(
            "{} of {} intervals left out (steal, CPU speed shift, stall or short: see --intervals)",
            robust.excluded, robust.intervals
        ));
    }
    (rows, robust)
}

/// Combine everything into the flat result.
pub fn build(m: Measured<'_>, w: WorkerResult, machine: &Machine) -> RunOutput {
    let args = m.args;
    let h = &w.latency;
    let reqs = w.requests;
    let req_per_s = reqs as f64 / m.measured_s.max(1e-9);
    let rate_not_met = args.rate.map(|r| req_per_s < 0.95 * r);
    let client_cpu_pct =
        100.0 * m.client_cpu_us as f64 / (m.measured_s.max(1e-9) * 1e6 * m.client_cpu_count as f64);
    let mut warnings = run_warnings(&m, &w, req_per_s, client_cpu_pct);
    let (interval_rows, robust) = interval_figures(&m, &w, &mut warnings);
    let selfcheck = self_check(args, &w, m.measured_s);
    if let Some(c) = selfcheck.as_ref().filter(|c| !c.failures.is_empty()) {
        warnings.push(format!("self-check: {}", c.verdict()));
    }
    let server = m.server.as_ref().map(|(a, b)| ServerDelta::between(a, b));
    let causes = w
        .connect_failures
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(";");
    let chat = args.load.workload == Protocol::Chat;
    let mut result = RunResult {
        timestamp: now_rfc3339(),
        lines_sent: chat.then_some(w.sent),
        foreign_lines: chat.then_some(w.foreign_lines),
        measured_s: m.measured_s,
        threads: m.threads,
        server_cpu: m.server_cpu,
        client_cpus: cpu_list(m.client_cpus.as_deref()),
        connected: w.connected_active,
        connected_idle: w.connected_idle,
        requests: reqs,
        req_per_s,
        mb_per_s: req_per_s * args.msg_size as f64 / 1e6,
        unsent: args.rate.map(|_| w.unsent),
        rate_not_met,
        client_timer_slack_ns: args.rate.map(|_| w.timer_slack_ns),
        uncorrected_p50_us: args
            .rate
            .map(|_| w.latency_uncorrected.value_at_quantile(0.5)),
        uncorrected_p99_us: args
            .rate
            .map(|_| w.latency_uncorrected.value_at_quantile(0.99)),
        connect_failure_causes: causes,
        server_syscalls_kernel_per_req: m.server_kernel_syscalls.and_then(|n| per(n, reqs)),
        load_hosts: None,
        window_start_unix: Some(m.wall.0),
        window_end_unix: Some(m.wall.1),
        server_rss_per_conn_kib: server.as_ref().zip(m.server_rss_base_kib).and_then(
            |(s, base)| {
                let conns = (w.connected_active + w.connected_idle) as f64;
                (conns > 0.0).then(|| s.rss_kib.saturating_sub(base) as f64 / conns)
            },
        ),
        client_cpu_pct,
        client_cpu_us_per_req: per(m.client_cpu_us, reqs),
        steal_pct: m.steal_pct,
        interval_s: m.interval.as_secs_f64(),
        repeat: None,
        arm: String::new(),
        warnings: Warnings(warnings),
        cpu_model: machine.cpu_model.clone(),
        cores: machine.cores,
        kernel: machine.kernel.clone(),
        // The server's columns: `apply_server_window` below.
        ..settings_row(args)
    };
    apply_self_check(&mut result, selfcheck.as_ref());
    apply_errors(&mut result, &w.errors);
    apply_robust(&mut result, &robust);
    apply_latency(&mut result, h);
    apply_machine(&mut result, &m.busy.0, &m.busy.1, m.server_cpu, reqs);
    if let Some((a, b)) = &m.server {
        apply_server_window(&mut result, a, b, reqs, m.measured_s);
    }
    RunOutput {
        server_window: m.server.clone(),
        result,
        latency: w.latency,
        latency_uncorrected: args.rate.map(|_| w.latency_uncorrected),
        intervals: w.intervals,
        interval: m.interval,
        interval_rows,
        chaos: None,
    }
}

/// A row with the run's settings filled in: what was asked, not measured.
fn settings_row(args: &RunArgs) -> RunResult {
    let chat = args.load.workload == Protocol::Chat;
    RunResult {
        workload: args.load.workload,
        senders: chat.then(|| args.senders_or_default()),
        backend: args.target_name(),
        conns: args.conns,
        idle: args.idle,
        msg_size: args.msg_size,
        load_model: if args.rate.is_some() {
            LoadModel::Open
        } else {
            LoadModel::Closed
        },
        pipeline: args.load.pipeline,
        target_rate: args.rate,
        read_buf: args.read_buf,
        read_policy: args.load.read_policy,
        steal_limit_pct: Some(args.load.steal_limit),
        max_pending: args.load.max_pending,
        uring_features: args.uring_features_column(),
        addr: args.addr.map(|a| a.to_string()).unwrap_or_default(),
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        timeout_s: args.load.timeout.as_secs_f64(),
        connect_rate: args.load.connect_rate,
        connect_timeout_s: args.load.connect_timeout.as_secs_f64(),
        arrivals: args.rate.map(|_| args.arrivals.to_string()),
        seed: args.rate.map(|_| args.seed),
        pacing: args.rate.map(|_| args.load.pacing.to_string()),
        host_label: args.host_label.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..RunResult::default()
    }
}

/// The run's warnings: the caller's, then what the totals show (rate not
/// met, client busy, steal, errors, refusals, the server's and the kernel's
/// system-call counts apart).
fn run_warnings(
    m: &Measured<'_>,
    w: &WorkerResult,
    req_per_s: f64,
    client_cpu_pct: f64,
) -> Vec<String> {
    let args = m.args;
    let mut warnings = m.warnings.clone();
    if args.rate.is_some_and(|r| req_per_s < 0.95 * r) {
        warnings.push(format!(
            "target rate not met: {req_per_s:.0} of {:.0} msg/s (the server or the client could not keep up)",
            args.rate.unwrap_or_default()
        ));
    }
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

    if let (Some(own), Some(kernel)) = (
        m.server
            .as_ref()
            .and_then(|(a, b)| ServerDelta::between(a, b).syscalls),
        m.server_kernel_syscalls,
    ) {
        let gap = own.abs_diff(kernel) as f64 / own.max(kernel).max(1) as f64;
        if gap > 0.10 {
            warnings.push(format!(
                "the server counted {own} system calls and the kernel {kernel}: {:.0} % apart \
                 (with thousands of threads, counts published after each request lag at the \
                 window's edges, and the kernel's inherited counters were seen to lose counts)",
                gap * 100.0
            ));
        }
    }
    warnings
}

/// The open-loop self-check (`None` in closed loop).
fn self_check(args: &RunArgs, w: &WorkerResult, measured_s: f64) -> Option<SelfCheck> {
    args.rate.map(|rate| {
        super::selfcheck::check(
            &w.check,
            &w.latency,
            super::selfcheck::Intended {
                arrivals: args.arrivals,
                rate,
                conns: if args.load.workload == Protocol::Chat {
                    args.senders_or_default()
                } else {
                    args.conns
                },
                target_ci: args.target_ci,
            },
            measured_s,
        )
    })
}

/// The self-check's columns.
fn apply_self_check(r: &mut RunResult, c: Option<&SelfCheck>) {
    r.send_rate = c.map(|c| c.send_rate);
    r.send_lag_p50_us = c.map(|c| c.lag_p50_us);
    r.send_lag_p99_us = c.map(|c| c.lag_p99_us);
    r.send_fit_d = c.and_then(|c| c.fit.map(|f| f.0));
    r.send_fit_p = c.and_then(|c| c.fit.map(|f| f.1));
    r.lat_autocorr = c.and_then(|c| c.autocorr);
    r.lat_stride = c.and_then(|c| c.independence.map(|i| i.stride));
    r.lat_independent_n = c.and_then(|c| c.independence.map(|i| i.n));
    r.needed_s = c.and_then(|c| c.needed_s);
    r.p99_ci_lo_us = c.and_then(|c| c.p99_ci.map(|x| x.0));
    r.p99_ci_hi_us = c.and_then(|c| c.p99_ci.map(|x| x.1));
    r.verdict = c.map(|c| c.verdict()).unwrap_or_default();
}

/// The error columns, by kind.
fn apply_errors(r: &mut RunResult, e: &ErrorCounts) {
    r.errors = e.total();
    r.err_corrupt = e.corrupt;
    r.err_late = e.late;
    r.err_missing = e.missing;
    r.err_closed_by_server = e.closed_by_server;
    r.err_connect = e.connect_failed;
    r.err_duplicated = e.duplicated;
    r.err_reordered = e.reordered;
}

/// The per-interval robust figures' columns (medians, IQRs, their intervals).
fn apply_robust(r: &mut RunResult, robust: &Robust) {
    r.intervals = robust.intervals;
    r.intervals_excluded = robust.excluded;
    r.intervals_client_limited = robust.client_limited;
    r.req_per_s_med = robust.req_per_s.map(|x| x.0);
    r.req_per_s_iqr = robust.req_per_s.map(|x| x.1);
    r.lat_p99_med_us = robust.lat_p99_us.map(|x| x.0);
    r.lat_p99_iqr_us = robust.lat_p99_us.map(|x| x.1);
    r.server_cpu_us_per_req_med = robust.server_cpu_us_per_req.map(|x| x.0);
    r.server_cpu_us_per_req_iqr = robust.server_cpu_us_per_req.map(|x| x.1);
    r.req_per_s_med_lo = robust.req_per_s_ci.map(|x| x.0);
    r.req_per_s_med_hi = robust.req_per_s_ci.map(|x| x.1);
    r.server_cpu_us_per_req_med_lo = robust.server_cpu_us_per_req_ci.map(|x| x.0);
    r.server_cpu_us_per_req_med_hi = robust.server_cpu_us_per_req_ci.map(|x| x.1);
    r.server_syscalls_per_req_med = robust.server_syscalls_per_req.map(|x| x.0);
    r.probe_us = robust.probe_us.map(|x| x.0);
    r.probe_iqr_us = robust.probe_us.map(|x| x.1);
}

/// The current time as RFC 3339 UTC, whole seconds (`2026-11-29T20:10:23Z`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_is_rfc3339_utc_whole_seconds() {
        let t = super::now_rfc3339();
        // e.g. 2026-11-29T20:10:23Z
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(humantime::parse_rfc3339(&t).is_ok(), "{t}");
    }
}
