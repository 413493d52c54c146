//! A sweep's rows grouped into scenarios and summarised per backend over
//! repeats (median, min, max): what the Markdown report and its findings read.

use std::collections::BTreeMap;

use crate::record::{LoadModel, RunResult};
use crate::server::{Protocol, ReadPolicy};

/// What makes two runs the same experiment, apart from the backend.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub struct ScenarioKey {
    /// Protocol driven.
    pub workload: Protocol,
    /// `closed` or `open`.
    pub load_model: LoadModel,
    /// Active connections.
    pub conns: usize,
    /// Idle connections.
    pub idle: usize,
    /// Message size.
    pub msg_size: usize,
    /// Server read size.
    pub read_buf: usize,
    /// Server read policy.
    pub read_policy: ReadPolicy,
    /// Messages in flight per connection.
    pub pipeline: usize,
    /// Open-loop target rate.
    pub target_rate: Option<f64>,
}

impl ScenarioKey {
    fn of(r: &RunResult) -> ScenarioKey {
        ScenarioKey {
            workload: r.workload,
            load_model: r.load_model,
            conns: r.conns,
            idle: r.idle,
            msg_size: r.msg_size,
            read_buf: r.read_buf,
            read_policy: r.read_policy,
            pipeline: r.pipeline,
            target_rate: r.target_rate,
        }
    }

    /// A one-line title.
    pub fn title(&self) -> String {
        let model = match self.target_rate {
            Some(r) => format!("open loop {r:.0} msg/s"),
            None => format!("closed loop ×{}", self.pipeline),
        };
        format!(
            "{} · {} active + {} idle · {} B · read buffer {} ({}) · {model}",
            self.workload, self.conns, self.idle, self.msg_size, self.read_buf, self.read_policy
        )
    }
}

/// Median, minimum and maximum of some repeats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Stat {
    /// `None` when there are no (finite) values.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Stat> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// One backend's repeats of one scenario.
#[derive(Debug, Clone)]
pub struct BackendSummary {
    /// Backend name.
    pub backend: String,
    /// Runs.
    pub runs: usize,
    /// Runs the load generator flagged (warnings: client saturated, steal, errors, refusals).
    pub flagged: usize,
    /// Runs with counted errors.
    pub with_errors: usize,
    /// req/s.
    pub req_per_s: Option<Stat>,
    /// Median latency, µs.
    pub p50: Option<Stat>,
    /// 99th percentile, µs.
    pub p99: Option<Stat>,
    /// 99.9th percentile, µs.
    pub p999: Option<Stat>,
    /// Server CPU µs per request.
    pub cpu_us_per_req: Option<Stat>,
    /// Server system calls per request (io_uring: `io_uring_enter` calls).
    pub syscalls_per_req: Option<Stat>,
    /// Server wait calls per request.
    pub waits_per_req: Option<Stat>,
    /// Server reads per request.
    pub reads_per_req: Option<Stat>,
    /// Server writes per request.
    pub writes_per_req: Option<Stat>,
    /// Events per wait call.
    pub events_per_wait: Option<Stat>,
    /// Events per request.
    pub events_per_req: Option<Stat>,
    /// Connections the server refused.
    pub refused: Option<Stat>,
}

fn summarize_backend(backend: &str, rows: &[&RunResult]) -> BackendSummary {
    let st = |f: &dyn Fn(&RunResult) -> Option<f64>| Stat::of(rows.iter().filter_map(|r| f(r)));
    BackendSummary {
        backend: backend.to_string(),
        runs: rows.len(),
        flagged: rows.iter().filter(|r| !r.warnings.is_empty()).count(),
        with_errors: rows.iter().filter(|r| r.errors > 0).count(),
        req_per_s: st(&|r| Some(r.req_per_s)),
        p50: st(&|r| Some(r.lat_p50_us as f64)),
        p99: st(&|r| Some(r.lat_p99_us as f64)),
        p999: st(&|r| Some(r.lat_p999_us as f64)),
        cpu_us_per_req: st(&|r| r.server_cpu_us_per_req),
        syscalls_per_req: st(&|r| r.server_syscalls_per_req),
        waits_per_req: st(&|r| r.server_waits_per_req),
        reads_per_req: st(&|r| r.server_reads_per_req),
        writes_per_req: st(&|r| r.server_writes_per_req),
        events_per_wait: st(&|r| r.server_events_per_wait),
        events_per_req: st(&|r| r.server_events_per_req),
        refused: st(&|r| r.server_refused.map(|v| v as f64)),
    }
}

/// Backends in report order: the known ones first, others after, by name.
fn backend_order(name: &str) -> (usize, String) {
    let pos = crate::mux::Backend::ALL
        .iter()
        .position(|b| b.name() == name)
        .unwrap_or(usize::MAX);
    (pos, name.to_string())
}

/// Group rows by scenario (in first-seen order), then by backend.
pub fn summarize(rows: &[RunResult]) -> Vec<(ScenarioKey, Vec<BackendSummary>)> {
    type ByBackend<'a> = BTreeMap<(usize, String), Vec<&'a RunResult>>;
    let mut scenarios: Vec<(ScenarioKey, ByBackend)> = Vec::new();
    for r in rows {
        let key = ScenarioKey::of(r);
        let idx = match scenarios.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                scenarios.push((key, BTreeMap::new()));
                scenarios.len() - 1
            }
        };
        scenarios[idx]
            .1
            .entry(backend_order(&r.backend))
            .or_default()
            .push(r);
    }
    scenarios
        .into_iter()
        .map(|(k, by_backend)| {
            let list = by_backend
                .into_iter()
                .map(|((_, name), rows)| summarize_backend(&name, &rows))
                .collect();
            (k, list)
        })
        .collect()
}
