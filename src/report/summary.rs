//! A sweep's rows grouped into scenarios and arms, and the statistics the
//! report speaks with: each figure as the geometric mean over repeats with
//! its 95 % confidence interval, and ratios between arms (or scenarios) with
//! theirs.
//!
//! Method (see `src/stats/` for why): a run's value of a figure is its
//! median over the run's kept intervals where the run has one, else the
//! whole-window figure. Over repeats: Student-t interval on the logarithms
//! (geometric mean). A ratio between two arms pairs the runs of the same
//! round (`repeat`; rows without it are numbered in the order they were
//! written) and takes the t-interval of the log ratios; without two pairs it
//! falls back to Welch's interval on the log means. A difference is
//! significant when the ratio's interval excludes 1. At 3–5 repeats a
//! percentile bootstrap would give [min, max] — about a 75 % interval, which
//! made 24 % of simulated A/A comparisons "significant"; the t-interval made 5 %.

use std::collections::BTreeMap;

use crate::record::{LoadModel, RunResult};
use crate::server::{Protocol, ReadPolicy};
use crate::stats::{self, Interval};

/// What makes two runs the same experiment, apart from the arm.
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

/// A figure of a run, as the report reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// Requests per second (median over intervals where measured).
    ReqPerS,
    /// Median latency, µs.
    P50,
    /// 99th percentile, µs (median over intervals where measured).
    P99,
    /// 99.9th percentile, µs.
    P999,
    /// Server CPU µs per request (median over intervals where measured).
    CpuPerReq,
    /// Server system calls per request.
    SyscallsPerReq,
    /// Wait calls per request.
    WaitsPerReq,
    /// Reads per request.
    ReadsPerReq,
    /// Writes per request.
    WritesPerReq,
    /// Events per wait call.
    EventsPerWait,
    /// Events per request.
    EventsPerReq,
    /// Connections refused.
    Refused,
    /// Server system calls per request, counted by the kernel (`--count-syscalls`).
    KernelSyscallsPerReq,
    /// Server context switches per request.
    CtxSwitchesPerReq,
    /// Server RSS growth per connection, KiB.
    RssPerConnKib,
    /// Every CPU's busy time per request (all processes and contexts), µs.
    MachineCpuPerReq,
    /// Of that, soft interrupts, µs.
    MachineSoftirqPerReq,
    /// The server CPU's busy time per request (every context, whoever for), µs.
    ServerCoreCpuPerReq,
    /// Of that, soft interrupts, µs.
    ServerCoreSoftirqPerReq,
}

/// The figures `--repeat auto` waits to settle.
pub const KEY_FIGURES: [Figure; 2] = [Figure::CpuPerReq, Figure::ReqPerS];

impl Figure {
    /// The run's value (`None`: not measured).
    pub fn value(self, r: &RunResult) -> Option<f64> {
        match self {
            Figure::ReqPerS => Some(r.req_per_s_med.unwrap_or(r.req_per_s)),
            Figure::P50 => Some(r.lat_p50_us as f64),
            Figure::P99 => Some(r.lat_p99_med_us.unwrap_or(r.lat_p99_us as f64)),
            Figure::P999 => Some(r.lat_p999_us as f64),
            Figure::CpuPerReq => r.server_cpu_us_per_req_med.or(r.server_cpu_us_per_req),
            Figure::SyscallsPerReq => r.server_syscalls_per_req,
            Figure::WaitsPerReq => r.server_waits_per_req,
            Figure::ReadsPerReq => r.server_reads_per_req,
            Figure::WritesPerReq => r.server_writes_per_req,
            Figure::EventsPerWait => r.server_events_per_wait,
            Figure::EventsPerReq => r.server_events_per_req,
            Figure::Refused => r.server_refused.map(|v| v as f64),
            Figure::KernelSyscallsPerReq => r.server_syscalls_kernel_per_req,
            Figure::CtxSwitchesPerReq => r.server_ctx_switches_per_req,
            Figure::RssPerConnKib => r.server_rss_per_conn_kib,
            Figure::MachineCpuPerReq => r.machine_cpu_us_per_req,
            Figure::MachineSoftirqPerReq => r.machine_softirq_us_per_req,
            Figure::ServerCoreCpuPerReq => r.server_core_us_per_req,
            Figure::ServerCoreSoftirqPerReq => r.server_core_softirq_us_per_req,
        }
    }

    /// Its name in findings.
    pub fn label(self) -> &'static str {
        match self {
            Figure::ReqPerS => "throughput (req/s)",
            Figure::P50 => "median latency",
            Figure::P99 => "p99 latency",
            Figure::P999 => "p99.9 latency",
            Figure::CpuPerReq => "server CPU µs per request",
            Figure::SyscallsPerReq => "syscalls per request",
            Figure::WaitsPerReq => "wait calls per request",
            Figure::ReadsPerReq => "reads per request",
            Figure::WritesPerReq => "writes per request",
            Figure::EventsPerWait => "events per wait",
            Figure::EventsPerReq => "events (wake-ups) per request",
            Figure::Refused => "refused connections",
            Figure::KernelSyscallsPerReq => "kernel-counted syscalls per request",
            Figure::CtxSwitchesPerReq => "context switches per request",
            Figure::RssPerConnKib => "RSS per connection",
            Figure::MachineCpuPerReq => "machine CPU µs per request",
            Figure::MachineSoftirqPerReq => "machine softirq µs per request",
            Figure::ServerCoreCpuPerReq => "server CPU's busy µs per request",
            Figure::ServerCoreSoftirqPerReq => "server CPU's softirq µs per request",
        }
    }
}

/// A figure over repeats: the geometric mean with its 95 % CI, or — with
/// zeros among the values, or one run — the median without an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The central value.
    pub value: f64,
    /// The 95 % CI (`None`: one run, or values that are not all positive).
    pub ci: Option<(f64, f64)>,
    /// Runs.
    pub n: usize,
}

impl Estimate {
    /// `None` when there are no finite values.
    pub fn of(values: &[f64]) -> Option<Estimate> {
        let finite: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if let Some(ci) = stats::geomean_ci(&finite) {
            return Some(Estimate {
                value: ci.estimate,
                ci: Some((ci.lo, ci.hi)),
                n: ci.n,
            });
        }
        stats::median(&finite).map(|m| Estimate {
            value: m,
            ci: None,
            n: finite.len(),
        })
    }
}

/// One arm's runs of one scenario.
#[derive(Debug, Clone)]
pub struct ArmSummary {
    /// The arm's label (the backend, or `backend#k`).
    pub arm: String,
    /// Its runs, in the order written, each with its round number.
    pub runs: Vec<(usize, RunResult)>,
    /// Runs the load generator flagged (client saturated, steal, errors, refusals, left-out intervals).
    pub flagged: usize,
    /// Intervals left out by the interval rule, over all runs.
    pub intervals_excluded: usize,
    /// Intervals, over all runs.
    pub intervals: usize,
}

impl ArmSummary {
    /// The figure over this arm's repeats.
    pub fn estimate(&self, f: Figure) -> Option<Estimate> {
        let values: Vec<f64> = self.runs.iter().filter_map(|(_, r)| f.value(r)).collect();
        Estimate::of(&values)
    }

    /// Runs.
    pub fn n(&self) -> usize {
        self.runs.len()
    }

    fn by_round(&self, f: Figure) -> BTreeMap<usize, f64> {
        self.runs
            .iter()
            .filter_map(|(k, r)| f.value(r).map(|v| (*k, v)))
            .collect()
    }
}

/// How a ratio's interval was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatioMethod {
    /// Runs of the same round paired; t-interval on log ratios.
    Paired,
    /// Unpaired; Welch's t-interval on log means.
    Welch,
}

/// `b / a` of figure `f` with its 95 % CI: paired by round when at least two
/// rounds have both, else Welch. `None` without two usable runs a side.
pub fn ratio(a: &ArmSummary, b: &ArmSummary, f: Figure) -> Option<(Interval, RatioMethod)> {
    let (ra, rb) = (a.by_round(f), b.by_round(f));
    let pairs: Vec<(f64, f64)> = ra
        .iter()
        .filter_map(|(k, x)| rb.get(k).map(|y| (*x, *y)))
        .collect();
    if let Some(ci) = stats::paired_ratio_ci(&pairs) {
        return Some((ci, RatioMethod::Paired));
    }
    let xa: Vec<f64> = ra.values().copied().collect();
    let xb: Vec<f64> = rb.values().copied().collect();
    stats::welch_ratio_ci(&xa, &xb).map(|ci| (ci, RatioMethod::Welch))
}

fn summarize_arm(arm: &str, rows: &[&RunResult]) -> ArmSummary {
    ArmSummary {
        arm: arm.to_string(),
        runs: rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.repeat.unwrap_or(i + 1), (*r).clone()))
            .collect(),
        flagged: rows.iter().filter(|r| !r.warnings.is_empty()).count(),
        intervals_excluded: rows.iter().map(|r| r.intervals_excluded).sum(),
        intervals: rows.iter().map(|r| r.intervals).sum(),
    }
}

/// Arms in report order: by backend as in `Backend::ALL`, then by label.
fn arm_order(label: &str) -> (usize, String) {
    let backend = label.split('#').next().unwrap_or(label);
    let pos = crate::backend::Backend::ALL
        .iter()
        .position(|b| b.name() == backend)
        .unwrap_or(usize::MAX);
    (pos, label.to_string())
}

/// Group rows by scenario (in first-seen order), then by arm.
pub fn summarize(rows: &[RunResult]) -> Vec<(ScenarioKey, Vec<ArmSummary>)> {
    type ByArm<'a> = BTreeMap<(usize, String), Vec<&'a RunResult>>;
    let mut scenarios: Vec<(ScenarioKey, ByArm)> = Vec::new();
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
            .entry(arm_order(r.arm_label()))
            .or_default()
            .push(r);
    }
    scenarios
        .into_iter()
        .map(|(k, by_arm)| {
            let list = by_arm
                .into_iter()
                .map(|((_, name), rows)| summarize_arm(&name, &rows))
                .collect();
            (k, list)
        })
        .collect()
}
