//! The short human-readable summary printed after a run.

use std::fmt::Write;

use crate::backend::{Backend, Model};
use crate::record::RunResult;
use crate::server::Protocol;

fn opt(v: Option<f64>, prec: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.prec$}"),
        _ => "-".into(),
    }
}

/// One line (or a few) of the summary, written when the run has what it shows.
type Line = fn(&mut String, &RunResult);

/// The summary's lines, in order.
const LINES: [Line; 16] = [
    heading,
    throughput,
    latency,
    send_lateness,
    self_check,
    uncorrected,
    server_per_req,
    io_uring,
    server,
    load_hosts,
    reactors,
    client,
    machine,
    intervals,
    errors,
    warnings,
];

/// Render `r` as a few aligned lines.
pub fn render(r: &RunResult) -> String {
    let mut s = String::new();
    for line in LINES {
        line(&mut s, r);
    }
    s
}

/// Backend, workload, connections, message size and load model.
fn heading(s: &mut String, r: &RunResult) {
    let model = match r.target_rate {
        Some(rate) => format!("open loop at {rate:.0} msg/s"),
        None => format!("closed loop, {} in flight per connection", r.pipeline),
    };
    let chat = r.workload == Protocol::Chat;
    let _ = writeln!(
        s,
        "{} · {} · {} active + {} idle connections{} · {} B {} · {model}",
        r.backend,
        r.workload,
        r.connected,
        r.connected_idle,
        r.senders
            .map_or(String::new(), |n| format!(" ({n} sending)")),
        r.msg_size,
        if chat { "lines" } else { "messages" }
    );
}

/// Requests per second, or for chat deliveries per second.
fn throughput(s: &mut String, r: &RunResult) {
    if r.workload == Protocol::Chat {
        let _ = writeln!(
            s,
            "  fan-out      {:>12.0} deliveries/s ({} deliveries of {} lines in {:.2} s; per-request figures are per delivery)",
            r.req_per_s,
            r.requests,
            r.lines_sent.unwrap_or(0),
            r.measured_s
        );
    } else {
        let _ = writeln!(
            s,
            "  throughput   {:>12.0} req/s  {:>8.2} MB/s   ({} requests in {:.2} s)",
            r.req_per_s, r.mb_per_s, r.requests, r.measured_s
        );
    }
}

fn latency(s: &mut String, r: &RunResult) {
    let _ = writeln!(
        s,
        "  latency µs   min {}  p50 {}  p90 {}  p99 {}  p99.9 {}  p99.99 {}  max {}",
        r.lat_min_us,
        r.lat_p50_us,
        r.lat_p90_us,
        r.lat_p99_us,
        r.lat_p999_us,
        r.lat_p9999_us,
        r.lat_max_us
    );
}

fn send_lateness(s: &mut String, r: &RunResult) {
    if let (Some(p50), Some(p99)) = (r.send_lag_p50_us, r.send_lag_p99_us) {
        // The generator's own lateness is inside every latency above (it is
        // measured from the intended send time): shown beside it.
        let _ = writeln!(
            s,
            "  send late µs p50 {p50}  p99 {p99}  (the generator's own lateness, inside the latency above) · pacing {} · timer slack {} ns",
            r.pacing.as_deref().unwrap_or("-"),
            r.client_timer_slack_ns.map_or("-".into(), |v| v.to_string()),
        );
    }
}

fn self_check(s: &mut String, r: &RunResult) {
    if !r.verdict.is_empty() {
        let _ = writeln!(
            s,
            "  self-check   {} arrivals, seed {} · sent {} msg/s · gaps fit p {} · lag-1 r {}, independent every {} ({} samples) · p99 95 % CI {}–{} µs · {}",
            r.arrivals.as_deref().unwrap_or("-"),
            r.seed.map_or("-".into(), |s| s.to_string()),
            opt(r.send_rate, 0),
            r.send_fit_p.map_or("-".into(), |p| format!("{p:.3}")),
            opt(r.lat_autocorr, 2),
            r.lat_stride.map_or("-".into(), |v| v.to_string()),
            r.lat_independent_n.map_or("-".into(), |v| v.to_string()),
            r.p99_ci_lo_us.map_or("-".into(), |v| v.to_string()),
            r.p99_ci_hi_us.map_or("-".into(), |v| v.to_string()),
            if r.verdict == "valid" { "measurement valid" } else { "NOT valid (see warning)" }
        );
    }
}

fn uncorrected(s: &mut String, r: &RunResult) {
    if let (Some(p50), Some(p99)) = (r.uncorrected_p50_us, r.uncorrected_p99_us) {
        let _ = writeln!(
            s,
            "  uncorrected  p50 {p50}  p99 {p99}  (from actual send time)"
        );
    }
}

/// The server's CPU and system calls per request.
fn server_per_req(s: &mut String, r: &RunResult) {
    let completion = r
        .backend
        .parse::<Backend>()
        .is_ok_and(|b| b.model() == Model::Completion);
    let breakdown = if completion {
        // Receives and sends are requests in the ring, not system calls.
        format!(
            "io_uring_enter only; receives {}, sends {} as ring requests",
            opt(r.server_reads_per_req, 2),
            opt(r.server_writes_per_req, 2)
        )
    } else {
        format!(
            "waits {}, reads {}, writes {}",
            opt(r.server_waits_per_req, 2),
            opt(r.server_reads_per_req, 2),
            opt(r.server_writes_per_req, 2)
        )
    };
    let kernel = r.server_syscalls_kernel_per_req.map_or(String::new(), |k| {
        format!(" · kernel-counted syscalls {k:.2}")
    });
    let _ = writeln!(
        s,
        "  server/req   CPU {} µs · syscalls {} ({breakdown}){kernel} · ctx sw {}",
        opt(r.server_cpu_us_per_req, 2),
        opt(r.server_syscalls_per_req, 2),
        opt(r.server_ctx_switches_per_req, 3),
    );
}

fn io_uring(s: &mut String, r: &RunResult) {
    if let (Some(enters), Some(sqes)) = (r.server_enters_per_req, r.server_sqes_per_req) {
        let _ = writeln!(
            s,
            "  io_uring/req io_uring_enter {enters:.3} · SQEs {sqes:.2} · CQEs {}",
            opt(r.server_events_per_req, 2),
        );
    }
}

fn server(s: &mut String, r: &RunResult) {
    let _ = writeln!(
        s,
        "  server       {}% CPU · {} events/wait · {} events/req · {} slots scanned/wait · max RSS {} KiB{} · refused {}",
        opt(r.server_cpu_pct, 0),
        opt(r.server_events_per_wait, 1),
        opt(r.server_events_per_req, 2),
        opt(r.server_slots_per_wait, 1),
        r.server_max_rss_kib.map_or("-".into(), |v| v.to_string()),
        r.server_rss_per_conn_kib
            .map_or(String::new(), |v| format!(" ({v:.1} KiB per connection)")),
        r.server_refused.map_or("-".into(), |v| v.to_string()),
    );
}

fn load_hosts(s: &mut String, r: &RunResult) {
    if let Some(n) = r.load_hosts {
        let _ = writeln!(
            s,
            "  load hosts   {n} merged ({}); server figures once, over the window all measured",
            r.host_label.as_deref().unwrap_or("-")
        );
    } else if let Some(label) = &r.host_label {
        let _ = writeln!(s, "  load host    {label}");
    }
}

fn reactors(s: &mut String, r: &RunResult) {
    if let Some(spread) = &r.server_reactor_conns {
        let _ = writeln!(
            s,
            "  reactors     connections accepted per reactor {spread}"
        );
    }
}

fn client(s: &mut String, r: &RunResult) {
    let _ = writeln!(
        s,
        "  client       {:.0}% of its CPUs · {} CPU µs/req · steal {:.1}%",
        r.client_cpu_pct,
        opt(r.client_cpu_us_per_req, 2),
        r.steal_pct
    );
}

fn machine(s: &mut String, r: &RunResult) {
    if let Some(m) = r.machine_cpu_us_per_req {
        // A process's CPU time holds part of its peer's receive path on
        // loopback (softirq runs in the sender's context): the machine's
        // busy time counts everything once.
        let _ = writeln!(
            s,
            "  machine      {m:.2} CPU µs/req, every CPU and context (softirq {}) · server's CPU {} µs/req (softirq {})",
            opt(r.machine_softirq_us_per_req, 2),
            opt(r.server_core_us_per_req, 2),
            opt(r.server_core_softirq_us_per_req, 2),
        );
    }
}

/// The per-interval medians, and their intervals when the run has them.
fn intervals(s: &mut String, r: &RunResult) {
    if r.intervals == 0 {
        return;
    }
    let iqr = |m: Option<f64>, q: Option<f64>, prec: usize| match (m, q) {
        (Some(m), Some(q)) => format!("{m:.prec$} (IQR {q:.prec$})"),
        _ => "-".into(),
    };
    let _ = writeln!(
        s,
        "  intervals    {} × {} s, {} left out · medians: CPU {} µs/req · {} req/s · p99 {} µs · probe {} µs",
        r.intervals,
        r.interval_s,
        r.intervals_excluded,
        iqr(r.server_cpu_us_per_req_med, r.server_cpu_us_per_req_iqr, 2),
        iqr(r.req_per_s_med, r.req_per_s_iqr, 0),
        iqr(r.lat_p99_med_us, r.lat_p99_iqr_us, 0),
        iqr(r.probe_us, r.probe_iqr_us, 1),
    );
    if let (Some(clo), Some(chi)) = (
        r.server_cpu_us_per_req_med_lo,
        r.server_cpu_us_per_req_med_hi,
    ) {
        let _ = writeln!(
            s,
            "  95 % CI      of the medians (bootstrap over intervals): CPU {clo:.2}–{chi:.2} µs/req · {} req/s",
            match (r.req_per_s_med_lo, r.req_per_s_med_hi) {
                (Some(a), Some(b)) => format!("{a:.0}–{b:.0}"),
                _ => "-".into(),
            }
        );
    }
}

fn errors(s: &mut String, r: &RunResult) {
    let _ =
        writeln!(
        s,
        "  errors       {} (corrupt {}, late {}, missing {}, closed by server {}, connect {}{}{})",
        r.errors,
        r.err_corrupt,
        r.err_late,
        r.err_missing,
        r.err_closed_by_server,
        r.err_connect,
        if r.workload == Protocol::Chat {
            format!(", duplicated {}, reordered {}", r.err_duplicated, r.err_reordered)
        } else {
            String::new()
        },
        if r.connect_failure_causes.is_empty() {
            String::new()
        } else {
            format!(": {}", r.connect_failure_causes)
        }
    );
}

fn warnings(s: &mut String, r: &RunResult) {
    for w in r.warnings.iter() {
        let _ = writeln!(s, "  warning: {w}");
    }
}

/// Several runs of one setting: each key figure as the geometric mean with
/// its 95 % confidence interval (t-interval on log values), over the runs'
/// per-interval medians where they have them.
pub fn render_repeats(rows: &[RunResult]) -> String {
    use super::summary::{Estimate, Figure};
    let mut s = String::new();
    let _ = writeln!(
        s,
        "over {} runs (geometric mean, 95 % CI from a t-interval on log values):",
        rows.len()
    );
    for f in [
        Figure::ReqPerS,
        Figure::P99,
        Figure::CpuPerReq,
        Figure::SyscallsPerReq,
        Figure::EventsPerReq,
    ] {
        let values: Vec<f64> = rows.iter().filter_map(|r| f.value(r)).collect();
        let Some(e) = Estimate::of(&values) else {
            continue;
        };
        let ci = match e.ci {
            Some((lo, hi)) => format!(
                "{lo:.2} – {hi:.2}  (±{:.1} %)",
                100.0 * ((hi / e.value - 1.0).max(1.0 - lo / e.value))
            ),
            None => "no interval (one run, or zero values)".into(),
        };
        let _ = writeln!(s, "  {:<28} {:>12.2}   {ci}", f.label(), e.value);
    }
    s
}
