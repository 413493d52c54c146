//! A run's intervals: the rows built from consecutive samples and the
//! workers' per-interval histograms, the rule that leaves disturbed intervals
//! out, and the run's robust figures (median and IQR over the kept intervals).
//!
//! The rule, in order (an interval can fail several; its reasons are joined):
//! - `short`: shorter than half `--interval` (a window cut short by errors);
//! - `steal`: host CPU steal above `--steal-limit` (default [`STEAL_LIMIT_PCT`])
//!   in the interval;
//! - `probe`: the calibration probe took more than [`PROBE_TOLERANCE`] longer
//!   or shorter than its median over the run — the CPU changed speed (these
//!   VMs flip between a fast and a slow state), so every time per request
//!   shifted with it;
//! - `stall`: a request rate below [`STALL_FRACTION`] of the median interval's
//!   (the server, the client or the host paused).
//!
//! Throughput is the client's figure as much as the server's: for req/s the
//! intervals where the load generator was at [`CLIENT_LIMIT_PCT`] of its CPUs
//! are also left out — unless fewer than half of the kept intervals would
//! remain, in which case all kept intervals count and the run's
//! `intervals_client_limited` says how many measured the client.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::sampler::Sample;
use crate::record::IntervalRow;
use crate::stats;

/// Steal above this (percent of all CPU time) disturbs an interval (and a
/// slice: the same rule, [`crate::stats::STEAL_LIMIT_PCT`]).
pub const STEAL_LIMIT_PCT: f64 = stats::STEAL_LIMIT_PCT;
/// A probe time this far (relative) from the run's median disturbs an interval.
pub const PROBE_TOLERANCE: f64 = 0.10;
/// A request rate below this fraction of the median interval's is a stall.
pub const STALL_FRACTION: f64 = 0.25;
/// The load generator at this percent of its CPUs limits throughput.
pub const CLIENT_LIMIT_PCT: f64 = 90.0;

/// What the rows are built from.
pub struct Inputs<'a> {
    /// Samples at the window's start and at each interval's end.
    pub samples: &'a [Sample],
    /// Latency per interval (by intended send time), merged over workers.
    pub histograms: &'a [Histogram<u64>],
    /// Start of the measured window.
    pub measure_start: Instant,
    /// `--interval`.
    pub interval: Duration,
    /// CPUs the load generator may use.
    pub client_cpu_count: usize,
    /// The server's backend (what it counts, and how its syscalls add up).
    pub backend: Option<crate::backend::Backend>,
    /// `--steal-limit`, percent.
    pub steal_limit_pct: f64,
}

fn per(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

fn per_f(x: f64, d: u64) -> Option<f64> {
    (d > 0).then(|| x / d as f64)
}

/// One row per pair of consecutive samples, with the rule applied.
pub fn rows(inp: &Inputs<'_>) -> Vec<IntervalRow> {
    let mut rows: Vec<IntervalRow> = inp
        .samples
        .windows(2)
        .enumerate()
        .map(|(i, pair)| {
            let (a, b) = (&pair[0], &pair[1]);
            let length_s = b.at.saturating_duration_since(a.at).as_secs_f64().max(1e-9);
            let h = inp.histograms.get(i);
            let requests = h.map_or(0, Histogram::len);
            let q = |p: f64| {
                h.filter(|h| !h.is_empty())
                    .map_or(0, |h| h.value_at_quantile(p))
            };
            let server_cpu_us = a
                .server_cpu
                .zip(b.server_cpu)
                .map(|(x, y)| y.saturating_sub(x).as_secs_f64() * 1e6);
            let counters = a.server.zip(b.server);
            let syscalls = counters.and_then(|((c0, m0), (c1, m1))| {
                c1.since(&c0).syscalls(inp.backend?, &m1.since(&m0))
            });
            let counts_mux = inp.backend.is_some_and(|b| b.counted().mux);
            let machine = Some(a.cpu.machine_busy_until(&b.cpu));
            let client_cpu_pct = 100.0 * b.client_cpu_us.saturating_sub(a.client_cpu_us) as f64
                / (length_s * 1e6 * inp.client_cpu_count.max(1) as f64);
            IntervalRow {
                index: i,
                start_s: a
                    .at
                    .saturating_duration_since(inp.measure_start)
                    .as_secs_f64(),
                length_s,
                requests,
                req_per_s: requests as f64 / length_s,
                lat_p50_us: q(0.5),
                lat_p99_us: q(0.99),
                lat_max_us: h.map_or(0, Histogram::max),
                client_cpu_pct,
                steal_pct: a.cpu.steal_pct_until(&b.cpu),
                probe_us: b.probe_us,
                server_cpu_pct: server_cpu_us.map(|us| 100.0 * us / (length_s * 1e6)),
                server_cpu_us_per_req: server_cpu_us
                    .filter(|_| requests > 0)
                    .map(|us| us / requests as f64),
                server_syscalls_per_req: syscalls.and_then(|s| per(s, requests)),
                server_events_per_req: counters.filter(|_| counts_mux).and_then(
                    |((_, m0), (_, m1))| per(m1.events.saturating_sub(m0.events), requests),
                ),
                server_bytes_out: counters
                    .map(|((c0, _), (c1, _))| c1.bytes_out.saturating_sub(c0.bytes_out)),
                machine_cpu_us_per_req: machine
                    .filter(|m| m.total() > 0.0)
                    .and_then(|m| per_f(m.total(), requests)),
                machine_softirq_us_per_req: machine
                    .filter(|m| m.total() > 0.0)
                    .and_then(|m| per_f(m.softirq, requests)),
                server_core_us_per_req: a
                    .cpu
                    .core_busy_until(&b.cpu)
                    .and_then(|c| per_f(c.total(), requests)),
                client_limited: client_cpu_pct >= CLIENT_LIMIT_PCT,
                excluded: String::new(),
            }
        })
        .collect();
    apply_rule(&mut rows, inp.interval.as_secs_f64(), inp.steal_limit_pct);
    rows
}

/// Mark the disturbed intervals (see the module docs).
pub fn apply_rule(rows: &mut [IntervalRow], interval_s: f64, steal_limit_pct: f64) {
    let probe_median = stats::median(&rows.iter().map(|r| r.probe_us).collect::<Vec<_>>());
    let rate_median = stats::median(
        &rows
            .iter()
            .filter(|r| r.length_s >= 0.5 * interval_s)
            .map(|r| r.req_per_s)
            .collect::<Vec<_>>(),
    );
    for r in rows.iter_mut() {
        let mut why = Vec::new();
        if r.length_s < 0.5 * interval_s {
            why.push("short");
        }
        if r.steal_pct > steal_limit_pct {
            why.push("steal");
        }
        if probe_median.is_some_and(|m| m > 0.0 && (r.probe_us / m - 1.0).abs() > PROBE_TOLERANCE) {
            why.push("probe");
        }
        if rate_median.is_some_and(|m| r.req_per_s < STALL_FRACTION * m) {
            why.push("stall");
        }
        r.excluded = why.join(";");
    }
}

/// A run's figures over its kept intervals: median and interquartile range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Robust {
    /// Intervals in the window.
    pub intervals: usize,
    /// Left out by the rule.
    pub excluded: usize,
    /// Kept intervals with the client at its CPU limit.
    pub client_limited: usize,
    /// req/s: median, IQR.
    pub req_per_s: Option<(f64, f64)>,
    /// p99 latency, µs: median, IQR.
    pub lat_p99_us: Option<(f64, f64)>,
    /// Server CPU µs per request: median, IQR.
    pub server_cpu_us_per_req: Option<(f64, f64)>,
    /// Server syscalls per request: median, IQR.
    pub server_syscalls_per_req: Option<(f64, f64)>,
    /// Probe µs over all intervals: median, IQR.
    pub probe_us: Option<(f64, f64)>,
    /// 95 % CI of the req/s median (bootstrap over intervals, at least [`MIN_BOOTSTRAP`]).
    pub req_per_s_ci: Option<(f64, f64)>,
    /// 95 % CI of the server CPU µs/request median (likewise).
    pub server_cpu_us_per_req_ci: Option<(f64, f64)>,
}

/// Fewest kept intervals for a bootstrap interval of a run's median: below
/// that the bootstrap undercovers (see `src/stats/`).
pub const MIN_BOOTSTRAP: usize = 10;

/// Percentile bootstrap of the median, fixed seed (a run's report is repeatable).
fn median_ci(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < MIN_BOOTSTRAP {
        return None;
    }
    stats::bootstrap_median_ci(values, 2000, 0x6d75_7862).map(|ci| (ci.lo, ci.hi))
}

fn med_iqr(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let v: Vec<f64> = values.collect();
    stats::quartiles(&v).map(|q| (q.median, q.iqr()))
}

/// Median and IQR of the key figures over the kept intervals.
pub fn robust(rows: &[IntervalRow]) -> Robust {
    let kept: Vec<&IntervalRow> = rows.iter().filter(|r| r.kept()).collect();
    let unlimited: Vec<&&IntervalRow> = kept.iter().filter(|r| !r.client_limited).collect();
    let throughput: Vec<f64> = if unlimited.len() * 2 >= kept.len() && !unlimited.is_empty() {
        unlimited.iter().map(|r| r.req_per_s).collect()
    } else {
        kept.iter().map(|r| r.req_per_s).collect()
    };
    let cpu: Vec<f64> = kept
        .iter()
        .filter_map(|r| r.server_cpu_us_per_req)
        .collect();
    Robust {
        req_per_s_ci: median_ci(&throughput),
        server_cpu_us_per_req_ci: median_ci(&cpu),
        intervals: rows.len(),
        excluded: rows.len() - kept.len(),
        client_limited: kept.iter().filter(|r| r.client_limited).count(),
        req_per_s: med_iqr(throughput.iter().copied()),
        lat_p99_us: med_iqr(
            kept.iter()
                .filter(|r| r.requests > 0)
                .map(|r| r.lat_p99_us as f64),
        ),
        server_cpu_us_per_req: med_iqr(cpu.iter().copied()),
        server_syscalls_per_req: med_iqr(kept.iter().filter_map(|r| r.server_syscalls_per_req)),
        probe_us: med_iqr(rows.iter().map(|r| r.probe_us)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(requests: u64, steal: f64, probe: f64, client: f64, cpu: f64) -> IntervalRow {
        IntervalRow {
            length_s: 1.0,
            requests,
            req_per_s: requests as f64,
            steal_pct: steal,
            probe_us: probe,
            client_cpu_pct: client,
            client_limited: client >= CLIENT_LIMIT_PCT,
            server_cpu_us_per_req: Some(cpu),
            lat_p99_us: 100,
            ..IntervalRow::default()
        }
    }

    #[test]
    fn the_rule_leaves_out_steal_probe_shifts_stalls_and_short_tails() {
        let mut rows = vec![
            row(1000, 0.0, 50.0, 50.0, 5.0),
            row(1000, 9.0, 50.0, 50.0, 9.0), // steal
            row(1000, 0.0, 65.0, 50.0, 7.0), // CPU slowed: probe +30 %
            row(100, 0.0, 50.0, 50.0, 20.0), // stall
            row(1010, 0.0, 51.0, 50.0, 5.2),
            row(990, 0.0, 49.0, 50.0, 4.8),
        ];
        rows.push(IntervalRow {
            length_s: 0.2,
            req_per_s: 1000.0,
            ..row(200, 0.0, 50.0, 50.0, 6.0)
        });
        apply_rule(&mut rows, 1.0, STEAL_LIMIT_PCT);
        let why: Vec<&str> = rows.iter().map(|r| r.excluded.as_str()).collect();
        assert_eq!(why, ["", "steal", "probe", "stall", "", "", "short"]);
        let r = robust(&rows);
        assert_eq!((r.intervals, r.excluded), (7, 4));
        // Kept: 5.0, 5.2, 4.8 → median 5.0; the disturbed 9, 7, 20 do not count.
        assert_eq!(r.server_cpu_us_per_req.unwrap().0, 5.0);
        assert_eq!(r.req_per_s.unwrap().0, 1000.0);
        // Under a higher --steal-limit the 9 % interval counts.
        apply_rule(&mut rows, 1.0, 10.0);
        assert_eq!(rows[1].excluded, "");
        assert_eq!(robust(&rows).excluded, 3);
    }

    #[test]
    fn client_limited_intervals_leave_throughput_unless_too_few_remain() {
        let mut rows = vec![
            row(1000, 0.0, 50.0, 50.0, 5.0),
            row(2000, 0.0, 50.0, 95.0, 5.0),
            row(1100, 0.0, 50.0, 50.0, 5.0),
        ];
        apply_rule(&mut rows, 1.0, STEAL_LIMIT_PCT);
        let r = robust(&rows);
        assert_eq!(r.client_limited, 1);
        assert_eq!(
            r.req_per_s.unwrap().0,
            1050.0,
            "the limited interval left out"
        );
        for x in rows.iter_mut() {
            x.client_limited = true;
        }
        let r = robust(&rows);
        assert_eq!(r.client_limited, 3);
        assert_eq!(
            r.req_per_s.unwrap().0,
            1100.0,
            "all limited: all count, and it is said"
        );
    }

    #[test]
    fn a_run_with_enough_intervals_gets_an_interval_for_its_medians() {
        let mut rows: Vec<IntervalRow> = (0..12)
            .map(|i| row(1000 + i, 0.0, 50.0, 50.0, 5.0 + 0.01 * i as f64))
            .collect();
        apply_rule(&mut rows, 1.0, STEAL_LIMIT_PCT);
        let r = robust(&rows);
        let (lo, hi) = r.server_cpu_us_per_req_ci.unwrap();
        let med = r.server_cpu_us_per_req.unwrap().0;
        assert!(
            lo <= med && med <= hi && lo >= 5.0 && hi <= 5.11,
            "{lo} {med} {hi}"
        );
        assert!(r.req_per_s_ci.is_some());
        // Fewer than MIN_BOOTSTRAP intervals: no interval rather than a too-narrow one.
        let r = robust(&rows[..MIN_BOOTSTRAP - 1]);
        assert!(r.server_cpu_us_per_req_ci.is_none() && r.server_cpu_us_per_req.is_some());
    }
}
